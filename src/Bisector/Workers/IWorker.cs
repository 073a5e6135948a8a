using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Sampling;

namespace Bisector.Workers;

/// <summary>
/// Where trials run. A backend deploys an artifact, starts the daemon and its workload under the recipe's limits,
/// samples memory for the recipe's window, stops everything, and reports what happened. Sampling of one trial is the
/// backend's business (local /proc reads, a sampler streamed over SSH, a container's cgroup); the samples it returns
/// have the same metric names everywhere.
/// </summary>
public interface IWorker : IAsyncDisposable
{
    /// <summary>Stable name recorded on every trial, e.g. <c>local-1</c> or <c>ssh://root@10.0.0.2</c>.</summary>
    string Name { get; }

    /// <summary>What kind of backend this is; the report says it and whether trials share the controller's machine.</summary>
    WorkerKind Kind { get; }

    /// <summary>Verifies the worker can run trials (reachable, cgroup usable, disk space, tools present).</summary>
    Task<WorkerCheck> CheckAsync(CancellationToken ct = default);

    /// <summary>Runs one trial to completion. Failures of the daemon or workload are outcomes, not exceptions;
    /// a <see cref="WorkerException"/> means the worker itself is unusable.</summary>
    Task<TrialResult> RunTrialAsync(TrialSpec spec, CancellationToken ct = default);
}

public enum WorkerKind
{
    Local,
    Ssh,
    Container,
    Slurm,
}

public sealed record WorkerCheck(string Worker, bool Ok, IReadOnlyList<string> Findings);

public sealed record TrialSpec(Commit Commit, Artifact Artifact, Recipe Recipe, int TrialIndex, string TrialKey);

public enum TrialOutcome
{
    Ok,
    DaemonCrashed,
    OutOfMemory,
    WorkloadFailed,
    NotReady,
    WorkerFailed,
    Cancelled,

    /// <summary>The trial ran, but too few samples were taken in its window (an overloaded machine) to trust it.</summary>
    Incomplete,
}

public sealed record TrialResult(
    TrialOutcome Outcome,
    string? Reason,
    IReadOnlyList<Sample> Samples,
    DateTimeOffset StartedAt,
    DateTimeOffset EndedAt,
    string Host)
{
    /// <summary>The name of the worker that ran the trial (set by the scheduler; <see cref="Host"/> says where).</summary>
    public string? Worker { get; init; }
}
