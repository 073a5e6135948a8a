using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Statistics;

namespace Bisector.Tests.Diagnosis;

/// <summary>
/// The statistics of diagnosis by experiment on synthetic series shaped like the demo's measurements (4.3 MiB flat for
/// a good build, 11.5 MiB for the fragmenting culprit): what each experiment concludes and how the line sums it up.
/// </summary>
public sealed class ExperimentAnalysisSpecs
{
    private const double MiB = 1048576;

    private static readonly Bisector.Recipes.Recipe Recipe = ScenarioMeasurement.DemoRecipe(heapCounters: true);

    [Fact]
    public void I_can_see_the_growth_disappear_under_an_allocator_that_removes_it()
    {
        // Arrange: under jemalloc both builds sit at 4.3 MiB; as built the culprit reached 11.5 MiB
        var trials = new ExperimentTrials(Side(5, 4.3, foreign: 1), Side(5, 4.3, foreign: 1), []);

        // Act
        var result = ExperimentAnalysis.Analyse(Experiment.Jemalloc, trials, Side(5, 11.5), Recipe, 0.01);

        // Assert
        Assert.Equal(ExperimentFinding.GrowthGone, result.Finding);
        Assert.Equal(Verdict.Same, result.Regression!.Verdict);
        Assert.Equal(Verdict.Improved, result.VersusBuilt!.Verdict);
        Assert.InRange(result.VersusBuilt.Effect / MiB, -7.4, -7.0);
        Assert.Equal(10, result.TrialsSpent);
        Assert.Null(result.Caveat);
    }

    [Fact]
    public void I_can_see_a_leak_stay_under_every_change_of_allocator()
    {
        // Arrange: the culprit still climbs to 6.8 MiB with a pinned mmap threshold
        var trials = new ExperimentTrials(Side(5, 4.3), Side(5, 6.8), []);

        // Act
        var result = ExperimentAnalysis.Analyse(Experiment.MmapThreshold, trials, Side(5, 6.8), Recipe, 0.01);

        // Assert
        Assert.Equal(ExperimentFinding.GrowthStays, result.Finding);
        Assert.Equal(Verdict.Regressed, result.Regression!.Verdict);
    }

    [Fact]
    public void I_can_read_how_much_of_the_growth_a_trim_returns()
    {
        // Arrange: at 5 s the shim trims; the culprit drops from ~11 MiB to ~5 MiB, the good build from 4.3 to 4.2 MiB
        var trials = new ExperimentTrials(
            Enumerable.Range(0, 3).Select(i => Trimmed(4.3 + i * 0.01, 4.2)).ToList(),
            Enumerable.Range(0, 3).Select(i => Trimmed(11.0 + i * 0.01, 5.0)).ToList(),
            []);

        // Act
        var result = ExperimentAnalysis.Analyse(Experiment.Trim, trials, Side(3, 11.5), Recipe, 0.01);

        // Assert: 6.0 of the 6.7 MiB grown come back, minus the good build's own 0.1 MiB
        Assert.NotNull(result.Trim);
        Assert.InRange(result.Trim!.ReturnedCulprit / MiB, 5.9, 6.1);
        Assert.InRange(result.Trim.ReturnedGood / MiB, 0.05, 0.15);
        Assert.InRange(result.Trim.Share, 0.85, 0.9);
    }

    [Fact]
    public void I_can_read_what_a_trim_returns_when_samples_are_a_second_apart()
    {
        // Arrange: the journald recipe samples every 1 s; its shim trimmed in all 10 trials of a real run, the first
        // record with trims=1 at 151.0 s, the last RSS sample before it at 150.0 s (no sample in the half second before)
        var trials = new ExperimentTrials(
            Enumerable.Range(0, 3).Select(i => Trimmed(0.9 + i * 0.01, 0.85, interval: 1.0, trimAt: 151)).ToList(),
            Enumerable.Range(0, 3).Select(i => Trimmed(2.3 + i * 0.01, 0.9, interval: 1.0, trimAt: 151)).ToList(),
            []);

        // Act
        var result = ExperimentAnalysis.Analyse(Experiment.Trim, trials, Side(3, 2.3), Recipe, 0.01);

        // Assert: it ran, and measured 1.4 MiB back from the culprit, 0.05 MiB from the good build
        Assert.NotEqual(ExperimentFinding.NotRun, result.Finding);
        Assert.NotNull(result.Trim);
        Assert.InRange(result.Trim!.ReturnedCulprit / MiB, 1.35, 1.45);
        Assert.InRange(result.Trim.ReturnedGood / MiB, 0.03, 0.08);
    }

    [Fact]
    public void I_am_told_an_allocator_did_not_take_effect_rather_than_given_its_numbers()
    {
        // Arrange: the shim saw glibc's malloc in every trial (the preload was ignored)
        var trials = new ExperimentTrials(Side(3, 4.3, foreign: 0), Side(3, 11.5, foreign: 0), []);

        // Act
        var result = ExperimentAnalysis.Analyse(Experiment.Tcmalloc, trials, Side(3, 11.5), Recipe, 0.01);

        // Assert
        Assert.Equal(ExperimentFinding.NotRun, result.Finding);
        Assert.Contains("glibc still served malloc()", result.NotRun);
    }

    [Fact]
    public void I_am_told_why_an_experiment_whose_every_trial_failed_could_not_run()
    {
        // Arrange
        var why = "DaemonCrashed on ssh://root@10.0.0.2: bisector experiment jemalloc: libjemalloc.so.2 cannot be preloaded on w2 (apt-get install libjemalloc2)";
        var trials = new ExperimentTrials([], [], [why, why]);

        // Act
        var result = ExperimentAnalysis.Analyse(Experiment.Jemalloc, trials, Side(3, 11.5), Recipe, 0.01);
        var report = new ExperimentsReport(new string('a', 40), new string('b', 40), true, 7 * MiB, [result]);

        // Assert
        Assert.Equal(ExperimentFinding.NotRun, result.Finding);
        Assert.Contains("apt-get install libjemalloc2", result.NotRun);
        Assert.Equal("no experiment could run (could not run: jemalloc)", report.Headline);
        Assert.Contains("not run — every trial failed", report.Describe());
    }

    [Fact]
    public void I_get_one_line_naming_what_removed_the_growth_and_what_the_trim_returned()
    {
        // Arrange, Act
        var report = FragmentationReport();

        // Assert
        Assert.Equal(
            "the growth disappears under jemalloc and with glibc.malloc.mmap_threshold=131072: fragmentation of glibc's heap (memory free but held), " +
            "not a leak; trim returns 88 % of the growth (could not run: tcmalloc)", report.Headline);
        Assert.Contains("tcmalloc (under tcmalloc), 0 trials: not run — libtcmalloc_minimal.so.4 is not installed", report.Describe());
        Assert.Contains("returned by the trim, culprit vs good: the culprit's is larger, effect +5.", report.Describe());
    }

    /// <summary>Jemalloc and a pinned mmap threshold remove a fragmentation culprit's growth (7.2 MiB as built), the trim
    /// returns ~6.1 MiB of it against ~0.1 MiB for the good build, tcmalloc is not installed.</summary>
    internal static ExperimentsReport FragmentationReport()
    {
        var gone = ExperimentAnalysis.Analyse(Experiment.Jemalloc, new ExperimentTrials(Side(5, 4.3, 1), Side(5, 4.3, 1), []), Side(5, 11.5), Recipe, 0.01);
        var pinned = ExperimentAnalysis.Analyse(Experiment.MmapThreshold, new ExperimentTrials(Side(5, 4.3), Side(5, 4.4), []), Side(5, 11.5), Recipe, 0.01);
        var trim = ExperimentAnalysis.Analyse(Experiment.Trim,
            new ExperimentTrials(
                Enumerable.Range(0, 5).Select(i => Trimmed(4.3 + i * 0.01, 4.2)).ToList(),
                Enumerable.Range(0, 5).Select(i => Trimmed(11.0 + i * 0.01, 5.0)).ToList(), []),
            Side(5, 11.5), Recipe, 0.01);
        var skipped = new ExperimentResult(Experiment.Tcmalloc, ExperimentFinding.NotRun, 0, "libtcmalloc_minimal.so.4 is not installed", null, null, null, null);
        return new ExperimentsReport(new string('a', 40), new string('b', 40), true, 7 * MiB, [gone, skipped, pinned, trim]);
    }

    [Fact]
    public void I_can_read_a_slope_recipes_experiment_effects_per_minute_and_the_trims_bytes_in_MiB()
    {
        // Arrange: the journald recipe decides on rss_anon's slope; its experiment effects are rates, the trim's are bytes
        var report = FragmentationReport() with { Scale = FeatureScale.For(Metrics.RssAnon, FeatureKind.Slope) };

        // Act
        var text = report.Describe();

        // Assert
        Assert.Matches(@"regression: Same, effect [+-]?\d+\.\d+ \[[^\]]+\] MiB/min at", text);
        Assert.Matches(@"returned by the trim, culprit vs good: the culprit's is larger, effect \+\d+\.\d+ \[[^\]]+\] MiB at", text);
    }

    [Fact]
    public void I_get_a_level_step_called_a_step_not_growth()
    {
        // Arrange: as built, the culprit is 16 MiB higher from the start and flat
        var good = Side(3, 4.3);
        var culprit = Side(3, 20.3);
        var stays = ExperimentAnalysis.Analyse(Experiment.Jemalloc, new ExperimentTrials(Side(5, 4.3, 1), Side(5, 20.3, 1), []), culprit, Recipe, 0.01);

        // Act
        var (growth, step) = ExperimentAnalysis.Growth(good, culprit, Recipe);
        var report = new ExperimentsReport(new string('a', 40), new string('b', 40), growth, step, [stays]);

        // Assert
        Assert.False(growth);
        Assert.Equal("no growth to explain: a level step of 16.00 MiB; the step stays under jemalloc", report.Headline);
    }

    [Fact]
    public void I_can_derive_an_experiment_recipe_that_keeps_the_recipes_own_preload_and_tunables()
    {
        // Arrange
        var recipe = Recipe with
        {
            Run = Recipe.Run with { Env = new Dictionary<string, string> { ["LD_PRELOAD"] = "libmine.so", ["GLIBC_TUNABLES"] = "glibc.malloc.tcache_count=0" } },
            Sampling = Recipe.Sampling with { HeapCounters = false },
        };

        // Act
        var jemalloc = Experiment.Jemalloc.Derive(recipe);
        var pinned = Experiment.MmapThreshold.Derive(recipe);
        var trim = Experiment.Trim.Derive(recipe);

        // Assert: the allocator binds malloc before the recipe's library; tunables are appended; every hash differs
        Assert.Equal("libjemalloc.so.2 libmine.so", jemalloc.Run.Env["LD_PRELOAD"]);
        Assert.Equal("glibc.malloc.tcache_count=0:glibc.malloc.mmap_threshold=131072", pinned.Run.Env["GLIBC_TUNABLES"]);
        Assert.Equal("6.5", trim.Run.Env[Experiment.TrimAtEnv]); // 2 s warm-up + 0.75 × 6 s window
        Assert.All([jemalloc, pinned, trim], r => Assert.True(r.Sampling.HeapCounters));
        Assert.Equal(4, new[] { recipe.Hash, jemalloc.Hash, pinned.Hash, trim.Hash }.Distinct().Count());
        Assert.EndsWith("\n" + recipe.Run.Command, jemalloc.Run.Command);
        Assert.Equal(recipe.Run.Command, pinned.Run.Command);
    }

    [Theory]
    [InlineData(0.01, 5)]
    [InlineData(0.05, 4)]
    [InlineData(0.001, 7)]
    public void I_get_the_smallest_first_batch_that_can_decide_at_the_runs_alpha(double alpha, int perSide)
    {
        // Act
        var first = Experimenter.FirstBatch(alpha);

        // Assert: and one trial fewer per side could not reach p < α at all
        Assert.Equal(perSide, first);
        var (good, bad) = (Enumerable.Range(0, first - 1).Select(i => (double)i).ToList(), Enumerable.Range(100, first - 1).Select(i => (double)i).ToList());
        Assert.True(MannWhitney.Test(good, bad).PValue >= alpha);
    }

    [Fact]
    public void I_get_a_clear_error_for_an_unknown_experiment_name()
    {
        // Act
        var error = Assert.Throws<UsageException>(() => Experiment.Select(["jemalloc,mimalloc"], "--only"));

        // Assert
        Assert.Equal("--only: 'mimalloc' is not an experiment. use some of: jemalloc, tcmalloc, mmap_threshold=131072, trim_threshold=131072, arena_max=1, trim", error.Message);
    }

    private static List<IReadOnlyDictionary<string, TrialSeries>> Side(int trials, double mib, double? foreign = null) =>
        Enumerable.Range(0, trials).Select(i => Trial(t => (mib + i * 0.01) * MiB, foreign)).ToList();

    // The trim at 5 s: RSS is `before` until then and `after` from the sample that first shows trims=1.
    private static IReadOnlyDictionary<string, TrialSeries> Trimmed(double before, double after, double interval = 0.1, double trimAt = 5)
    {
        var seconds = Enumerable.Range(0, (int)Math.Round(2 * trimAt / interval) + 1).Select(i => Math.Round(i * interval, 1)).ToList();
        return new Dictionary<string, TrialSeries>
        {
            [Metrics.RssAnon] = new(seconds, seconds.Select(t => (t < trimAt ? before : after) * MiB).ToList()),
            [Metrics.HeapTrims] = new(seconds, seconds.Select(t => t < trimAt ? 0.0 : 1.0).ToList()),
        };
    }

    private static IReadOnlyDictionary<string, TrialSeries> Trial(Func<double, double> rss, double? foreign)
    {
        var seconds = Seconds();
        var trial = new Dictionary<string, TrialSeries> { [Metrics.RssAnon] = new(seconds, seconds.Select(rss).ToList()) };
        if (foreign is { } f)
            trial[Metrics.HeapForeignMalloc] = new TrialSeries(seconds, seconds.Select(_ => f).ToList());
        return trial;
    }

    private static List<double> Seconds() => Enumerable.Range(0, 81).Select(i => Math.Round(i * 0.1, 1)).ToList();
}
