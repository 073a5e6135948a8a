using Bisector.Recipes;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;

namespace Bisector.Tests.Search;

/// <summary>Strategies on simulated series (the search is pure: no process, git or build is involved).</summary>
public class SearchEngineSpecs
{
    private const double Iqr = 530e3; // about one IQR of the simulator's per-trial mean

    private static SearchOptions Options(SearchStrategy strategy, double minEffect, FeatureKind feature = FeatureKind.Plateau,
        RegressionDirection direction = RegressionDirection.Increase, int workers = 3) =>
        new(strategy, workers, new DecisionSpec("vm_rss", feature, direction, minEffect), 20);

    [Theory]
    [InlineData(SearchStrategy.Bisect)]
    [InlineData(SearchStrategy.Kary)]
    [InlineData(SearchStrategy.Exhaustive)]
    public async Task I_can_find_the_commit_that_stepped_memory_up(SearchStrategy strategy)
    {
        // Arrange: 2 IQR step at position 13 of 20
        var sim = new MemorySimulator(new SimulationScenario(20, 13, 2 * Iqr, 0, [4]), seed: 5);

        // Act
        var outcome = await SearchEngine.RunAsync(20, sim.MeasureAsync, Options(strategy, Iqr));

        // Assert
        Assert.Equal(SearchStatus.Found, outcome.Status);
        Assert.Equal(13, outcome.Culprit);
        Assert.True(outcome.Confidence >= 0.95);
        Assert.Equal(Verdict.Regressed, outcome.Boundary!.Verdict);
        Assert.Equal(20, outcome.Posterior.Count);
        Assert.Equal(1, outcome.Posterior.Sum(), 9);
        Assert.Equal(sim.TrialsRun, outcome.TrialsSpent);
    }

    [Fact]
    public async Task I_can_issue_a_k_ary_round_as_one_parallel_request()
    {
        // Arrange: record the size of every call the search makes
        var sim = new MemorySimulator(new SimulationScenario(60, 41, 2 * Iqr, 0, []), seed: 9);
        var callSizes = new List<int>();
        Task<IReadOnlyList<PositionEvidence>> Measure(IReadOnlyList<MeasureRequest> r, CancellationToken ct)
        {
            callSizes.Add(r.Count);
            return sim.MeasureAsync(r, ct);
        }

        // Act
        var outcome = await SearchEngine.RunAsync(60, Measure, Options(SearchStrategy.Kary, Iqr, workers: 3));

        // Assert: rounds of 3 positions at once, and fewer rounds than plain bisection needs for 60 commits
        Assert.Equal(41, outcome.Culprit);
        Assert.Contains(3, callSizes);
        Assert.Equal(callSizes.Count, outcome.Rounds.Count);
    }

    [Fact]
    public async Task I_can_find_a_change_in_growth_rate_on_the_slope()
    {
        // Arrange: from position 7 memory grows 400 KiB/min more; the level at start is unchanged
        var sim = new MemorySimulator(new SimulationScenario(12, 7, 0, 400 * 1024, []), seed: 2);

        // Act
        var outcome = await SearchEngine.RunAsync(12, sim.MeasureAsync, Options(SearchStrategy.Exhaustive, 100 * 1024, FeatureKind.Slope));

        // Assert: found, and the change points show it on the slope
        Assert.Equal(7, outcome.Culprit);
        Assert.Contains(outcome.ChangePoints, c => c.Feature == FeatureKind.Slope && c.Position == 7);
    }

    [Fact]
    public async Task I_can_see_a_level_step_only_on_the_plateau_in_exhaustive_mode()
    {
        // Arrange
        var sim = new MemorySimulator(new SimulationScenario(12, 5, 3 * Iqr, 0, []), seed: 4);

        // Act
        var outcome = await SearchEngine.RunAsync(12, sim.MeasureAsync, Options(SearchStrategy.Exhaustive, Iqr));

        // Assert
        Assert.Equal(5, outcome.Culprit);
        Assert.Contains(outcome.ChangePoints, c => c.Feature == FeatureKind.Plateau && c.Position == 5);
        Assert.DoesNotContain(outcome.ChangePoints, c => c.Feature == FeatureKind.Slope);
    }

    [Fact]
    public async Task I_get_a_blame_range_when_the_culprits_neighbours_cannot_be_built()
    {
        // Arrange: 6 and 7 unbuildable, culprit 8
        var sim = new MemorySimulator(new SimulationScenario(16, 8, 2 * Iqr, 0, [6, 7]), seed: 3);

        // Act
        var outcome = await SearchEngine.RunAsync(16, sim.MeasureAsync, Options(SearchStrategy.Bisect, Iqr));

        // Assert
        Assert.Equal(SearchStatus.FoundRange, outcome.Status);
        Assert.Null(outcome.Culprit);
        Assert.Equal((6, 8), (outcome.RangeFirst, outcome.RangeLast));
    }

    [Fact]
    public async Task I_get_NoRegression_when_the_bad_end_is_not_worse()
    {
        // Arrange: no change anywhere, a minimum effect of 2 IQR
        var sim = new MemorySimulator(new SimulationScenario(30, null, 0, 0, []), seed: 8);

        // Act
        var outcome = await SearchEngine.RunAsync(30, sim.MeasureAsync, Options(SearchStrategy.Bisect, 2 * Iqr));

        // Assert: only the ends were measured
        Assert.Equal(SearchStatus.NoRegression, outcome.Status);
        Assert.Equal(Verdict.Same, outcome.Boundary!.Verdict);
        Assert.All(outcome.Rounds, r => Assert.Equal([0, 30], r.Positions));
    }

    [Fact]
    public async Task I_get_NoRegression_when_the_trials_gathered_during_the_search_take_back_a_false_alarm_at_the_ends()
    {
        // Arrange: nothing changes, but in this seed the ends first differ by chance (a 1 % event at α = 0.01), so the
        // search starts; the anchors keep gaining trials as it goes
        var sim = new MemorySimulator(new SimulationScenario(30, null, 0, 0, []), seed: 336);

        // Act
        var outcome = await SearchEngine.RunAsync(30, sim.MeasureAsync, Options(SearchStrategy.Bisect, Iqr, FeatureKind.Level));

        // Assert: commits between the ends were measured, then the ends said "Same" and nothing was blamed
        Assert.Contains(outcome.Rounds, r => r.Positions.Any(p => p is > 0 and < 30));
        Assert.Equal(SearchStatus.NoRegression, outcome.Status);
        Assert.Null(outcome.Culprit);
        Assert.Equal(Verdict.Same, outcome.Boundary!.Verdict);
        Assert.Contains("with the trials gathered since", outcome.Summary);
    }

    [Fact]
    public async Task I_get_Undecided_instead_of_every_commit_at_the_cap_when_the_ends_stop_differing()
    {
        // Arrange: another chance difference at the ends, which at 40 trials each is neither Regressed nor Same; the
        // posterior stays diffuse, and the first version measured all 30 commits to the cap (1,065 trials, 200 rounds)
        var sim = new MemorySimulator(new SimulationScenario(30, null, 0, 0, []), seed: 351);

        // Act
        var outcome = await SearchEngine.RunAsync(30, sim.MeasureAsync, Options(SearchStrategy.Bisect, Iqr, FeatureKind.Level));

        // Assert
        Assert.Equal(SearchStatus.Undecided, outcome.Status);
        Assert.Null(outcome.Culprit);
        Assert.True(outcome.TrialCapHit);
        Assert.Contains("no longer differ clearly", outcome.Summary);
        Assert.InRange(outcome.TrialsSpent, 80, 600);
    }

    [Fact]
    public async Task I_get_NoRegression_when_a_decrease_recipe_sees_memory_go_up()
    {
        // Arrange: a recipe where lower is the regression (e.g. a cache that should stay warm); memory goes up
        var sim = new MemorySimulator(new SimulationScenario(10, 4, 3 * Iqr, 0, []), seed: 1);

        // Act
        var decrease = await SearchEngine.RunAsync(10, sim.MeasureAsync, Options(SearchStrategy.Bisect, Iqr, direction: RegressionDirection.Decrease));

        // Assert
        Assert.Equal(SearchStatus.NoRegression, decrease.Status);
        Assert.Equal(Verdict.Improved, decrease.Boundary!.Verdict);
    }

    [Fact]
    public async Task I_get_Undecided_on_pure_noise_and_never_a_culprit()
    {
        // Arrange: no change, and a zero minimum effect so "Same" cannot be shown either
        var sim = new MemorySimulator(new SimulationScenario(30, null, 0, 0, []), seed: 6);

        // Act
        var outcome = await SearchEngine.RunAsync(30, sim.MeasureAsync, Options(SearchStrategy.Bisect, 0));

        // Assert
        Assert.Equal(SearchStatus.Undecided, outcome.Status);
        Assert.Null(outcome.Culprit);
        Assert.True(outcome.TrialCapHit);
    }

    [Fact]
    public async Task I_get_Undecided_when_the_budget_is_spent_before_the_posterior_is_confident()
    {
        // Arrange: a small effect and a budget of 40 trials
        var sim = new MemorySimulator(new SimulationScenario(200, 120, 1.2 * Iqr, 0, []), seed: 12);
        var options = Options(SearchStrategy.Bisect, 0.3 * Iqr) with { TrialBudget = 40 };

        // Act
        var outcome = await SearchEngine.RunAsync(200, sim.MeasureAsync, options);

        // Assert: no commit is named with the requested confidence
        Assert.NotEqual(SearchStatus.Found, outcome.Status);
        Assert.Null(outcome.Culprit);
    }

    [Fact]
    public async Task I_get_the_same_outcome_for_the_same_seed()
    {
        // Arrange
        var first = new MemorySimulator(new SimulationScenario(50, 31, 1.5 * Iqr, 0, [10, 30]), seed: 21);
        var second = new MemorySimulator(new SimulationScenario(50, 31, 1.5 * Iqr, 0, [10, 30]), seed: 21);

        // Act
        var a = await SearchEngine.RunAsync(50, first.MeasureAsync, Options(SearchStrategy.Bisect, 0.5 * Iqr));
        var b = await SearchEngine.RunAsync(50, second.MeasureAsync, Options(SearchStrategy.Bisect, 0.5 * Iqr));

        // Assert
        Assert.Equal(a.Summary, b.Summary);
        Assert.Equal(a.Posterior, b.Posterior);
        Assert.Equal(a.TrialsSpent, b.TrialsSpent);
    }

    [Fact]
    public async Task I_get_a_usage_error_for_an_empty_range_or_bad_options()
    {
        // Arrange
        var sim = new MemorySimulator(new SimulationScenario(5, null, 0, 0, []), seed: 1);

        // Act / Assert
        await Assert.ThrowsAsync<UsageException>(() => SearchEngine.RunAsync(0, sim.MeasureAsync, Options(SearchStrategy.Bisect, 1)));
        var error = await Assert.ThrowsAsync<UsageException>(() =>
            SearchEngine.RunAsync(5, sim.MeasureAsync, Options(SearchStrategy.Bisect, 1) with { InitialTrials = 1 }));
        Assert.Equal("--repeats", error.Option);
    }

    [Fact]
    public async Task I_can_render_a_benchmark_table_against_both_baselines()
    {
        // Arrange: a tiny run (the full one is in docs/benchmarks-search.md)
        var options = new BenchmarkOptions(Seeds: 3, Sizes: [10]);

        // Act
        var table = await SearchBenchmark.RunAsync(options);

        // Assert
        Assert.Contains("| N=10, level step | Bisector bisect |", table);
        Assert.Contains("git bisect", table);
        Assert.Contains("Pinpoint-like", table);
        Assert.Contains("A/A", table);
    }
}
