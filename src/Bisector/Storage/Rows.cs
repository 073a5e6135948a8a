using Bisector.Building;
using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Workers;

namespace Bisector.Storage;

/// <summary>A run as stored. Options and outcome are JSON so the schema need not change with every new setting.</summary>
public sealed record RunRow(
    string Id,
    string CreatedAt,
    string? EndedAt,
    RunStatus Status,
    string RepoPath,
    string RangeSpec,
    string PathsJson,
    string RecipeName,
    string RecipeHash,
    string RecipeFile,
    string RecipeYaml,
    string RecipeJson,
    string OptionsJson,
    string CommandLine,
    string ToolVersion,
    string HostInfo,
    string? OutcomeJson,
    string? Summary);

/// <summary>Where a run stands. Stored as lower-case text (<c>running</c>, …); only <see cref="Finished"/> has a verdict.</summary>
public enum RunStatus
{
    /// <summary>Nobody marked it otherwise: its process runs, or was killed (see <see cref="RunOwnerRow"/>).</summary>
    Running,
    Finished,
    Failed,
    Interrupted,
}

public sealed record CommitRow(long Position, string Sha, string Subject, string Author, string AuthoredAt, string Parents);

public sealed record BuildRow(
    long Id,
    string Sha,
    string RecipeHash,
    BuildStatus Status,
    long DurationMs,
    string Log,
    string FixupsJson,
    string? ArtifactDir,
    string? ContentHash,
    string CreatedAt,
    string? Fingerprint,
    string? LinksJson);

public sealed record TrialRow(
    long Id,
    long Position,
    string Sha,
    long TrialIndex,
    long Round,
    string Worker,
    string Host,
    TrialOutcome Outcome,
    string? Reason,
    string StartedAt,
    string EndedAt);

/// <summary>A finished trial to store with its samples: where it sits on the commit line, which round and worker ran
/// it, and what came of it. <see cref="TrialKey"/>, when set, is the in-flight entry the same transaction removes.
/// An experiment's trial carries its <see cref="Variant"/>, which keeps it out of every search query.</summary>
public sealed record NewTrial(
    int Position,
    string Sha,
    int TrialIndex,
    int Round,
    string Worker,
    string Host,
    TrialOutcome Outcome,
    string? Reason,
    DateTimeOffset StartedAt,
    DateTimeOffset EndedAt,
    IReadOnlyList<Sample> Samples,
    string? TrialKey = null)
{
    /// <summary>The experiment the trial belongs to (diagnosis by experiment); '' for the search's own trials.</summary>
    public string Variant { get; init; } = "";
}

public sealed record SampleRow(long TrialId, double Seconds, string Metric, double Value);

public sealed record RoundRow(long Number, string Positions, string Reason);

/// <summary>The process that last claimed a run; with <see cref="PidStart"/> a reused PID is not mistaken for it.</summary>
public sealed record RunOwnerRow(string RunId, string Host, long Pid, string PidStart, string WorkRoot, string ClaimedAt);

/// <summary>A build (key = SHA) or trial (key = trial key) that was started and not yet stored.</summary>
public sealed record InFlightRow(string Kind, string Key, string StartedAt);

/// <summary>A run's diagnosis: <see cref="Details"/> are newline-separated figures, <see cref="Diff"/> the culprit's
/// patch limited to the run's paths, <see cref="Profile"/> the boundary allocation-site comparison (text), if made.</summary>
public sealed record DiagnosisRow(
    string RunId,
    string GoodSha,
    string CulpritSha,
    GrowthKind Kind,
    string Headline,
    string Details,
    string? Diff,
    string? Profile,
    string CreatedAt);

public sealed record RemovedWorkerRow(string Worker, string Reason, string RemovedAt);

/// <summary>One experiment of a run's diagnosis by experiment: its name (the trials' variant), the derived recipe's hash,
/// and why it could not run at all (no such allocator, a statically linked daemon), null when it ran.</summary>
public sealed record ExperimentRow(string RunId, string Variant, string RecipeHash, string? NotRun, string CreatedAt);

/// <summary>A stored plan of a run: its stage (<c>start</c>, <c>firstround</c>, or <c>searchend</c>, whose time marks the
/// end of the search's last round) and the plan as JSON.</summary>
public sealed record PlanRow(string Stage, string PlanJson, string CreatedAt);

/// <summary>How a revert proof's build went: <see cref="Built"/> (the revert applied and the build has an artifact),
/// <see cref="Conflict"/> (git left files unmerged), <see cref="BuildFailed"/> (applied, but the recipe's build failed).</summary>
public enum RevertStatus
{
    Built,
    Conflict,
    BuildFailed,
}

/// <summary>A run's revert proof as stored: <see cref="Variant"/> is its trials' variant, <see cref="Conflicts"/> the
/// unmerged files (newline-separated, empty when clean), <see cref="Detail"/> git's message or the build's failure.</summary>
public sealed record RevertRow(
    string RunId,
    string Variant,
    string CulpritSha,
    string BaseSha,
    string Command,
    RevertStatus Status,
    string Conflicts,
    string? Detail,
    string BuildKey,
    string CreatedAt);
