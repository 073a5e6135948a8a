using Bisector.Statistics;

namespace Bisector.Recipes;

/// <summary>
/// A validated recipe: how to build a commit, run the daemon, drive it and measure it. Parsed from YAML at the edge
/// (<see cref="RecipeLoader"/>); everything past the loader can rely on these values being sane.
/// Commands are run with <c>sh -c</c>; commit-dependent values reach them only as environment variables
/// (<c>BISECTOR_COMMIT</c>, <c>BISECTOR_SRC</c>, <c>BISECTOR_ARTIFACT</c>, <c>BISECTOR_RUN_DIR</c>, <c>BISECTOR_TRIAL</c>),
/// never pasted into the command text.
/// </summary>
public sealed record Recipe(
    string Name,
    string Description,
    BuildSpec Build,
    RunSpec Run,
    WorkloadSpec? Workload,
    SamplingSpec Sampling,
    DecisionSpec Decide,
    TrialsSpec Trials,
    string SourceFile,
    string Hash);

public enum BuildMode
{
    /// <summary>A fresh git worktree per commit, removed after the artifacts are cached.</summary>
    Worktree,

    /// <summary>One build tree reused across commits (checked out commit by commit) so incremental builds stay fast.</summary>
    Incremental,
}

public sealed record BuildSpec(
    BuildMode Mode,
    IReadOnlyList<string> Prepare,
    IReadOnlyList<string> Patches,
    IReadOnlyList<string> Steps,
    IReadOnlyList<string> Artifacts,
    IReadOnlyDictionary<string, string> Env,
    TimeSpan Timeout)
{
    /// <summary>Paths left out of every checkout (a sparse checkout): huge directories a build does not need, or
    /// files whose objects a partial clone lacks.</summary>
    public IReadOnlyList<string> SparseExclude { get; init; } = [];
}

public sealed record RunSpec(
    string Command,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyDictionary<string, string> Files,
    ReadySpec? Ready,
    long MemoryLimitBytes,
    IsolationSpec Isolation,
    TimeSpan StopTimeout);

/// <summary>The daemon is ready when <see cref="File"/> exists (a socket, a pid file), or after the warm-up when null.</summary>
public sealed record ReadySpec(string? File, TimeSpan Timeout);

/// <summary>Which private namespaces a local trial gets, and which paths are covered by a fresh tmpfs inside it.</summary>
public sealed record IsolationSpec(bool Mount, bool Pid, bool Network, IReadOnlyList<string> Tmpfs);

/// <summary>The load that drives the daemon; restarted when it exits before the window ends if <see cref="Restart"/>.</summary>
public sealed record WorkloadSpec(string Command, IReadOnlyDictionary<string, string> Env, bool Restart);

public sealed record SamplingSpec(
    TimeSpan Interval,
    TimeSpan Warmup,
    TimeSpan Window,
    IReadOnlyList<string> Metrics,
    bool HeapCounters);

/// <summary>What decides good from bad: one metric, one feature of its series, and which direction is a regression.</summary>
public sealed record DecisionSpec(string Metric, FeatureKind Feature, RegressionDirection Direction, double MinEffect);

public enum RegressionDirection
{
    Increase,
    Decrease,
}

/// <summary>Trials per commit: the first batch, and the cap adaptive repeats may not exceed.</summary>
public sealed record TrialsSpec(int Repeats, int Max);
