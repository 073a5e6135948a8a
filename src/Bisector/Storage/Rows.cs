namespace Bisector.Storage;

/// <summary>A run as stored. Options and outcome are JSON so the schema need not change with every new setting.</summary>
public sealed record RunRow(
    string Id,
    string CreatedAt,
    string? EndedAt,
    string Status,
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

public static class RunStatus
{
    public const string Running = "running";
    public const string Finished = "finished";
    public const string Failed = "failed";
    public const string Interrupted = "interrupted";
}

public sealed record CommitRow(long Position, string Sha, string Subject, string Author, string AuthoredAt, string Parents);

public sealed record BuildRow(
    long Id,
    string Sha,
    string RecipeHash,
    string Status,
    long DurationMs,
    string Log,
    string FixupsJson,
    string? ArtifactDir,
    string? ContentHash,
    string CreatedAt);

public sealed record TrialRow(
    long Id,
    long Position,
    string Sha,
    long TrialIndex,
    long Round,
    string Worker,
    string Host,
    string Outcome,
    string? Reason,
    string StartedAt,
    string EndedAt);

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
    string Kind,
    string Headline,
    string Details,
    string? Diff,
    string? Profile,
    string CreatedAt);

public sealed record RemovedWorkerRow(string Worker, string Reason, string RemovedAt);

/// <summary>One experiment of a run's diagnosis by experiment: its name (the trials' variant), the derived recipe's hash,
/// and why it could not run at all (no such allocator, a statically linked daemon), null when it ran.</summary>
public sealed record ExperimentRow(string RunId, string Variant, string RecipeHash, string? NotRun, string CreatedAt);
