using System.Globalization;
using Bisector.Recipes;

namespace Bisector.Statistics;

/// <summary>Compares two commits' per-trial feature values and says Regressed / Same / Improved / Unknown.</summary>
public static class Comparisons
{
    public const int MinimumTrialsPerSide = 2;

    /// <summary>
    /// Regressed/Improved: the Mann–Whitney test rejects at <paramref name="alpha"/>, the Hodges–Lehmann shift is at
    /// least half of <paramref name="threshold"/> in the bad/good direction and its interval is not inside ±threshold
    /// (a change that matters cannot be ruled out). Same ("no regression"): the regressing end of the (1 − 2α) interval
    /// of the shift stays below the threshold — a one-sided non-inferiority test at α, so "Same" needs evidence that
    /// any regression is smaller than the threshold, not just a large p-value. The question a bisection asks is "worse
    /// or not", so the improving end is not held to the threshold (a two-sided equivalence test spent about a fifth more
    /// trials on A/A searches for the same answer). With a zero threshold Same is impossible. Anything else, including
    /// fewer than two trials a side, is Unknown.
    /// <paramref name="sameAlpha"/> (default: <paramref name="alpha"/>) is the level of the "Same" bound on its own: a
    /// search looks at its ends again after every batch, and each look is another chance to call a real regression of
    /// about the threshold "Same", so a search holds that bound to a fraction of α (see <c>SearchOptions.SameAlpha</c>).
    /// Non-finite values (e.g. a trial with no samples after the warm-up) are left out and counted in the explanation.
    /// </summary>
    public static Comparison Compare(
        IReadOnlyList<double> baseline,
        IReadOnlyList<double> candidate,
        RegressionDirection direction,
        double threshold,
        double alpha = 0.01,
        double? sameAlpha = null,
        FeatureScale? scale = null)
    {
        var units = scale ?? FeatureScale.Plain;
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        if (alpha is <= 0 or >= 0.5)
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be in (0, 0.5)");
        var sameLevel = sameAlpha ?? alpha;
        if (sameLevel is <= 0 or >= 0.5)
            throw new ArgumentOutOfRangeException(nameof(sameAlpha), sameAlpha, "sameAlpha must be in (0, 0.5)");
        var good = baseline.Where(double.IsFinite).ToArray();
        var bad = candidate.Where(double.IsFinite).ToArray();
        var dropped = baseline.Count - good.Length + candidate.Count - bad.Length;
        var level = 1 - 2 * alpha;
        var droppedNote = dropped > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({dropped} non-finite value(s) left out)") : "";

        if (good.Length < MinimumTrialsPerSide || bad.Length < MinimumTrialsPerSide)
        {
            return new Comparison(Verdict.Unknown, "none", double.NaN, alpha, double.NaN, double.NegativeInfinity,
                double.PositiveInfinity, level, threshold, good, bad,
                string.Create(CultureInfo.InvariantCulture,
                    $"{good.Length} vs {bad.Length} trials: at least {MinimumTrialsPerSide} per side are needed for any verdict{droppedNote}"))
            { Direction = direction };
        }

        var test = MannWhitney.Test(good, bad);
        var shift = HodgesLehmann.Estimate(good, bad, level);
        // Positive "worse" means the candidate moved in the regressing direction.
        var worse = direction == RegressionDirection.Increase ? shift.Shift : -shift.Shift;
        var significant = test.PValue < alpha;
        var inside = threshold > 0 && shift.Low > -threshold && shift.High < threshold;
        // The regressing end of the one-sided (1 − sameAlpha) bound: the upper end of a two-sided 1 − 2·sameAlpha interval.
        var sameShift = sameLevel == alpha ? shift : HodgesLehmann.Estimate(good, bad, 1 - 2 * sameLevel);
        var worstCase = direction == RegressionDirection.Increase ? sameShift.High : -sameShift.Low;
        var notWorse = threshold > 0 && worstCase < threshold;
        // Half the threshold is the middle of the indifference zone between "no change" and "a change that matters":
        // a true change of exactly the threshold is then called as soon as it is significant, not half the time.
        var big = Math.Abs(shift.Shift) >= threshold / 2 && shift.Shift != 0 && !inside;

        var (verdict, why) = (significant, big, notWorse) switch
        {
            (true, true, _) when worse > 0 => (Verdict.Regressed, "p < α, the shift is at least half the threshold in the regressing direction and the interval reaches the threshold"),
            (true, true, _) => (Verdict.Improved, "p < α, the shift is at least half the threshold in the improving direction and the interval reaches the threshold"),
            (_, _, true) => (Verdict.Same, "no regression: the regressing end of the confidence interval stays below the threshold"),
            (true, false, _) when Math.Abs(shift.Shift) < threshold / 2 => (Verdict.Unknown, "significant but below half the threshold, and the interval reaches the threshold"),
            (true, false, _) => (Verdict.Unknown, "significant, but the interval puts the change below the threshold without yet ruling out a regression of the threshold at the 'Same' level"),
            _ => (Verdict.Unknown, threshold > 0
                ? "not significant, and the interval is too wide to rule out a regression of the threshold"
                : "not significant (with a zero threshold 'Same' cannot be shown)"),
        };

        // The 'Same' bound only matters where 'Same' was in question.
        var sameNote = sameLevel == alpha || verdict is Verdict.Regressed or Verdict.Improved ? ""
            : double.IsFinite(worstCase)
                ? string.Create(CultureInfo.InvariantCulture, $"worst regression at {1 - sameLevel:0.###%} one-sided (the 'Same' bound) = {units.Format(worstCase)}; ")
                : string.Create(CultureInfo.InvariantCulture, $"the 'Same' bound at {1 - sameLevel:0.###%} one-sided needs more trials; ");
        var explanation = string.Create(CultureInfo.InvariantCulture,
            $"{verdict}: {why}. {test.Test}: U = {test.U:0.##}, {PValueText.Statement(test.PValue)} (α = {alpha}); " +
            $"shift = {units.Format(shift.Shift, signed: true)} [{units.Number(shift.Low, signed: true)}, {units.Number(shift.High, signed: true)}]{units.Suffix} at {level:P0}; threshold = {units.Format(threshold)}; {sameNote}" +
            $"n = {good.Length} vs {bad.Length}{(test.Ties > 0 ? $", {test.Ties} tie group(s)" : "")}{droppedNote}");

        return new Comparison(verdict, test.Test, test.PValue, alpha, shift.Shift, shift.Low, shift.High, level,
            threshold, good, bad, explanation)
        { Direction = direction };
    }
}
