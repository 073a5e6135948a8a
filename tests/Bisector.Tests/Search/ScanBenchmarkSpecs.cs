using Bisector.Search.Simulation;
using Bisector.Statistics;

namespace Bisector.Tests.Search;

/// <summary>`bench scan`: the scan for further changes on simulated ranges (pure computation: no process, git or build).</summary>
public class ScanBenchmarkSpecs
{
    [Fact]
    public void I_can_simulate_a_later_fix_that_takes_back_part_of_the_step()
    {
        // Arrange: a 4 MB step at 3, and a fix of 3 MB at 6, of 8 candidates
        var sim = new MemorySimulator(new SimulationScenario(8, 3, 4e6, 0, [], LaterChanges: [new LevelChange(6, -3e6)]), seed: 9);

        // Act: the median level of 15 trials before the step, between the two changes, and after the fix
        double Level(int p) => Robust.Median(Enumerable.Range(0, 15).Select(k => Features.Extract(sim.Trial(p, k), FeatureKind.Level, 20)).ToArray());
        var (before, between, after) = (Level(2), Level(4), Level(7));

        // Assert: up by about 4 MB, then down by about 3 MB (the trials' noise is 0.3 MB)
        Assert.InRange(between - before, 3e6, 5e6);
        Assert.InRange(between - after, 2e6, 4e6);
    }

    [Fact(Timeout = 600_000)]
    public async Task I_can_measure_that_the_scan_finds_both_changes_of_a_large_effect_and_nothing_else()
    {
        // Arrange: 10-IQR changes (a large effect, like the demo's), 4 seeds at 12 candidates

        // Act
        var rows = await ScanBenchmark.MeasureAsync(seeds: 4, sizes: [12], effectInIqr: 10, firstSeed: 1);

        // Assert: one change, two worse changes, a rise and a partial fix; every named search's scan finds each change
        // of its range, the earlier worse one is the answer, and nothing else is reported
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r =>
        {
            Assert.True(r.Named >= 2, $"{r.Setting}: {r.Named} of {r.Seeds} searches named one culprit");
            Assert.Equal(r.Named, r.AnswerRight);
            Assert.Equal(0, r.SearchWrong + r.FalseWorse + r.FalseBetter);
        });
        Assert.Equal(rows[1].Named, rows[1].BothFound);
        Assert.Equal(rows[2].Named, rows[2].BothFound);
    }
}
