using System.Globalization;
using LibGit2Sharp;

namespace Bisector.Git;

/// <summary>History options that change which commits <c>git log</c> lists.</summary>
public sealed record SelectionOptions(bool FirstParent = false, bool NoMerges = false)
{
    public static SelectionOptions Default { get; } = new();
}

/// <summary>What one walk read: commits, trees, inflated objects, objects read through LibGit2Sharp.</summary>
internal sealed record WalkStats(int CommitsParsed, int TreesRead, int ObjectsInflated, int DeltasApplied,
    int FallbackReads, bool CommitGraph, bool BloomFilters, int BloomSkips);

/// <summary>
/// Selects the candidate commits of a bisection: exactly what <c>git log A..B -- paths</c> lists, read through
/// LibGit2Sharp so a run needs no git binary, oldest first.
/// </summary>
public static class CommitSelector
{
    public static CommitSelection Select(
        string repositoryPath, string range, IReadOnlyList<string> paths, SelectionOptions? options = null)
    {
        options ??= SelectionOptions.Default;
        var pathspec = Pathspec.Parse(paths);
        using var repo = Open(repositoryPath);

        var (good, bad, tips) = ParseRange(repo, range);
        if (good.Id == bad.Id)
            throw new GitSelectionException(
                $"range '{range}': good and bad are the same commit {good.Sha[..10]}, so there is nothing to bisect",
                "Fix: give an older known-good revision as A in A..B");
        var mergeBase = repo.ObjectDatabase.FindMergeBase(good, bad);
        if (mergeBase?.Id != good.Id)
        {
            var swapped = mergeBase?.Id == bad.Id;
            throw new GitSelectionException(
                swapped
                    ? $"range '{range}': the good end {good.Sha[..10]} is newer than the bad end {bad.Sha[..10]} (bad is an ancestor of good)"
                    : $"range '{range}': the good end {good.Sha[..10]} is not an ancestor of the bad end {bad.Sha[..10]}",
                swapped
                    ? "Fix: swap them and write GOOD..BAD with the older, known-good revision first"
                    : mergeBase is null
                        ? "Fix: choose a good revision from the history of the bad one"
                        : $"Fix: use their merge base as the good end: {mergeBase.Sha[..10]}..{RangeRight(range)}");
        }

        using var store = new ObjectStore(repo);
        var graph = CommitGraph.TryOpen(repo.Info.Path, store.ObjectDirectories);
        var inRange = new HistoryWalk(store, graph, Pathspec.Parse([]), options.FirstParent, options.NoMerges).Run(tips);
        var selected = pathspec.IsEmpty
            ? inRange
            : new HistoryWalk(store, graph, pathspec, options.FirstParent, options.NoMerges).Run(tips);
        if (selected.Count == 0)
            throw new GitSelectionException(
                pathspec.IsEmpty
                    ? $"range '{range}' holds no commits with the chosen options"
                    : $"--paths: {string.Join(' ', paths.Select(p => $"'{p}'"))} matched no commit in '{range}' " +
                      $"({inRange.Count.ToString(CultureInfo.InvariantCulture)} commits in the range)",
                pathspec.IsEmpty
                    ? "Fix: drop --no-merges or --first-parent, or widen the range"
                    : "Fix: check the paths are relative to the repository root (try `git log --oneline " +
                      $"{range} -- <paths>`), or widen the range");

        var candidates = new Commit[selected.Count];
        for (var i = 0; i < selected.Count; i++)
            candidates[i] = ToCommit(repo.Lookup<LibGit2Sharp.Commit>(selected[selected.Count - 1 - i].ToObjectId()));

        return new CommitSelection(range, paths.ToArray(), ToCommit(good), ToCommit(bad), candidates,
            inRange.Count, options.FirstParent, options.NoMerges);
    }

    /// <summary>
    /// Lists what <c>git log --format=%H [options] revisions -- paths</c> lists, newest first. Unlike
    /// <see cref="Select"/> it accepts any revision list, e.g. a single tip for a whole history.
    /// </summary>
    public static IReadOnlyList<string> Log(
        string repositoryPath, string revisions, IReadOnlyList<string> paths, SelectionOptions? options = null) =>
        LogWithStats(repositoryPath, revisions, paths, options).Shas;

    /// <summary><see cref="Log"/> plus what the walk read, for the benchmark.</summary>
    internal static (IReadOnlyList<string> Shas, WalkStats Stats) LogWithStats(
        string repositoryPath, string revisions, IReadOnlyList<string> paths, SelectionOptions? options = null)
    {
        options ??= SelectionOptions.Default;
        var pathspec = Pathspec.Parse(paths);
        using var repo = Open(repositoryPath);
        var tips = ParseRevisions(repo, revisions);
        using var store = new ObjectStore(repo);
        var graph = CommitGraph.TryOpen(repo.Info.Path, store.ObjectDirectories);
        var walk = new HistoryWalk(store, graph, pathspec, options.FirstParent, options.NoMerges);
        var shas = walk.Run(tips).Select(id => id.ToString()).ToArray();
        return (shas, new WalkStats(walk.CommitsParsed, walk.TreesRead, store.ObjectsInflated, store.DeltasApplied, store.FallbackReads,
            graph is not null, graph?.HasBloomFilters ?? false, walk.BloomSkips));
    }

    /// <summary>Lines for a dry run: which commits will be tested, in which order, and why the others are not.</summary>
    public static IReadOnlyList<string> DescribeDryRun(CommitSelection selection)
    {
        static string Ci(int n) => n.ToString(CultureInfo.InvariantCulture);
        static string Line(Commit c) =>
            $"{c.ShortSha} {c.AuthoredAt.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} {c.Subject}";

        var n = selection.Candidates.Count;
        var filtered = selection.CommitsInRange - n;
        var lines = new List<string>
        {
            $"Range {selection.RangeSpec}: good {Line(selection.Good)}",
            $"{new string(' ', selection.RangeSpec.Length + 7)}bad  {Line(selection.Bad)}",
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

    internal static Repository Open(string repositoryPath)
    {
        var discovered = Repository.Discover(repositoryPath);
        if (discovered is null)
            throw new GitSelectionException($"--repo: '{repositoryPath}' is not inside a git repository",
                "Fix: point --repo at a clone (or bare repository) of the project");
        return new Repository(discovered);
    }

    private static string RangeRight(string range)
    {
        var i = range.IndexOf("..", StringComparison.Ordinal);
        return i < 0 ? range : range[(i + 2)..];
    }

    private static (LibGit2Sharp.Commit Good, LibGit2Sharp.Commit Bad, IReadOnlyList<(Oid, bool)> Tips)
        ParseRange(Repository repo, string range)
    {
        var tips = ParseRevisions(repo, range);
        var negative = tips.Where(t => t.Exclude).ToArray();
        var positive = tips.Where(t => !t.Exclude).ToArray();
        if (negative.Length != 1 || positive.Length != 1)
            throw new GitSelectionException(
                $"range '{range}' must name exactly one good and one bad revision " +
                $"(found {negative.Length.ToString(CultureInfo.InvariantCulture)} good, " +
                $"{positive.Length.ToString(CultureInfo.InvariantCulture)} bad)",
                "Fix: write GOOD..BAD (or 'BAD ^GOOD'), e.g. v247..v248");
        return (repo.Lookup<LibGit2Sharp.Commit>(negative[0].Id.ToObjectId()), repo.Lookup<LibGit2Sharp.Commit>(positive[0].Id.ToObjectId()), tips);
    }

    private static IReadOnlyList<(Oid Id, bool Exclude)> ParseRevisions(Repository repo, string revisions)
    {
        var text = revisions.Trim();
        if (text.Length == 0)
            throw new GitSelectionException("the range is empty", "Fix: write GOOD..BAD, e.g. v247..v248");
        if (text.Contains("...", StringComparison.Ordinal))
            throw new GitSelectionException(
                $"range '{revisions}': the symmetric difference A...B is not supported (it has no single good end)",
                $"Fix: use A..B with the known-good revision first, e.g. {text.Replace("...", "..", StringComparison.Ordinal)}");

        var tips = new List<(Oid, bool)>();
        foreach (var token in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var dots = token.IndexOf("..", StringComparison.Ordinal);
            if (dots >= 0)
            {
                var left = token[..dots];
                var right = token[(dots + 2)..];
                if (right.Contains("..", StringComparison.Ordinal))
                    throw new GitSelectionException($"range '{revisions}' has more than one '..'",
                        "Fix: write GOOD..BAD, e.g. v247..v248");
                // As in git, an empty side of A..B means HEAD.
                tips.Add((Resolve(repo, left.Length == 0 ? "HEAD" : left, revisions), true));
                tips.Add((Resolve(repo, right.Length == 0 ? "HEAD" : right, revisions), false));
            }
            else if (token.StartsWith('^'))
                tips.Add((Resolve(repo, token[1..], revisions), true));
            else
                tips.Add((Resolve(repo, token, revisions), false));
        }
        return tips;
    }

    private static Oid Resolve(Repository repo, string spec, string range)
    {
        GitObject? obj;
        try
        {
            obj = spec.Length == 0 ? null : repo.Lookup(spec);
        }
        catch (AmbiguousSpecificationException)
        {
            throw new GitSelectionException($"range '{range}': '{spec}' is an ambiguous abbreviated commit id",
                "Fix: give more hex digits of the commit id");
        }
        catch (LibGit2SharpException e)
        {
            throw new GitSelectionException($"range '{range}': '{spec}' is not a valid revision ({e.Message})",
                "Fix: use a commit id, branch, tag or an expression like HEAD~3");
        }
        if (obj is null)
            throw new GitSelectionException(
                $"range '{range}': unknown revision '{spec}' in {repo.Info.Path.TrimEnd('/')}",
                "Fix: check the spelling with `git rev-parse " + spec + "`, and fetch tags if it is a tag (git fetch --tags)");
        while (obj is TagAnnotation tag) obj = tag.Target;
        if (obj is not LibGit2Sharp.Commit commit)
            throw new GitSelectionException($"range '{range}': '{spec}' names a {obj.GetType().Name.ToLowerInvariant()}, not a commit",
                "Fix: name a commit, branch or tag");
        return Oid.From(commit.Id);
    }

    private static Commit ToCommit(LibGit2Sharp.Commit c) =>
        new(c.Sha, c.MessageShort, c.Author.Name, c.Author.When, c.Parents.Select(p => p.Sha).ToArray());
}
