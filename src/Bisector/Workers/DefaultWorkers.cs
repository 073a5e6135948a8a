using System.Globalization;

namespace Bisector.Workers;

/// <summary>
/// The workers a run gets when neither <c>--workers</c> nor bisect.yaml names any: one local worker per core of this
/// machine (as .NET sees them, so a cgroup CPU limit or an affinity mask counts), at most <see cref="Cap"/>. Never more
/// local trials than cores by default: trials that share a core disturb each other's memory behaviour and widen the
/// noise the search must pay for (measured in docs/benchmarks-workers.md); a user who wants more asks with --workers.
/// </summary>
public static class DefaultWorkers
{
    /// <summary>Beyond this the search has little to give each worker: a bisection round fills idle workers with the
    /// next midpoints, whose value halves with every level.</summary>
    public const int Cap = 4;

    /// <summary>The spec and the words the run's first line uses for it, e.g. <c>local:2</c> and "default: 2 cores".</summary>
    public static (string Spec, string Why) ForThisMachine(int? processors = null)
    {
        var cores = Math.Max(1, processors ?? Environment.ProcessorCount);
        var count = Math.Min(cores, Cap);
        var noun = cores == 1 ? "core" : "cores";
        var why = count < cores
            ? string.Create(CultureInfo.InvariantCulture, $"default: {cores} {noun}, at most {Cap}")
            : string.Create(CultureInfo.InvariantCulture, $"default: {cores} {noun}");
        return (string.Create(CultureInfo.InvariantCulture, $"local:{count}"), why);
    }
}
