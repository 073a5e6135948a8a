using Bisector.Demo;
using Bisector.Diagnosis;
using Xunit.Abstractions;

namespace Bisector.Tests.Diagnosis;

/// <summary>
/// Proof on real runs: each demo scenario's culprit against its parent, measured with heap counters on the real
/// worker, is classified as what the scenario's commit actually does.
/// </summary>
[LongRunning(163)]
public sealed class DemoDiagnosisSpecs(ITestOutputHelper output)
{
    private const int Trials = 2;

    [Fact(Timeout = 180000)]
    public async Task I_can_see_the_realloc_shrink_culprit_diagnosed_as_heap_fragmentation_not_a_leak()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(170));
        var (good, bad, _) = await ScenarioMeasurement.MeasureAsync(DemoScenario.Fragmentation, Trials, heapCounters: true, cts.Token);

        // Act
        var diagnosis = MemoryDiagnosis.Classify(good, bad);

        // Assert
        Log(diagnosis);
        Assert.Equal(GrowthKind.Fragmentation, diagnosis.Kind);
        Assert.StartsWith("heap fragmentation: in-use flat at ", diagnosis.Headline);
        // The shim's call counters name what the culprit started doing: malloc(4 MiB), then realloc() it smaller.
        Assert.Contains("the culprit requests blocks of 1 MiB or more", diagnosis.Headline);
        Assert.Contains("shrinks blocks with realloc()", diagnosis.Headline);
        Assert.Equal(0, good.BigRequestsPerMinute!.Value, 0);
    }

    [Fact(Timeout = 180000)]
    public async Task I_can_see_the_forgotten_free_culprit_diagnosed_as_a_leak()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(170));
        var (good, bad, _) = await ScenarioMeasurement.MeasureAsync(DemoScenario.Leak, Trials, heapCounters: true, cts.Token);

        // Act
        var diagnosis = MemoryDiagnosis.Classify(good, bad);

        // Assert
        Log(diagnosis);
        Assert.Equal(GrowthKind.Leak, diagnosis.Kind);
    }

    [Fact(Timeout = 180000)]
    public async Task I_can_see_the_static_table_culprit_diagnosed_as_a_level_step_without_growth()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(170));
        var (good, bad, _) = await ScenarioMeasurement.MeasureAsync(DemoScenario.StaticTable, Trials, heapCounters: true, cts.Token);

        // Act
        var diagnosis = MemoryDiagnosis.Classify(good, bad);

        // Assert
        Log(diagnosis);
        Assert.Equal(GrowthKind.LevelStep, diagnosis.Kind);
        // The table is a static array (.bss), so the step is not in malloc's books.
        Assert.True(Math.Abs(bad.InUseLevel!.Value - good.InUseLevel!.Value) < 1024 * 1024, diagnosis.Headline);
        Assert.Contains("outside the malloc heap", diagnosis.Headline);
    }

    [Fact(Timeout = 180000)]
    public async Task I_can_see_the_fix_diagnosed_as_the_fragmentation_going_away()
    {
        // Arrange: the parent still reads 4 MiB and shrinks it; the known commit reads in 4 KiB steps again
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(170));
        var (good, bad, _) = await ScenarioMeasurement.MeasureAsync(DemoScenario.Fix, Trials, heapCounters: true, cts.Token);

        // Act
        var diagnosis = MemoryDiagnosis.Classify(good, bad, direction: Bisector.Recipes.RegressionDirection.Decrease);

        // Assert
        Log(diagnosis);
        Assert.Equal(GrowthKind.Fragmentation, diagnosis.Kind);
        Assert.StartsWith("the growth stops, heap fragmentation is gone: rss_anon ", diagnosis.Headline);
        Assert.Contains("; inside the malloc heap: free in the arena ", diagnosis.Headline);
        Assert.Contains("the big-block/realloc pattern is gone: the good side requests blocks of 1 MiB or more", diagnosis.Headline);
        Assert.Equal(0, bad.BigRequestsPerMinute!.Value, 0);
    }

    private void Log(MemoryDiagnosis d)
    {
        output.WriteLine(d.Headline);
        foreach (var line in d.Details)
            output.WriteLine("  " + line);
    }
}
