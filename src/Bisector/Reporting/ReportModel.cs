using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Reporting;

/// <summary>
/// Everything a report shows, as plain immutable values. The lead fills it from the SQLite store; the writers
/// only read it, so a report can be regenerated from a finished (or interrupted) run at any time.
/// </summary>
public sealed record ReportModel(
    RunInfo Run,
    DecisionInfo Decision,
    IReadOnlyList<CommitReport> Commits,
    SearchOutcome? Outcome,
    string? Diagnosis)
{
    /// <summary>The good anchor (position 0) when present in <see cref="Commits"/>.</summary>
    public CommitReport? GoodAnchor => Commits.FirstOrDefault(c => c.Position == 0);

    /// <summary>The highest position: the bad end of the range.</summary>
    public int LastPosition => Commits.Count == 0 ? 0 : Commits.Max(c => c.Position);

    public CommitReport? At(int position) => Commits.FirstOrDefault(c => c.Position == position);

    /// <summary>The run's A/A calibration (one build measured as both ends), when it was asked for.</summary>
    public string? Calibration { get; init; }

    /// <summary>Diagnosis by experiment (the culprit under other allocators, glibc tunables, a trim probe); null when no
    /// experiment ran. The report shows its text, the JSON result its figures.</summary>
    public Diagnosis.ExperimentsReport? Experiments { get; init; }

    /// <summary>The revert proof of the named culprit (the bad end built with it reverted, measured against both ends);
    /// null when none was made.</summary>
    public Diagnosis.RevertReport? Revert { get; init; }

    /// <summary>Commits whose builds were identical (same code and data) and shared one commit's trials, from the
    /// stored builds (so an interrupted run shows them too).</summary>
    public IReadOnlyList<BuildGroup> IdenticalBuilds { get; init; } = [];

    /// <summary>The shared libraries each built commit links, by position (commits built before links were stored,
    /// and failed builds, are left out).</summary>
    public IReadOnlyList<PositionLinks> Links { get; init; } = [];

    /// <summary>The run's words (culprit or fix, its ends' states); every writer takes them from here.</summary>
    public Terms Terms { get; init; } = Terms.Regression;

    /// <summary>Every change found in the range by the search and the scan after it, and what each segment's search
    /// concluded; null when there was no scan (see <see cref="ScanNotRun"/>).</summary>
    public RangeChanges? Changes { get; init; }

    /// <summary>Why a run that named a culprit has no scan for further changes (e.g. <c>--no-scan</c>); null otherwise.</summary>
    public string? ScanNotRun { get; init; }
    /// <summary>The run's cost plans (before the run, and re-planned after its first round), oldest first; empty for
    /// runs stored before plans existed.</summary>
    public IReadOnlyList<Runs.CostPlan> Plans { get; init; } = [];

    /// <summary>Wall time from the run's start to the end of its search's last round (what the plan estimates; the
    /// scan and diagnosis after the verdict are not planned); null for runs without a plan.</summary>
    public TimeSpan? SearchWallTime { get; init; }

    /// <summary>How long a trial needed to be, from the stored trials of both sides of the named culprit; null without
    /// a culprit or with too few trials.</summary>
    public WindowSuggestion? TrialLength { get; init; }

    public bool IsPartial => Run.Status != RunStatus.Finished || Outcome is null;
}

/// <summary>Where the run itself happened (the controller, not necessarily where trials ran).</summary>
public sealed record HostInfo(string Name, string Os, string Kernel, int Processors, long MemoryBytes, string Runtime);

/// <summary>A worker that ran trials; <see cref="Kind"/> is null when the run's worker specs no longer say.</summary>
public sealed record WorkerInfo(string Name, WorkerKind? Kind, string Host)
{
    /// <summary>Local workers' trials compete for the controller's CPUs and memory bandwidth, which the report must
    /// say because it widens the noise.</summary>
    public bool SharesMachine => Kind == WorkerKind.Local;

    public string KindText => Kind?.ToString().ToLowerInvariant() ?? "kind unknown";

    /// <summary>Why the scheduler took this worker out of the pool during the run; null while it stayed in.</summary>
    public string? RemovedBecause { get; init; }
}

public sealed record RunInfo(
    string RunId,
    string ToolVersion,
    string RangeSpec,
    IReadOnlyList<string> Paths,
    string RecipeName,
    string RecipeHash,
    string RecipeFile,
    IReadOnlyList<string> FixUps,
    IReadOnlyList<WorkerInfo> Workers,
    string Strategy,
    double ConfidenceTarget,
    DateTimeOffset StartedAt,
    DateTimeOffset? EndedAt,
    TimeSpan WallTime,
    RunStatus Status,
    string ReproduceCommand,
    HostInfo Host);

/// <summary>What decided good from bad (copied from the recipe so a report does not need the recipe file).</summary>
public sealed record DecisionInfo(string Metric, FeatureKind Feature, RegressionDirection Direction, double MinEffect);

/// <summary>
/// One commit in bisection order. Position 0 is the known-good anchor, 1..N the candidates oldest → newest (N is the
/// bad end), exactly as in <see cref="MeasureRequest"/>. Unmeasured commits are listed too, with no trials, so the
/// plots keep the real commit order.
/// </summary>
/// <param name="Build">Null when the commit was never built (the search did not need it).</param>
/// <param name="BuildLogTail">The tail of the build log; shown for skipped commits.</param>
/// <param name="FeatureValues">The deciding feature of each successful trial, in the metric's units (per minute for
/// <see cref="FeatureKind.Slope"/>).</param>
/// <param name="VersusGood">This commit compared with the good anchor on the deciding feature; null when not compared.</param>
public sealed record CommitReport(
    int Position,
    Commit Commit,
    BuildStatus? Build,
    string? BuildLogTail,
    IReadOnlyList<TrialReport> Trials,
    IReadOnlyList<double> FeatureValues,
    Comparison? VersusGood)
{
    public bool Skipped => Build is BuildStatus.Failed or BuildStatus.TimedOut;

    public bool Measured => Trials.Any(t => t.Outcome == TrialOutcome.Ok);

    public IEnumerable<TrialReport> OkTrials => Trials.Where(t => t.Outcome == TrialOutcome.Ok);
}

/// <summary>One trial: where it ran, how it ended, in which search round, and its series per metric name
/// (<see cref="Sampling.Metrics"/>; values in bytes for memory metrics).</summary>
public sealed record TrialReport(
    int Index,
    string Worker,
    string Host,
    TrialOutcome Outcome,
    string? Reason,
    int Round,
    IReadOnlyDictionary<string, TrialSeries> Series);
