using Bisector.Demo;
using Bisector.Diagnosis;
using Bisector.Tests.Demo;
using Xunit.Abstractions;

namespace Bisector.Tests.Diagnosis;

public sealed class BoundaryProfilerSpecs(ITestOutputHelper output)
{
    [Fact(Timeout = 240000)]
    public async Task I_can_see_the_allocation_site_the_fragmentation_culprit_changed_under_heaptrack()
    {
        if (!BoundaryProfiler.Available)
        {
            output.WriteLine("skipped: heaptrack is not installed (apt-get install heaptrack; scripts/test.sh installs it)");
            return;
        }

        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(230));
        using var temp = new TempDir();
        var demo = await DemoRepository.CreateAsync(temp.Sub("repo"), DemoScenario.Fragmentation, cts.Token);
        var parent = await DemoTestSupport.BuildAsync(demo.Path, demo.CulpritSha + "^", temp.Sub("parent"), cts.Token);
        var culprit = await DemoTestSupport.BuildAsync(demo.Path, demo.CulpritSha, temp.Sub("culprit"), cts.Token);
        var recipe = ScenarioMeasurement.DemoRecipe(heapCounters: false);

        // Act
        var comparison = await BoundaryProfiler.CompareAsync(recipe, parent, culprit, output.WriteLine, cts.Token);

        // Assert: the culprit's reader now mallocs 4 MiB and realloc()s it down, so every read is a new temporary
        // allocation in read_small_file: the site whose temporary allocations changed most.
        output.WriteLine(comparison);
        var temporary = comparison.Split('\n').SkipWhile(l => !l.StartsWith("temporary", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(temporary);
        Assert.DoesNotContain("(no change)", temporary[0]);
        Assert.Contains("read_small_file", temporary[0]);
    }
}
