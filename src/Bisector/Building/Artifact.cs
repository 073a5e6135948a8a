namespace Bisector.Building;

/// <summary>
/// A built commit in the cache: the directory holds the recipe's artifact files, addressed by
/// commit SHA and recipe hash so a commit is never built twice for the same recipe.
/// </summary>
public sealed record Artifact(string CommitSha, string RecipeHash, string Directory, string ContentHash)
{
    /// <summary>Code and data without debug info or build id (<see cref="BuildFingerprint"/>): equal for builds that
    /// measure the same. Null for an artifact described without it (a build stored before fingerprints existed).</summary>
    public string? Fingerprint { get; init; }

    /// <summary>The shared libraries each ELF file of the artifact needs (<c>LinkedLibraries</c>), read when it
    /// was built or taken from the cache; null where readelf is missing.</summary>
    public IReadOnlyList<LinkedFile>? Links { get; init; }
}

public enum BuildStatus
{
    Built,
    Cached,
    Failed,
    TimedOut,
}

public static class BuildStatusExtensions
{
    /// <summary>Whether the build left an artifact to run (built now or found in the cache).</summary>
    public static bool Succeeded(this BuildStatus status) => status is BuildStatus.Built or BuildStatus.Cached;
}

public sealed record BuildResult(string CommitSha, BuildStatus Status, Artifact? Artifact, string Log, TimeSpan Duration, IReadOnlyList<string> FixUps)
{
    public bool Succeeded => Status.Succeeded();
}

/// <summary>One deployed ELF file and the shared libraries its dynamic section asks for (DT_NEEDED), in order
/// (<c>LinkedLibraries</c> reads them; declared here, beside the artifact, which the trial agent compiles too).</summary>
public sealed record LinkedFile(string File, IReadOnlyList<string> Needed);
