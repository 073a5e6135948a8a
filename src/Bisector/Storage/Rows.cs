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

public sealed record RemovedWorkerRow(string Worker, string Reason, string RemovedAt);
