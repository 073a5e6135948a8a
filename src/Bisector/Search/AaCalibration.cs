using System.Globalization;
using Bisector.Statistics;

namespace Bisector.Search;

/// <param name="Position">The real position whose build was measured on both sides.</param>
/// <param name="Search">The search run with that build as both good and bad end (one candidate): exactly the
/// decision a real run makes first, so its verdict is what a real run would have concluded.</param>
/// <param name="FalsePositive">The search named a regression (or an improvement) where nothing changed.</param>
/// <param name="Resampled">Per-comparison false-positive rate over random halves of all trials taken, at the
/// initial batch size; null when fewer than two batches were measured.</param>
public sealed record CalibrationOutcome(
    int Position,
    SearchOutcome Search,
    bool FalsePositive,
    CalibrationResult? Resampled,
    BimodalityWarning? Bimodal,
    string Summary)
{
    /// <summary>The build's trials in the order they ran, tested for drift in time and between rounds: the re-split
    /// in <see cref="Resampled"/> is a permutation and cannot see either.</summary>
    public DriftCheck? Drift { get; init; }
}

/// <summary>
/// A/A calibration for real runs: measures one build as both ends of a one-candidate search through the same
/// <see cref="MeasureAsync"/> callback a bisection uses. Trials are requested together and dealt alternately to the
/// two sides, so a false positive here means the two sides differ within a round (two workers that disagree, say). The
/// real search also compares positions measured rounds apart, which alternate dealing hides, so the build's trials are
/// also tested in the order they ran (<see cref="DriftCheck"/>: a trend over the trial index and the first half against
/// the second); the summary says DRIFT when either rejects.
/// </summary>
/// <example>
/// <code>var aa = await AaCalibration.RunAsync(position: candidates, measurer.MeasureAsync, searchOptions, ct);</code>
/// </example>
public static class AaCalibration
{
    public const int Resamples = 1000;

    public static async Task<CalibrationOutcome> RunAsync(int position, MeasureAsync measure, SearchOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(measure);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        var sides = new[] { new List<TrialSeries>(), new List<TrialSeries>() };
        var seen = 0;
        var skipped = false;
        IReadOnlyList<TrialSeries> timeOrder = [];

        async Task<IReadOnlyList<PositionEvidence>> BothSides(IReadOnlyList<MeasureRequest> requests, CancellationToken token)
        {
            var total = requests.Sum(r => r.AdditionalTrials);
            var evidence = await measure([new MeasureRequest(position, total)], token).ConfigureAwait(false);
            var real = evidence.Single(e => e.Position == position);
            skipped = real.Skipped;
            timeOrder = real.Trials;
            // Deal new trials alternately; a side that already has its share takes none.
            var wanted = requests.ToDictionary(r => r.Position, r => sides[r.Position].Count + r.AdditionalTrials);
            for (; seen < real.Trials.Count; seen++)
            {
                var side = sides[0].Count <= sides[1].Count && sides[0].Count < wanted.GetValueOrDefault(0) ? 0
                    : sides[1].Count < wanted.GetValueOrDefault(1) ? 1 : 0;
                sides[side].Add(real.Trials[seen]);
            }
            return requests.Select(r => new PositionEvidence(r.Position, skipped, sides[r.Position].ToArray())).ToArray();
        }

        var search = await SearchEngine.RunAsync(1, BothSides, options with { Strategy = SearchStrategy.Bisect }, ct).ConfigureAwait(false);
        var falsePositive = search.Boundary?.Verdict is Verdict.Regressed or Verdict.Improved;
        var features = sides.SelectMany(s => s).Select(t => Features.Extract(t, options.Decision.Feature, options.WarmupSeconds))
            .Where(double.IsFinite).ToArray();
        var resampled = features.Length >= 2 * options.InitialTrials
            ? Calibration.RunAa(features, options.InitialTrials, Resamples, options.Decision.Direction, options.Decision.MinEffect, options.Alpha)
            : null;
        var bimodal = Modality.Check(position, features, options.Decision.MinEffect / 2, options.Scale);
        // Trials come back in the order they ran (cumulative evidence), so this is the time order across rounds.
        var drift = DriftCheck.Test(timeOrder.Select(t => Features.Extract(t, options.Decision.Feature, options.WarmupSeconds)).ToArray(), options.Alpha);
        var c = CultureInfo.InvariantCulture;
        var summary = string.Create(c, $"A/A on position {position}: {(falsePositive ? "FALSE POSITIVE" : "no false positive")} ({search.Boundary?.Verdict.ToString() ?? "no verdict"} after {search.TrialsSpent} trials)");
        if (resampled is not null)
            summary += string.Create(c, $"; {resampled.FalsePositiveRate:P1} of {resampled.Resamples} random {resampled.PerSide}-vs-{resampled.PerSide} splits called a change (α = {resampled.Alpha})");
        summary += $"; {drift.Message}";
        if (bimodal is not null)
            summary += $"; warning: {bimodal.Message}";
        return new CalibrationOutcome(position, search, falsePositive, resampled, bimodal, summary) { Drift = drift };
    }
}
