using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search.Simulation;

/// <summary>
/// Whether shorter trials would have served a finished run, checked the way the search would meet them: the cuts of
/// <see cref="WindowSuggestion"/> that look cheapest by their separation, and the recipe's own, are each replayed
/// (<see cref="ReplayBenchmark"/>: the search re-run on every stored trial's feature at that cut, resampled) and the
/// suggestion rests on how soon, and how rightly, those searches named the run's culprit.
/// </summary>
public static class TrialLengthCheck
{
    /// <summary>Cuts replayed besides the recipe's own: the cheapest by separation.</summary>
    public const int Replayed = 5;

    /// <param name="trials">Every Ok trial of the run's search, by position.</param>
    /// <param name="candidates">The run's candidate count (the bad end's position).</param>
    public static async Task<WindowSuggestion?> RunAsync(IReadOnlyList<(int Position, TrialSeries Series)> trials, int candidates, int culprit,
        DecisionSpec decision, double warmupSeconds, int repeats, int cap, int workers, int seeds, CancellationToken ct = default)
    {
        var suggestion = WindowSuggestion.AroundCulprit(trials, culprit, decision.Feature, warmupSeconds, cap: cap);
        if (suggestion is null || suggestion.GoodTrials < WindowSuggestion.MinTrialsPerSide || suggestion.BadTrials < WindowSuggestion.MinTrialsPerSide)
            return suggestion;
        var replays = new List<ReplayedCut>();
        foreach (var cut in suggestion.Cuts.OrderBy(c => c.Cost).Take(Replayed).Append(suggestion.Full).Distinct())
        {
            var values = trials.GroupBy(t => t.Position).ToDictionary(g => g.Key,
                g => g.Select(t => WindowSuggestion.FeatureAt(t.Series, decision.Feature, cut.WarmupSeconds, cut.WindowSeconds)).Where(double.IsFinite).ToArray());
            var source = new ReplaySource($"{cut.WarmupSeconds:0}+{cut.WindowSeconds:0}", candidates, culprit, values, decision, repeats, cap, cut.TrialSeconds);
            var result = await ReplayBenchmark.RunAsync(source, seeds, Math.Max(1, workers), ct: ct);
            replays.Add(new ReplayedCut(cut.WarmupSeconds, cut.WindowSeconds, result.Correct / (double)seeds, result.Wrong / (double)seeds, result.Slots));
        }

        return suggestion with { Replays = replays, ReplaySeeds = seeds };
    }
}
