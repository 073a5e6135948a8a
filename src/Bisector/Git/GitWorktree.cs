namespace Bisector.Git;

/// <summary>
/// Detached worktrees for the build stage: one checkout per build slot, moved from commit to commit so incremental
/// builds reuse their object files. These call the git CLI, as commit selection does.
/// </summary>
public static class GitWorktree
{
    /// <summary>Creates <paramref name="worktreeDir"/> as a detached worktree of <paramref name="repoPath"/> at <paramref name="sha"/>.</summary>
    public static async Task AddDetachedAsync(string repoPath, string worktreeDir, string sha, CancellationToken ct = default) =>
        await AddDetachedAsync(repoPath, worktreeDir, sha, [], ct);

    /// <summary>Adds a detached worktree at <paramref name="sha"/>; paths in <paramref name="sparseExclude"/> are never
    /// checked out (a non-cone sparse checkout of everything else), so objects a partial clone lacks are not needed.</summary>
    public static async Task AddDetachedAsync(string repoPath, string worktreeDir, string sha, IReadOnlyList<string> sparseExclude, CancellationToken ct = default)
    {
        if (Directory.Exists(worktreeDir) && Directory.EnumerateFileSystemEntries(worktreeDir).Any())
            throw new GitSelectionException($"worktree directory '{worktreeDir}' already exists and is not empty",
                "Fix: remove it (or choose another --work-dir) so a clean checkout can be made");
        // A directory deleted by hand leaves a stale registration of this path; 'add --force' reuses it. A global
        // 'git worktree prune' would also drop the user's own stale entries, and the user's repository is not ours.
        if (sparseExclude.Count == 0)
        {
            await GitCli.RunAsync(repoPath, ["worktree", "add", "--detach", "--force", worktreeDir, sha], ct);
            return;
        }

        await GitCli.RunAsync(repoPath, ["worktree", "add", "--detach", "--force", "--no-checkout", worktreeDir, sha], ct);
        // Patterns are argv, never shell text; a leading '/' anchors each at the root, '!' excludes it.
        await GitCli.RunAsync(worktreeDir, ["sparse-checkout", "set", "--no-cone", "/*", .. sparseExclude.Select(p => "!/" + p.TrimStart('/'))], ct);
        await GitCli.RunAsync(worktreeDir, ["checkout", "--quiet", "--detach", "--force", sha], ct);
    }

    /// <summary>Moves an existing worktree to <paramref name="sha"/>, keeping untracked build output in place.</summary>
    public static async Task CheckoutAsync(string worktreeDir, string sha, CancellationToken ct = default)
    {
        // --force discards edits a build made to tracked files (generated sources), which would otherwise block the switch.
        await GitCli.RunAsync(worktreeDir, ["checkout", "--quiet", "--detach", "--force", sha], ct);
    }

    /// <summary>Removes the worktree directory and its registration in <paramref name="repoPath"/> — only this one
    /// entry, also when its directory is already gone (git 2.17+ removes a missing worktree's registration).</summary>
    public static async Task RemoveAsync(string repoPath, string worktreeDir, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(worktreeDir);
        if ((await ListAsync(repoPath, ct)).Contains(full))
            await GitCli.RunAsync(repoPath, ["worktree", "remove", "--force", "--force", full], ct);
        else if (Directory.Exists(full))
            Directory.Delete(full, recursive: true);
    }

    /// <summary>Removes every worktree of <paramref name="repoPath"/> under <paramref name="root"/> (a run's own
    /// folder), registration included, and leaves every other entry as it is. Returns the removed paths and, per
    /// worktree that could not be removed, why.</summary>
    public static async Task<(IReadOnlyList<string> Removed, IReadOnlyList<string> Problems)> RemoveAllUnderAsync(
        string repoPath, string root, CancellationToken ct = default)
    {
        var removed = new List<string>();
        var problems = new List<string>();
        if (!Directory.Exists(repoPath))
            return (removed, problems);
        var prefix = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) + "/";
        foreach (var tree in (await ListAsync(repoPath, ct)).Where(t => t.StartsWith(prefix, StringComparison.Ordinal)))
        {
            try
            {
                await GitCli.RunAsync(repoPath, ["worktree", "remove", "--force", "--force", tree], ct);
                removed.Add(tree);
            }
            catch (ProcessFailedException e)
            {
                problems.Add($"worktree {tree}: {e.StderrTail}");
            }
        }

        return (removed, problems);
    }

    /// <summary>The paths of every worktree registered in <paramref name="repoPath"/> (the main one first); empty when
    /// it is not a repository.</summary>
    public static async Task<IReadOnlyList<string>> ListAsync(string repoPath, CancellationToken ct = default)
    {
        var result = await GitCli.TryRunAsync(repoPath, ["worktree", "list", "--porcelain", "-z"], ct);

        // -z: NUL-terminated fields, so a worktree path with a newline in it is still one path.
        return result.ExitCode != 0
            ? []
            : [.. result.StandardOutput.Split('\0').Where(f => f.StartsWith("worktree ", StringComparison.Ordinal)).Select(f => f["worktree ".Length..])];
    }

    /// <summary>The commit a worktree has checked out.</summary>
    public static async Task<string> HeadAsync(string worktreeDir, CancellationToken ct = default) =>
        (await GitCli.RunAsync(worktreeDir, ["rev-parse", "HEAD"], ct)).Trim();
}
