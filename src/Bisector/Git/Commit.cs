namespace Bisector.Git;

/// <summary>A commit as the rest of the pipeline sees it: immutable, parsed once from git's output.</summary>
public sealed record Commit(
    string Sha,
    string Subject,
    string Author,
    DateTimeOffset AuthoredAt,
    IReadOnlyList<string> Parents)
{
    public string ShortSha => Sha[..Math.Min(10, Sha.Length)];
}

/// <summary>
/// The validated result of commit selection: the known-good anchor, the known-bad anchor and, between them,
/// the candidates in bisection order (oldest → newest). Candidates are exactly what
/// <c>git log Good..Bad -- Paths</c> lists, reversed.
/// </summary>
public sealed record CommitSelection(
    string RangeSpec,
    IReadOnlyList<string> Paths,
    Commit Good,
    Commit Bad,
    IReadOnlyList<Commit> Candidates,
    int CommitsInRange,
    bool FirstParent,
    bool NoMerges);
