namespace Bisector.Git;

/// <summary>
/// The commits of a run by position, as the search numbers them: 0 is the known-good anchor, 1..N the candidates
/// oldest → newest, N the bad end. Callers look a commit up by position instead of indexing lists by hand.
/// </summary>
public sealed class CommitLine
{
    private readonly Commit[] _commits;

    public CommitLine(Commit anchor, IEnumerable<Commit> candidates)
    {
        _commits = [anchor, .. candidates];
    }

    /// <summary>The positions of a selection: its good end, then its candidates.</summary>
    public static CommitLine Of(CommitSelection selection) => new(selection.Good, selection.Candidates);

    /// <summary>A line read back in position order (anchor first), e.g. from a stored run.</summary>
    public static CommitLine InOrder(IEnumerable<Commit> byPosition)
    {
        var commits = byPosition.ToList();
        return commits.Count > 0 ? new(commits[0], commits.Skip(1)) : throw new ArgumentException("a commit line needs its anchor", nameof(byPosition));
    }

    public Commit Anchor => _commits[0];

    /// <summary>N: the number of candidates, and the position of the bad end.</summary>
    public int CandidateCount => _commits.Length - 1;

    /// <summary>The commit at <paramref name="position"/> (0 = anchor, 1..N = candidates).</summary>
    public Commit this[int position] =>
        position >= 0 && position < _commits.Length
            ? _commits[position]
            : throw new ArgumentOutOfRangeException(nameof(position), position, $"positions of this run are 0..{CandidateCount}");

    /// <summary>Every position with its commit, anchor first.</summary>
    public IEnumerable<(int Position, Commit Commit)> Positions => _commits.Select((c, p) => (p, c));

    /// <summary>The position of the commit <paramref name="sha"/>; a commit that is not on the line is a bug, not input.</summary>
    public int PositionOf(string sha)
    {
        var position = Array.FindIndex(_commits, c => c.Sha == sha);
        return position >= 0 ? position : throw new InvalidOperationException($"commit {sha} is not a position of this run");
    }

    /// <summary>Lists indexed by candidate (the search's posterior) start at position 1: index i is position i + 1.</summary>
    public static int PositionOfCandidate(int index) => index + 1;
}
