using Bisector.Demo;
using static Bisector.Tests.Demo.DemoTestSupport;

namespace Bisector.Tests.Demo;

/// <summary>
/// The demo is only useful if its culprit is unmistakable in a short window, so these tests build the culprit and its
/// parent with make, run each with the workload for a few seconds and compare their RssAnon series.
/// </summary>
[LongRunning(47)]
public sealed class DemoMeasurementTests
{
    private const double MiB = 1024 * 1024;
    private static readonly TimeSpan RunFor = TimeSpan.FromSeconds(6);
    private const double WarmupSeconds = 2;

    [Fact(Timeout = 120000)]
    public async Task I_can_see_the_fragmentation_culprit_grow_while_its_parent_stays_flat()
    {
        // Arrange
        var (parent, culprit) = await MeasureCulpritAndParentAsync(DemoScenario.Fragmentation);

        // Act
        var parentSlope = SlopePerMinute(parent, WarmupSeconds) / MiB;
        var culpritSlope = SlopePerMinute(culprit, WarmupSeconds) / MiB;

        // Assert (by hand: parent 0.0 MB/min, culprit about 50 MB/min over 10 s, faster early on)
        Assert.True(parentSlope < 2, $"parent grows {parentSlope:F2} MiB/min; it should be flat");
        Assert.True(culpritSlope > parentSlope + 20, $"culprit grows {culpritSlope:F2} MiB/min, parent {parentSlope:F2} MiB/min");
    }

    [Fact(Timeout = 120000)]
    public async Task I_can_see_the_leak_culprit_grow_while_its_parent_stays_flat()
    {
        // Arrange
        var (parent, culprit) = await MeasureCulpritAndParentAsync(DemoScenario.Leak);

        // Act
        var parentSlope = SlopePerMinute(parent, WarmupSeconds) / MiB;
        var culpritSlope = SlopePerMinute(culprit, WarmupSeconds) / MiB;

        // Assert (by hand: parent 0.0 MB/min, culprit about 13 MB/min)
        Assert.True(parentSlope < 2, $"parent grows {parentSlope:F2} MiB/min; it should be flat");
        Assert.True(culpritSlope > parentSlope + 6, $"culprit grows {culpritSlope:F2} MiB/min, parent {parentSlope:F2} MiB/min");
    }

    [Fact(Timeout = 120000)]
    public async Task I_can_see_the_static_table_culprit_step_up_without_growing()
    {
        // Arrange
        var (parent, culprit) = await MeasureCulpritAndParentAsync(DemoScenario.StaticTable);

        // Act
        var step = (Plateau(culprit) - Plateau(parent)) / MiB;
        var culpritSlope = SlopePerMinute(culprit, WarmupSeconds) / MiB;

        // Assert (by hand: 4.3 MB vs 20.3 MB, both flat)
        Assert.True(step > 12, $"culprit's level is only {step:F2} MiB above its parent's; the table is 16 MiB");
        Assert.True(Math.Abs(culpritSlope) < 2, $"culprit grows {culpritSlope:F2} MiB/min; a static table should not grow");
    }

    private static async Task<(IReadOnlyList<(double, double)> Parent, IReadOnlyList<(double, double)> Culprit)>
        MeasureCulpritAndParentAsync(DemoScenario scenario)
    {
        using var temp = new TempDir();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(100));
        var demo = await DemoRepository.CreateAsync(temp.Sub("repo"), scenario, cts.Token);
        var parentBuild = await BuildAsync(demo.Path, demo.CulpritSha + "^", temp.Sub("parent"), cts.Token);
        var culpritBuild = await BuildAsync(demo.Path, demo.CulpritSha, temp.Sub("culprit"), cts.Token);

        var parent = await SampleRssAnonAsync(parentBuild, temp.Sub("run-parent"), RunFor, cts.Token);
        var culprit = await SampleRssAnonAsync(culpritBuild, temp.Sub("run-culprit"), RunFor, cts.Token);
        return (parent, culprit);
    }
}
