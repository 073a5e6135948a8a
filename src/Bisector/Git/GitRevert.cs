namespace Bisector.Git;

/// <summary>What <c>git revert --no-commit</c> did in a worktree: clean, or the files it left in conflict (never
/// resolved for the user: a revert that does not apply is reported, not guessed at).</summary>
/// <param name="Command">The git command line as run, for the report.</param>
/// <param name="Conflicts">Paths git left unmerged; empty when the revert applied cleanly.</param>
/// <param name="Message">git's own words when the revert did not apply (the tail of its stderr); null when clean.</param>
public sealed record RevertApplication(string Command, IReadOnlyList<string> Conflicts, string? Message)
{
    public bool Clean => Message is null;
}

/// <summary>Reverts one commit in a worktree with the git CLI, as a user would check a bisection result by hand.</summary>
public static class GitRevert
{
    // git's empty tree: the "parent" of a root commit.
    private const string EmptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    /// <summary>The command <see cref="ApplyAsync"/> runs, as the report and the build log show it.</summary>
    public static string CommandLine(Commit commit) => "git revert --no-commit " + (commit.Parents.Count > 1 ? "-m 1 " : "") + commit.Sha;

    /// <summary>
    /// Runs <c>git revert --no-commit</c> of <paramref name="commit"/> in <paramref name="worktreeDir"/>. A merge commit
    /// is reverted against its first parent (<c>-m 1</c>), the side the search compared it with. Nothing is committed,
    /// so the user's repository gains no object and no ref; a conflict is returned with its files, not thrown.
    /// </summary>
    public static async Task<RevertApplication> ApplyAsync(string worktreeDir, Commit commit, CancellationToken ct = default)
    {
        // --no-commit needs no identity, but a git that asks for one anyway must not read the user's configuration.
        string[] args = ["-c", "user.name=bisector", "-c", "user.email=bisector@localhost", "revert", "--no-commit", "--no-edit",
            .. commit.Parents.Count > 1 ? ["-m", "1"] : Array.Empty<string>(), commit.Sha];
        var command = CommandLine(commit);
        var result = await GitCli.TryRunAsync(worktreeDir, args, ct);
        if (result.ExitCode == 0)
            return new RevertApplication(command, [], null);
        if (result.StandardError.Contains("invalid object", StringComparison.Ordinal))
        {
            // git revert writes a whole index and checks every blob in it; a clone that lacks some (a partial clone, a
            // snapshot without a large file checked out sparsely — systemd-stable's hwdb.d/ma-large.txt) fails before
            // touching anything, though the commit's own files are all there. The same reverse change, 3-way like revert,
            // reads only those files.
            var parent = commit.Parents.Count > 0 ? commit.Parents[0] : EmptyTree;
            command = $"git diff --binary {parent} {commit.Sha} | git apply -R --3way";
            result = await GitCli.TryPipeAsync(worktreeDir, ["diff", "--binary", parent, commit.Sha], ["apply", "-R", "--3way"], ct);
            if (result.ExitCode == 0)
                return new RevertApplication(command, [], null);
        }

        var unmerged = await GitCli.TryRunAsync(worktreeDir, ["diff", "--name-only", "--diff-filter=U", "-z"], ct);
        var conflicts = unmerged.ExitCode == 0
            ? unmerged.StandardOutput.Split('\0', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList()
            : [];
        // git's hints say how to resolve the conflict by hand; the report needs its own words only.
        var message = string.Join(Environment.NewLine, GitCli.StderrTail(result, 10).Split(Environment.NewLine)
            .Where(l => !l.StartsWith("hint:", StringComparison.Ordinal)).TakeLast(3));
        return new RevertApplication(command, conflicts, message.Length == 0 ? $"git exited with code {result.ExitCode}" : message);
    }
}
