using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Tests.Storage;

namespace Bisector.Tests.Diagnosis;

/// <summary>
/// A decision on a decrease names a fix; its diagnosis must say what went away. The numbers are the journald hunt's
/// (issue 19, 5aaa55d841 "fileio: start with 4k buffer for procfs"): 60 s warm-up, 120 s window, slope decision with a
/// 200 KiB/min min-effect; the good side's rss_anon grows +0.5 MiB/min with free space in the arena at 4.9 MiB, a heap
/// of 5.4 MiB and 10161 requests of 1 MiB or more a minute; the fix is flat with 0.6 MiB free, a 1.2 MiB heap and 75.
/// </summary>
public sealed class FixDiagnosisSpecs : IAsyncLifetime
{
    private const double MiB = 1024 * 1024;
    private readonly string _directory = Directory.CreateTempSubdirectory("bisector-fixdiag-").FullName;
    private ResultsStore _store = null!;

    public async Task InitializeAsync() => _store = await ResultsStore.OpenAsync(Path.Combine(_directory, "bisector.db"));

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>One trial, 1 Hz for 180 s; levels are the window's last-third medians (100 s after the warm-up).</summary>
    private static Dictionary<string, TrialSeries> Trial(double rssLevel, double rssSlope, double inUse, double freeLevel, double freeSlope, double bigPerMinute, double jitter)
    {
        var t = Enumerable.Range(0, 181).Select(i => (double)i).ToList();
        TrialSeries S(Func<double, double> f) => new(t, t.Select(f).ToList());
        double Linear(double level, double slope, double s) => (level + slope * (s - 160) / 60 + jitter) * MiB;
        return new Dictionary<string, TrialSeries>
        {
            [Metrics.RssAnon] = S(s => Linear(rssLevel, rssSlope, s)),
            [Metrics.HeapInUse] = S(_ => inUse * MiB),
            [Metrics.HeapFree] = S(s => Linear(freeLevel, freeSlope, s)),
            [Metrics.HeapArena] = S(s => inUse * MiB + Linear(freeLevel, freeSlope, s)),
            [Metrics.HeapMmapped] = S(_ => 0),
            [Metrics.HeapBigRequests] = S(s => Math.Floor(bigPerMinute * s / 60)),
            [Metrics.HeapReallocShrinks] = S(s => Math.Floor(3 * s / 60)),
        };
    }

    [Fact]
    public async Task I_can_see_a_fix_diagnosed_as_the_growth_stopping_inside_the_malloc_heap()
    {
        // Arrange: three stored trials a side, the fix at position 1
        var recipe = StoredRun.Recipe("  metric: rss_anon\n  feature: slope\n  direction: decrease\n  min-effect: 204800",
            "sampling:\n  warmup: 60s\n  window: 120s\n  heap-counters: true");
        var run = await StoredRun.CreateAsync(_store, recipe, candidates: 1);
        for (var i = 0; i < 3; i++)
        {
            await run.AddTrialAsync(0, i, Trial(2.7, 0.5, 0.5, 4.9, 0.5, 10161, 0.01 * i));
            await run.AddTrialAsync(1, i, Trial(1.4, 0.08, 0.6, 0.6, 0.0, 75, 0.01 * i));
        }

        var outcome = new SearchOutcome(SearchStatus.Found, 1, 1, 1, 0.99, null, [1.0], new Dictionary<int, Comparison>(), [], 6, false, "Found");

        // Act
        var row = await Diagnoser.DiagnoseAsync(_store, run.Id, recipe, run.Line, outcome, "/nonexistent/repo", ["src"], profile: false, _ => { });

        // Assert: the fix is what it is, named from the same detail lines a regression gets
        Assert.NotNull(row);
        Assert.Equal(GrowthKind.Fragmentation, row!.Kind);
        Assert.Equal(
            "the growth stops, heap fragmentation is gone: rss_anon +0.5 → +0.1 MiB/min; inside the malloc heap: free in the arena 4.9 → 0.6 MiB, " +
            "the heap 5.4 → 1.2 MiB, in-use 0.5 → 0.6 MiB; the big-block/realloc pattern is gone: the good side requests blocks of 1 MiB or more " +
            "10161 times a minute (now: 75)", row.Headline);
        Assert.DoesNotContain("level step", row.Headline);
        Assert.DoesNotContain("outside the malloc heap", row.Headline);
        Assert.Contains("free inside the arena: good 4.9 MiB, +0.5 MiB/min; bad 0.6 MiB, 0.0 MiB/min", row.Details);
        Assert.Contains("requests of 1 MiB or more: good 10161/min, bad 75/min", row.Details);
    }

    [Fact]
    public void I_can_see_a_leak_fix_and_a_step_down_named_for_a_decrease()
    {
        // Arrange: before, in-use grows 3 MiB/min; the fix holds it flat. Separately, a static table of 8 MiB removed.
        var leaky = SideFigures.From([Trial(9, 3, 0, 0.2, 0, 0, 0)], Metrics.RssAnon, 60)!;
        var leakyInUse = leaky with { InUseSlope = 3 * MiB, InUseEarlySlope = 3 * MiB, InUseLateSlope = 3 * MiB, InUseLevel = 8 * MiB };
        var fixedSide = SideFigures.From([Trial(4, 0, 3.6, 0.2, 0, 0, 0)], Metrics.RssAnon, 60)!;
        var bigger = SideFigures.From([Trial(12, 0, 3.6, 0.2, 0, 0, 0)], Metrics.RssAnon, 60)!;

        // Act
        var leakFix = MemoryDiagnosis.Classify(leakyInUse, fixedSide, direction: Bisector.Recipes.RegressionDirection.Decrease);
        var stepDown = MemoryDiagnosis.Classify(bigger, fixedSide, direction: Bisector.Recipes.RegressionDirection.Decrease);
        var sameAsRegression = MemoryDiagnosis.Classify(leakyInUse, fixedSide);

        // Assert
        Assert.Equal(GrowthKind.Leak, leakFix.Kind);
        Assert.StartsWith("the leak is gone: heap in-use grew +3.0 MiB/min before, 0.0 MiB/min now; rss_anon +3.0 → 0.0 MiB/min", leakFix.Headline);
        Assert.Equal(GrowthKind.LevelStep, stepDown.Kind);
        Assert.StartsWith("level step without growth: rss_anon -8.0 MiB (12.0 → 4.0 MiB)", stepDown.Headline);
        Assert.Contains("outside the malloc heap", stepDown.Headline);
        // Read as an increase, the same pair has no growth to explain: only the direction makes the fix visible.
        Assert.NotEqual(GrowthKind.Leak, sameAsRegression.Kind);
    }
}
