using Bisector.Demo;
using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Tests.Workers;
using Bisector.Workers;
using Xunit.Abstractions;

namespace Bisector.Tests.Diagnosis;

/// <summary>
/// Diagnosis by experiment on a container worker (a real dockerd with a busybox image, the host's libraries bound in)
/// and on a Slurm worker (a real one-node cluster): the demo's fragmentation culprit and its parent run again there,
/// the experiments decide as they do locally, and every trial of an experiment ran on that worker kind and brought
/// back the heap counters the trim probe reads. The search's own trials run locally (ExperimentBench).
/// </summary>
[LongRunning(280)]
public sealed class ExperimentWorkerKindSpecs(ITestOutputHelper output)
{
    [DockerdFact(Timeout = 1200000)]
    public async Task I_can_run_experiments_on_a_container_worker()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(19));
        await using var engine = await ContainerEngine.StartDockerdAsync(cts.Token);
        using var bench = await ExperimentBench.CreateAsync(DemoScenario.Fragmentation, 3, output.WriteLine, cts.Token);
        var rootfs = await ContainerEngine.BusyboxRootfsAsync(bench.Temp.Path, cts.Token);
        var image = $"bisector-busybox-{Guid.NewGuid():N}"[..24];

        // Act
        var report = await bench.RunAsync([$"container:{engine.Endpoint}?image={image}&rootfs={rootfs}&count=2"],
            [Experiment.Jemalloc, Experiment.Trim], output.WriteLine, cts.Token);

        // Assert
        output.WriteLine(report!.Describe());
        await AssertDecidedOnAsync(bench, report, Experiment.Jemalloc, "container-", cts.Token);
        await AssertDecidedOnAsync(bench, report, Experiment.Trim, "container-", cts.Token);
        // The allocator really served malloc() in the container (the shim's record), so "gone" is jemalloc's doing.
        Assert.Null(Result(report, Experiment.Jemalloc).Caveat);
    }

    [SlurmFact(Timeout = 1200000)]
    public async Task I_can_run_experiments_on_a_slurm_worker()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(19));
        await using var cluster = await SlurmCluster.StartAsync(cts.Token);
        using var bench = await ExperimentBench.CreateAsync(DemoScenario.Fragmentation, 3, output.WriteLine, cts.Token);

        // Act
        var report = await bench.RunAsync([$"slurm:{cluster.Partition}?count=2&conf={cluster.Conf}"],
            [Experiment.MmapThreshold, Experiment.Trim], output.WriteLine, cts.Token);

        // Assert
        output.WriteLine(report!.Describe());
        await AssertDecidedOnAsync(bench, report, Experiment.MmapThreshold, "slurm-", cts.Token);
        await AssertDecidedOnAsync(bench, report, Experiment.Trim, "slurm-", cts.Token);
    }

    /// <summary>The fragmentation culprit's growth is gone under <paramref name="experiment"/> (for the trim probe: the
    /// trim returns it), every trial ran on a worker named <paramref name="workerPrefix"/>…, and each Ok trial recorded
    /// the heap counters as a local trial does.</summary>
    private async Task AssertDecidedOnAsync(ExperimentBench bench, ExperimentsReport report, Experiment experiment, string workerPrefix, CancellationToken ct)
    {
        var result = Result(report, experiment);
        Assert.True(result.Finding == ExperimentFinding.GrowthGone, $"{experiment.Name}: {result.Finding} {result.NotRun} {result.Caveat}");
        if (experiment.Kind == ExperimentKind.TrimProbe)
            Assert.InRange(result.Trim!.Share, 0.5, 1.0);
        var trials = await bench.TrialsOfAsync(experiment, ct);
        output.WriteLine($"{experiment.Name}: {trials.Count} trials, {trials.Count(t => t.Trial.Outcome == TrialOutcome.Ok)} Ok, " +
            $"{(DateTimeOffset.Parse(trials.Max(t => t.Trial.EndedAt)!, System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.Parse(trials.Min(t => t.Trial.StartedAt)!, System.Globalization.CultureInfo.InvariantCulture)).TotalSeconds:0} s from first start to last end");
        Assert.All(trials, t => Assert.StartsWith(workerPrefix, t.Trial.Worker));
        Assert.All(trials.Where(t => t.Trial.Outcome == TrialOutcome.Ok), t => Assert.Superset(
            new HashSet<string> { Metrics.RssAnon, Metrics.HeapInUse, Metrics.HeapTrims, Metrics.HeapForeignMalloc }, t.Metrics.ToHashSet()));
    }

    private static ExperimentResult Result(ExperimentsReport report, Experiment experiment) =>
        report.Results.Single(r => r.Experiment == experiment);
}
