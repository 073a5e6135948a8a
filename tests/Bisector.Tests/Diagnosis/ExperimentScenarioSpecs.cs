using Bisector.Demo;
using Bisector.Diagnosis;
using Xunit.Abstractions;

namespace Bisector.Tests.Diagnosis;

/// <summary>
/// Diagnosis by experiment end to end on the demo's real builds and real local workers: each scenario's culprit and
/// its parent run again under jemalloc, a pinned mmap threshold and the trim probe, and the conclusion matches what
/// the scenario's commit really does. Generous timeouts: ~40 trials of ~9 s each on a loaded 2-core machine.
/// </summary>
[LongRunning(488)]
public sealed class ExperimentScenarioSpecs(ITestOutputHelper output)
{
    private static readonly IReadOnlyList<Experiment> Experiments = [Experiment.Jemalloc, Experiment.MmapThreshold, Experiment.Trim];

    /// <summary>Fragmentation: the growth disappears under jemalloc and with a pinned mmap threshold, and the trim
    /// gives it back. Leak: it stays under both, and the trim gives back (almost) nothing.</summary>
    [Theory(Timeout = 1200000)]
    [InlineData(DemoScenario.Fragmentation, ExperimentFinding.GrowthGone, 0.5, 1.0, "the growth disappears under jemalloc and with glibc.malloc.mmap_threshold=131072: fragmentation of glibc's heap")]
    [InlineData(DemoScenario.Leak, ExperimentFinding.GrowthStays, 0.0, 0.2, "the growth stays ")]
    public async Task I_can_tell_fragmentation_from_a_leak_by_changing_the_allocator_and_trimming(
        DemoScenario scenario, ExperimentFinding expected, double trimShareLow, double trimShareHigh, string headline)
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(19));
        using var bench = await ExperimentBench.CreateAsync(scenario, 3, output.WriteLine, cts.Token);

        // Act
        var report = await bench.RunAsync(["local:2"], Experiments, output.WriteLine, cts.Token);

        // Assert
        output.WriteLine(report!.Describe());
        Assert.True(report.Growth);
        // jemalloc's RSS is the noisiest of the three: a leak of ~1.3 MiB per window may stay undecided there within the
        // cap, but it must never look gone.
        var jemalloc = Result(report, Experiment.Jemalloc).Finding;
        Assert.True(jemalloc == expected || expected == ExperimentFinding.GrowthStays && jemalloc == ExperimentFinding.Undecided, $"jemalloc: {jemalloc}");
        Assert.Equal(expected, Result(report, Experiment.MmapThreshold).Finding);
        var trim = Result(report, Experiment.Trim);
        Assert.Equal(expected, trim.Finding);
        Assert.InRange(trim.Trim!.Share, trimShareLow, trimShareHigh);
        Assert.StartsWith(headline, report.Headline);
        Assert.Contains(expected == ExperimentFinding.GrowthGone ? ": fragmentation of glibc's heap" : ": memory in use", report.Headline);
    }

    [Fact(Timeout = 1200000)]
    public async Task I_can_see_a_level_step_called_no_growth_and_the_step_stay()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(19));
        using var bench = await ExperimentBench.CreateAsync(DemoScenario.StaticTable, 3, output.WriteLine, cts.Token);

        // Act
        var report = await bench.RunAsync(["local:2"], [Experiment.Jemalloc, Experiment.MmapThreshold], output.WriteLine, cts.Token);

        // Assert
        output.WriteLine(report!.Describe());
        Assert.False(report.Growth);
        Assert.Equal(ExperimentFinding.GrowthStays, Result(report, Experiment.Jemalloc).Finding);
        Assert.Equal(ExperimentFinding.GrowthStays, Result(report, Experiment.MmapThreshold).Finding);
        Assert.StartsWith("no growth to explain: a level step of 1", report.Headline);
        Assert.Contains("the step stays under jemalloc and with glibc.malloc.mmap_threshold=131072", report.Headline);
    }

    private static ExperimentResult Result(ExperimentsReport report, Experiment experiment) =>
        report.Results.Single(r => r.Experiment == experiment);
}
