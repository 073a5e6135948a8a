using System.Globalization;
using LibGit2Sharp;

namespace Bisector.Git;

/// <summary>History options that change which commits <c>git log</c> lists.</summary>
public sealed record SelectionOptions(bool FirstParent = false, bool NoMerges = false)
{
    public static SelectionOptions Default { get; } = new();

    internal IEnumerable<string> Flags =>
        [.. FirstParent ? ["--first-parent"] : Array.Empty<string>(), .. NoMerges ? ["--no-merges"] : Array.Empty<string>()];
}

/// <summary>
/// Selects the candidate commits of a bisection: exactly what <c>git log A..B -- paths</c> lists (the definition users
/// compare with, so git itself lists them: <c>git rev-list</c>, which no user configuration changes), oldest first.
/// </summary>
public static class CommitSelector
{
    public static async Task<CommitSelection> SelectAsync(
        string repositoryPath, string range, IReadOnlyList<string> paths, SelectionOptions? options = null,
        CancellationToken ct = default)
    {
        options ??= SelectionOptions.Default;
        var top = await TopLevelAsync(repositoryPath, ct);
        var (good, bad) = await ParseRangeAsync(top, range, ct);
        if (good == bad)
            throw new GitSelectionException(
                $"range '{range}': good and bad are the same commit {good[..10]}, so there is nothing to bisect",
                "Fix: give an older known-good revision as A in A..B");
        var mergeBaseRun = await GitCli.TryRunAsync(top, ["merge-base", good, bad], ct);
        var mergeBase = mergeBaseRun.ExitCode == 0 ? mergeBaseRun.StandardOutput.Trim() : null;
        if (mergeBase != good)
        {
            var swapped = mergeBase == bad;
            throw new GitSelectionException(
                swapped
                    ? $"range '{range}': the good end {good[..10]} is newer than the bad end {bad[..10]} (bad is an ancestor of good)"
                    : $"range '{range}': the good end {good[..10]} is not an ancestor of the bad end {bad[..10]}",
                swapped
                    ? "Fix: swap them and write GOOD..BAD with the older, known-good revision first"
                    : mergeBase is null
                        ? "Fix: choose a good revision from the history of the bad one"
                        : $"Fix: use their merge base as the good end: {mergeBase[..10]}..{RangeRight(range)}");
        }

        string[] tips = [bad, "^" + good];
        // Every commit of the range with its parents (no pathspec, so git rewrites none), in git's order; merges stay
        // in so that ancestry through them orders the candidates even with --no-merges.
        var graph = (await RevListAsync(top, range, paths,
                ["--parents", .. options.FirstParent ? ["--first-parent"] : Array.Empty<string>(), .. tips], [], ct))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .ToArray();
        var inRange = graph.Count(g => !options.NoMerges || g.Length <= 2);
        var position = TopologicalPositions(graph);
        var selected = (await ListAsync(top, range, paths, [.. options.Flags, .. tips], paths, ct))
            .OrderBy(c => position[c.Sha])
            .ToArray();
        if (selected.Length == 0)
            throw new GitSelectionException(
                paths.Count == 0
                    ? $"range '{range}' holds no commits with the chosen options"
                    : $"--paths: {string.Join(' ', paths.Select(p => $"'{p}'"))} matched no commit in '{range}' " +
                      $"({inRange.ToString(CultureInfo.InvariantCulture)} commits in the range){UnclosedBracketNote(paths)}",
                paths.Count == 0
                    ? "Fix: drop --no-merges or --first-parent, or widen the range"
                    : "Fix: check the paths are relative to the repository root (try `git log --oneline " +
                      $"{range} -- <paths>`), or widen the range");

        var ends = await ListAsync(top, range, paths, ["--no-walk=unsorted", good, bad], [], ct);
        return new CommitSelection(range, paths.ToArray(), ends[0], ends[1], Enumerable.Reverse(selected).ToArray(),
            inRange, options.FirstParent, options.NoMerges);
    }

    /// <summary>
    /// The SHAs <c>git log --format=%H [options] revisions -- paths</c> lists, newest first. Unlike
    /// <see cref="SelectAsync"/> it accepts any revision list, e.g. a single tip for a whole history.
    /// </summary>
    public static async Task<IReadOnlyList<string>> LogAsync(
        string repositoryPath, string revisions, IReadOnlyList<string> paths, SelectionOptions? options = null,
        CancellationToken ct = default)
    {
        options ??= SelectionOptions.Default;
        var top = await TopLevelAsync(repositoryPath, ct);
        var tokens = revisions.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var output = await RevListAsync(top, revisions, paths, [.. options.Flags, "--end-of-options", .. tokens], paths, ct);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Lines for a dry run: which commits will be tested, in which order, and why the others are not.</summary>
    /// <param name="oldTerm">The run's word for the old end (git bisect's --term-old).</param>
    /// <param name="newTerm">The run's word for the new end (--term-new).</param>
    public static IReadOnlyList<string> DescribeDryRun(CommitSelection selection, string oldTerm = "good", string newTerm = "bad")
    {
        static string Ci(int n) => n.ToString(CultureInfo.InvariantCulture);
        static string Line(Commit c) =>
            $"{c.ShortSha} {c.AuthoredAt.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} {c.Subject}";

        var n = selection.Candidates.Count;
        var filtered = selection.CommitsInRange - n;
        var lines = new List<string>
        {
            $"Range {selection.RangeSpec}: {oldTerm.PadRight(Math.Max(oldTerm.Length, newTerm.Length))} {Line(selection.Good)}",
            $"{new string(' ', selection.RangeSpec.Length + 8)}{newTerm.PadRight(Math.Max(oldTerm.Length, newTerm.Length))} {Line(selection.Bad)}",
        };
        var walk = (selection.FirstParent, selection.NoMerges) switch
        {
            (true, true) => " (first-parent chain only, merges skipped)",
            (true, false) => " (first-parent chain only)",
            (false, true) => " (merges skipped)",
            _ => "",
        };
        if (selection.Paths.Count == 0)
            lines.Add($"{Ci(selection.CommitsInRange)} commits in range{walk}; no --paths, so every one is a candidate.");
        else
        {
            lines.Add($"{Ci(selection.CommitsInRange)} commits in range{walk}; {Ci(n)} change " +
                      $"{string.Join(" ", selection.Paths)} and will be tested; {Ci(filtered)} filtered out.");
            lines.Add("A commit is a candidate when it changes a matching path relative to its parent; merges that " +
                      "take the paths unchanged from one parent are skipped, as `git log -- <paths>` does.");
        }
        lines.Add($"Oldest candidate: {Line(selection.Candidates[0])}");
        lines.Add($"Newest candidate: {Line(selection.Candidates[^1])}");
        lines.Add($"Candidates, oldest first ({Ci(n)}):");
        var width = Ci(n).Length;
        for (var i = 0; i < n; i++)
            lines.Add($"  {Ci(i + 1).PadLeft(width)}. {Line(selection.Candidates[i])}");
        return lines;
    }

    /// <summary>The directory git resolves pathspecs against: the work tree's root, or the repository of a bare one.</summary>
    private static async Task<string> TopLevelAsync(string repositoryPath, CancellationToken ct)
    {
        if (!Directory.Exists(repositoryPath))
            throw new GitSelectionException($"--repo: '{repositoryPath}' is not a directory",
                "Fix: point --repo at a clone (or bare repository) of the project");
        var result = await GitCli.TryRunAsync(repositoryPath, ["rev-parse", "--is-bare-repository", "--show-cdup"], ct);
        if (result.ExitCode != 0)
            throw new GitSelectionException(
                $"--repo: '{repositoryPath}' is not inside a git repository ({GitCli.StderrTail(result, 1)})",
                "Fix: point --repo at a clone (or bare repository) of the project");
        var lines = result.StandardOutput.Split('\n');
        return lines[0].Trim() == "true" || lines.Length < 2
            ? repositoryPath
            : Path.GetFullPath(Path.Combine(repositoryPath, lines[1].Trim()));
    }

    /// <summary>
    /// Commits as <c>git rev-list</c> lists them (newest first). git decides which commits (the pathspec and history
    /// simplification are its definition); LibGit2Sharp then reads each listed commit in-process as a typed object, so
    /// no subject, author or date is parsed back out of formatted text.
    /// </summary>
    private static async Task<IReadOnlyList<Commit>> ListAsync(string top, string range, IReadOnlyList<string> userPaths,
        IEnumerable<string> revisions, IReadOnlyList<string> paths, CancellationToken ct)
    {
        var output = await RevListAsync(top, range, userPaths, revisions, paths, ct);
        var shas = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var repo = new LibGit2Sharp.Repository(top);
        return shas.Select(sha => ToCommit(repo.Lookup<LibGit2Sharp.Commit>(sha)
                ?? throw new GitSelectionException($"range '{range}': git listed {sha[..10]}, which the repository cannot read",
                    $"Fix: check the repository with `git fsck` in {top}")))
            .ToArray();
    }

    internal static Commit ToCommit(LibGit2Sharp.Commit c) =>
        new(c.Sha, c.MessageShort, c.Author.Name, c.Author.When, c.Parents.Select(p => p.Sha).ToArray());

    /// <summary><c>git rev-list args -- paths</c>; a failure names --paths when git blames the pathspec, else the range.</summary>
    private static async Task<string> RevListAsync(string top, string range, IReadOnlyList<string> userPaths,
        IEnumerable<string> args, IReadOnlyList<string> paths, CancellationToken ct)
    {
        var result = await GitCli.TryRunAsync(top, ["rev-list", .. args, "--", .. paths], ct);
        if (result.ExitCode == 0)
            return result.StandardOutput;
        var why = GitCli.StderrTail(result, 3);
        throw why.Contains("pathspec", StringComparison.OrdinalIgnoreCase) || why.Contains("outside repository", StringComparison.Ordinal)
            ? new GitSelectionException(
                $"--paths: {string.Join(' ', userPaths.Select(p => $"'{p}'"))} is not a valid pathspec: {why}",
                "Fix: write paths relative to the repository root, with git's pathspec magic, e.g. 'src/*' or ':(exclude)docs'")
            : new GitSelectionException($"range '{range}': git rev-list failed: {why}",
                $"Fix: check `git log --oneline {range}` works in {top}");
    }

    /// <summary>
    /// Positions in an order where every commit comes before its ancestors. git's default order is by commit date, which
    /// a contributor's wrong clock can break, and bisection needs ancestors first; a Kahn sort that always takes the
    /// earliest-listed ready commit leaves git's order untouched wherever it is already valid.
    /// </summary>
    private static Dictionary<string, int> TopologicalPositions(IReadOnlyList<string[]> graph)
    {
        var listed = new Dictionary<string, int>(graph.Count);
        for (var i = 0; i < graph.Count; i++) listed[graph[i][0]] = i;
        var children = new int[graph.Count];
        foreach (var line in graph)
            foreach (var parent in line.Skip(1))
                if (listed.TryGetValue(parent, out var pi)) children[pi]++;

        var ready = new PriorityQueue<int, int>();
        for (var i = 0; i < graph.Count; i++)
            if (children[i] == 0) ready.Enqueue(i, i);
        var position = new Dictionary<string, int>(graph.Count);
        while (ready.TryDequeue(out var i, out _))
        {
            position[graph[i][0]] = position.Count;
            foreach (var parent in graph[i].Skip(1))
                if (listed.TryGetValue(parent, out var pi) && --children[pi] == 0)
                    ready.Enqueue(pi, pi);
        }
        return position;
    }

    // git matches a pattern with an unclosed '[' only literally, so say so when it matched nothing.
    private static string UnclosedBracketNote(IReadOnlyList<string> paths)
    {
        var unclosed = paths.Where(p => p.LastIndexOf('[') > p.LastIndexOf(']')).ToArray();
        return unclosed.Length == 0
            ? ""
            : $"; {string.Join(' ', unclosed.Select(p => $"'{p}'"))} has an unclosed '[', so git matches it only as a literal name";
    }

    private static string RangeRight(string range)
    {
        var i = range.IndexOf("..", StringComparison.Ordinal);
        return i < 0 ? range : range[(i + 2)..];
    }

    /// <summary>A range written as A..B or "B ^A" (an empty side means HEAD, as in git) resolved to (good, bad) commit ids.</summary>
    private static async Task<(string Good, string Bad)> ParseRangeAsync(string top, string range, CancellationToken ct)
    {
        var text = range.Trim();
        if (text.Length == 0)
            throw new GitSelectionException("the range is empty", "Fix: write GOOD..BAD, e.g. v247..v248");
        if (text.Contains("...", StringComparison.Ordinal))
            throw new GitSelectionException(
                $"range '{range}': the symmetric difference A...B is not supported (it has no single good end)",
                $"Fix: use A..B with the known-good revision first, e.g. {text.Replace("...", "..", StringComparison.Ordinal)}");

        var negative = new List<string>();
        var positive = new List<string>();
        foreach (var token in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var dots = token.IndexOf("..", StringComparison.Ordinal);
            if (dots >= 0)
            {
                var left = token[..dots];
                var right = token[(dots + 2)..];
                if (right.Contains("..", StringComparison.Ordinal))
                    throw new GitSelectionException($"range '{range}' has more than one '..'",
                        "Fix: write GOOD..BAD, e.g. v247..v248");
                negative.Add(left.Length == 0 ? "HEAD" : left);
                positive.Add(right.Length == 0 ? "HEAD" : right);
            }
            else if (token.StartsWith('^'))
                negative.Add(token[1..]);
            else
                positive.Add(token);
        }
        if (negative.Count != 1 || positive.Count != 1)
            throw new GitSelectionException(
                $"range '{range}' must name exactly one good and one bad revision " +
                $"(found {negative.Count.ToString(CultureInfo.InvariantCulture)} good, " +
                $"{positive.Count.ToString(CultureInfo.InvariantCulture)} bad)",
                "Fix: write GOOD..BAD (or 'BAD ^GOOD'), e.g. v247..v248");
        return (await ResolveAsync(top, negative[0], range, ct), await ResolveAsync(top, positive[0], range, ct));
    }

    private static async Task<string> ResolveAsync(string top, string spec, string range, CancellationToken ct)
    {
        var commit = await GitCli.TryRunAsync(top, ["rev-parse", "--verify", "--quiet", "--end-of-options", spec + "^{commit}"], ct);
        if (commit.ExitCode == 0)
            return commit.StandardOutput.Trim();
        var any = await GitCli.TryRunAsync(top, ["rev-parse", "--verify", "--end-of-options", spec], ct);
        if (any.ExitCode == 0)
        {
            var type = await GitCli.TryRunAsync(top, ["cat-file", "-t", any.StandardOutput.Trim()], ct);
            throw new GitSelectionException($"range '{range}': '{spec}' names a {type.StandardOutput.Trim()}, not a commit",
                "Fix: name a commit, branch or tag");
        }
        if (any.StandardError.Contains("ambiguous", StringComparison.Ordinal))
            throw new GitSelectionException($"range '{range}': '{spec}' is an ambiguous abbreviated commit id",
                "Fix: give more hex digits of the commit id");
        throw new GitSelectionException($"range '{range}': unknown revision '{spec}' in {top}",
            "Fix: check the spelling with `git rev-parse " + spec + "`, and fetch tags if it is a tag (git fetch --tags)");
    }
}
