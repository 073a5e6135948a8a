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
        // A directory deleted by hand leaves a stale registration that blocks re-adding the same path.
        await GitCli.RunAsync(repoPath, ["worktree", "prune"], ct);
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

    /// <summary>Removes the worktree directory and its registration in <paramref name="repoPath"/>.</summary>
    public static async Task RemoveAsync(string repoPath, string worktreeDir, CancellationToken ct = default)
    {
        if (Directory.Exists(worktreeDir))
            await GitCli.RunAsync(repoPath, ["worktree", "remove", "--force", "--force", worktreeDir], ct);
        await GitCli.RunAsync(repoPath, ["worktree", "prune"], ct);
    }

    /// <summary>The commit a worktree has checked out.</summary>
    public static async Task<string> HeadAsync(string worktreeDir, CancellationToken ct = default) =>
        (await GitCli.RunAsync(worktreeDir, ["rev-parse", "HEAD"], ct)).Trim();
}
