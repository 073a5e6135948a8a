using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

/// <summary>Trial length from stored trials: the feature recomputed on trials cut to shorter warm-ups and windows.</summary>
public class WindowSuggestionSpecs
{
    [Fact]
    public void I_get_a_shorter_trial_suggested_when_the_separation_is_settled_early()
    {
        // Arrange: a level step of 10 noise widths, flat from the start: a short warm-up and window separate as well
        var rng = new Random(5);
        var good = Trials(rng, 6, _ => 100, 120);
        var bad = Trials(rng, 6, _ => 110, 120);

        // Act
        var suggestion = WindowSuggestion.Compute(good, bad, FeatureKind.Level, warmupSeconds: 20)!;

        // Assert
        Assert.True(suggestion.Shorter, suggestion.Message);
        Assert.True(suggestion.Best.TrialSeconds < suggestion.Full.TrialSeconds, suggestion.Message);
        Assert.Contains("would do", suggestion.Message);
    }

    [Fact]
    public void I_can_be_told_that_a_shorter_warm_up_would_do()
    {
        // Arrange: growth of 1 unit/s on the bad side from the daemon's start, none on the good side, noise 2 units; the
        // recipe waits 60 s although nothing settles after the first few seconds
        var rng = new Random(11);
        var good = Trials(rng, 6, _ => 50, 180, noise: 2);
        var bad = Trials(rng, 6, s => 50 + s, 180, noise: 2);

        // Act
        var suggestion = WindowSuggestion.Compute(good, bad, FeatureKind.Slope, warmupSeconds: 60)!;

        // Assert
        Assert.True(suggestion.Best.WarmupSeconds < 60, suggestion.Message);
        Assert.Contains("sampling.warmup: ", suggestion.Message);
    }

    [Fact]
    public void I_keep_the_warm_up_when_the_start_up_would_blur_the_sides()
    {
        // Arrange: every trial starts with memory that is given back slowly (an amount of 0 to 300 units that decays
        // with a 25 s time constant, different in every trial, both sides alike); the bad side also grows 1 unit/s
        var rng = new Random(3);
        Func<double, double> Trial(double growth)
        {
            var startUp = rng.NextDouble() * 300;
            return s => startUp * Math.Exp(-s / 25) + growth * s;
        }
        var good = Enumerable.Range(0, 6).Select(_ => Series(rng, Trial(0), 180, 2)).ToArray();
        var bad = Enumerable.Range(0, 6).Select(_ => Series(rng, Trial(1), 180, 2)).ToArray();

        // Act
        var suggestion = WindowSuggestion.Compute(good, bad, FeatureKind.Slope, warmupSeconds: 60)!;

        // Assert: every cut with a quarter of the warm-up separates the sides less than the recipe's, none is suggested
        Assert.True(suggestion.Best.WarmupSeconds > 15, suggestion.Message);
        Assert.Contains(suggestion.Cuts, c => c.WarmupSeconds <= 15);
        Assert.All(suggestion.Cuts.Where(c => c.WarmupSeconds <= 15), c => Assert.True(c.Separation < suggestion.Full.Separation, $"{c} vs {suggestion.Full}"));
    }

    [Fact]
    public void I_am_not_offered_a_shorter_trial_from_two_trials_a_side()
    {
        // Arrange: the same settled step as above, but only two trials a side
        var rng = new Random(5);
        var good = Trials(rng, 2, _ => 100, 120);
        var bad = Trials(rng, 2, _ => 110, 120);

        // Act
        var suggestion = WindowSuggestion.Compute(good, bad, FeatureKind.Level, warmupSeconds: 20)!;

        // Assert
        Assert.False(suggestion.Shorter);
        Assert.Equal(suggestion.Full, suggestion.Best);
        Assert.Contains("too few trials", suggestion.Message);
    }

    [Fact]
    public void I_keep_the_recipes_trial_when_replays_of_the_shorter_one_name_a_wrong_commit_more_often()
    {
        // Arrange: a step that settles early, so by separation a shorter trial looks cheaper; replays say the shorter
        // cut names a wrong commit in 10 % of searches, the recipe's own in none
        var rng = new Random(5);
        var plain = WindowSuggestion.Compute(Trials(rng, 6, _ => 100, 120), Trials(rng, 6, _ => 110, 120), FeatureKind.Level, warmupSeconds: 20)!;
        var (full, shorter) = (plain.Full, plain.Best);
        Assert.True(plain.Shorter);
        ReplayedCut Replay(WindowCut c, double wrong, double slots) => new(c.WarmupSeconds, c.WindowSeconds, 1 - wrong, wrong, slots);

        // Act
        var vetoed = plain with { Replays = [Replay(shorter, 0.10, 6), Replay(full, 0, 6)], ReplaySeeds = 100 };
        var confirmed = plain with { Replays = [Replay(shorter, 0.005, 6), Replay(full, 0, 6)], ReplaySeeds = 100 };

        // Assert
        Assert.Equal(full, vetoed.Best);
        Assert.False(vetoed.Shorter);
        Assert.Contains("stays", vetoed.Message);
        Assert.Contains("a wrong commit in 10.0 %", vetoed.Message);
        Assert.Equal(shorter, confirmed.Best);
        Assert.True(confirmed.Shorter, confirmed.Message);
        Assert.Contains("100 replays", confirmed.Message);
    }

    [Fact]
    public async Task I_can_have_the_trial_length_checked_by_replaying_the_search_on_stored_trials()
    {
        // Arrange: 5 positions, the culprit at 3 with a level step of 10 noise widths, 4 stored trials each
        var rng = new Random(9);
        var trials = Enumerable.Range(0, 5).SelectMany(p => Trials(rng, 4, _ => p >= 3 ? 110 : 100, 120).Select(t => (p, t))).ToList();
        var decision = new Bisector.Recipes.DecisionSpec("rss_anon", FeatureKind.Level, Bisector.Recipes.RegressionDirection.Increase, 5);

        // Act
        var checkedLength = await Bisector.Search.Simulation.TrialLengthCheck.RunAsync(trials, candidates: 4, culprit: 3, decision,
            warmupSeconds: 20, repeats: 3, cap: 12, workers: 2, seeds: 20);

        // Assert: the recipe's own cut and the cheapest others were replayed, every replay found the step
        Assert.NotNull(checkedLength);
        Assert.Contains(checkedLength.Replays, r => r.Is(checkedLength.Full));
        Assert.True(checkedLength.Replays.Count >= 2);
        Assert.All(checkedLength.Replays, r => Assert.True(r.Correct >= 0.9, $"{r}"));
        Assert.Contains("replays of this run's search", checkedLength.Message);
    }

    private static TrialSeries[] Trials(Random rng, int count, Func<double, double> level, int seconds, double noise = 1) =>
        Enumerable.Range(0, count).Select(_ => Series(rng, level, seconds, noise)).ToArray();

    private static TrialSeries Series(Random rng, Func<double, double> level, int seconds, double noise) =>
        new(Enumerable.Range(1, seconds).Select(i => (double)i).ToArray(),
            Enumerable.Range(1, seconds).Select(i => level(i) + noise * Gaussian(rng)).ToArray());

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
