using Bisector.Demo;
using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Tests.Workers;
using Xunit.Abstractions;

namespace Bisector.Tests.Diagnosis;

/// <summary>Diagnosis by experiment on SSH workers (real sshd in network namespaces): recipe environment reaches the
/// remote daemon, the heap counters and trim probe come back as from a local trial, and what cannot run there is said,
/// not skipped.</summary>
[LongRunning(152)]
public sealed class ExperimentSshSpecs(ITestOutputHelper output)
{
    // An allocator no worker has: the guard in the derived command must turn the ignored preload into a stated reason.
    private static readonly Experiment Missing = new("nosuchalloc", ExperimentKind.Allocator, "under nosuchalloc",
        new Dictionary<string, string> { ["LD_PRELOAD"] = "libnosuchalloc.so.9" }, "libnosuchalloc.so.9", "nosuchalloc-pkg");

    [SshFact(Timeout = 1200000)]
    public async Task I_can_run_experiments_on_ssh_workers_and_am_told_what_could_not_run_there()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(19));
        await using var hosts = await SshHosts.StartAsync(2);
        using var bench = await ExperimentBench.CreateAsync(DemoScenario.Fragmentation, 3, output.WriteLine, cts.Token);

        // Act
        var report = await bench.RunAsync([hosts.Spec(0), hosts.Spec(1)], [Experiment.MmapThreshold, Missing, Experiment.Trim], output.WriteLine, cts.Token);

        // Assert
        output.WriteLine(report!.Describe());
        var pinned = report.Results.Single(r => r.Experiment == Experiment.MmapThreshold);
        Assert.Equal(ExperimentFinding.GrowthGone, pinned.Finding);
        var missing = report.Results.Single(r => r.Experiment == Missing);
        Assert.Equal(ExperimentFinding.NotRun, missing.Finding);
        Assert.Contains("libnosuchalloc.so.9 cannot be preloaded on", missing.NotRun);
        Assert.Contains("apt-get install nosuchalloc-pkg", missing.NotRun);
        // The trim probe runs there as it does locally: the agent preloads the shim shipped by the controller and
        // streams back every heap counter, so the trim's before/after is measured on the host.
        var trim = report.Results.Single(r => r.Experiment == Experiment.Trim);
        Assert.True(trim.Finding == ExperimentFinding.GrowthGone, $"trim: {trim.Finding} {trim.NotRun}");
        Assert.InRange(trim.Trim!.Share, 0.5, 1.0);
        Assert.Contains("(could not run: nosuchalloc)", report.Headline);
        var trimTrials = await bench.TrialsOfAsync(Experiment.Trim, cts.Token);
        Assert.All(trimTrials, t => Assert.StartsWith("ssh://", t.Trial.Worker));
        Assert.All(trimTrials.Where(t => t.Trial.Outcome == Bisector.Workers.TrialOutcome.Ok), t => Assert.Superset(
            new HashSet<string> { Metrics.HeapInUse, Metrics.HeapFree, Metrics.HeapTrims, Metrics.HeapForeignMalloc, Metrics.RssAnon }, t.Metrics.ToHashSet()));
    }

    [Fact(Timeout = 600000)]
    public async Task I_am_told_an_allocator_is_not_installed_here_before_any_local_trial_is_spent()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(9));
        using var bench = await ExperimentBench.CreateAsync(DemoScenario.Fragmentation, 2, output.WriteLine, cts.Token);

        // Act
        var report = await bench.RunAsync(["local:2"], [Missing], output.WriteLine, cts.Token);

        // Assert
        var missing = Assert.Single(report!.Results);
        Assert.Equal(ExperimentFinding.NotRun, missing.Finding);
        Assert.Equal("libnosuchalloc.so.9 is not installed on this machine (apt-get install nosuchalloc-pkg)", missing.NotRun);
        Assert.Equal(0, missing.TrialsSpent);
    }
}
