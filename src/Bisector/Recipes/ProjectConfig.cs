namespace Bisector.Recipes;

/// <summary>
/// Project defaults from a <c>bisect.yaml</c> at a repository root. Every value is optional and null when absent, so
/// the CLI can apply "flag, else bisect.yaml, else recipe, else built-in default" without guessing what was written.
/// Paths (<see cref="Recipe"/>, <see cref="Results"/>) are already resolved relative to the bisect.yaml file.
/// </summary>
public sealed record ProjectConfig(
    string SourceFile,
    string? Recipe,
    IReadOnlyList<string>? Paths,
    IReadOnlyList<string>? Workers,
    SearchStrategyKind? Strategy,
    double? Confidence,
    double? Alpha,
    int? Repeats,
    int? MaxTrials,
    TimeSpan? Window,
    TimeSpan? Warmup,
    string? Results)
{
    /// <summary>The line each key was written on, so a value that only fails against the recipe (a window shorter
    /// than the recipe's sampling interval) is still reported as <c>bisect.yaml:LINE</c>.</summary>
    public IReadOnlyDictionary<string, int> Lines { get; init; } = NoLines;

    /// <summary>The line of <paramref name="key"/> when it was written, else null.</summary>
    public int? LineOf(string key) => Lines.TryGetValue(key, out var line) ? line : null;

    private static readonly IReadOnlyDictionary<string, int> NoLines = new Dictionary<string, int>();

    /// <summary>The configuration used when a repository has no bisect.yaml: everything comes from flags and the recipe.</summary>
    public static ProjectConfig Empty(string sourceFile) =>
        new(sourceFile, null, null, null, null, null, null, null, null, null, null, null);
}

/// <summary>How the search picks commits to measure (the search stage implements each).</summary>
public enum SearchStrategyKind
{
    /// <summary>Classic bisection on the posterior: one commit per round.</summary>
    Bisect,

    /// <summary>Measure k evenly spaced commits per round, to keep several workers busy.</summary>
    Kary,

    /// <summary>Measure every commit in the range.</summary>
    Exhaustive,
}
