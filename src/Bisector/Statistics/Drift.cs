using System.Globalization;

namespace Bisector.Statistics;

/// <summary>
/// Whether trials of one build drift in time: a Mann–Kendall trend test over the trials in the order they ran, and the
/// exact Mann–Whitney test of the first half against the second half. Unlike re-splitting the pool at random (a
/// permutation, which cannot reject exchangeable-looking data whatever its order), both use the time order, so a pool
/// whose level moves with the trial index is flagged. Each test gets α/2 (Bonferroni), so an iid pool is flagged with
/// probability at most α.
/// </summary>
public sealed record DriftCheck(int Trials, double TrendP, double HalvesP, double Alpha)
{
    public bool Drifting => TrendP < Alpha / 2 || HalvesP < Alpha / 2;

    /// <summary>Too few trials to test anything (fewer than 3 a half).</summary>
    public bool Untested => Trials < 6;

    public string Message => Untested
        ? string.Create(CultureInfo.InvariantCulture, $"{Trials} trials in time order: too few to test drift")
        : string.Create(CultureInfo.InvariantCulture,
            $"{(Drifting ? "DRIFT" : "no drift")} over {Trials} trials in time order (trend p = {TrendP:0.####}, first vs second half p = {HalvesP:0.####}, α/2 each = {Alpha / 2})");

    /// <param name="inTimeOrder">Feature values of one build, in the order the trials ran.</param>
    public static DriftCheck Test(IReadOnlyList<double> inTimeOrder, double alpha = 0.01)
    {
        var x = inTimeOrder.Where(double.IsFinite).ToArray();
        if (x.Length < 6)
            return new DriftCheck(x.Length, 1, 1, alpha);
        var half = x.Length / 2;
        var halves = MannWhitney.Test(x[..half], x[^half..]).PValue;
        return new DriftCheck(x.Length, MannKendallP(x), halves, alpha);
    }

    /// <summary>Two-sided p of Kendall's S against the index (normal approximation with continuity correction and the
    /// tie-corrected variance).</summary>
    internal static double MannKendallP(IReadOnlyList<double> x)
    {
        var n = x.Count;
        long s = 0;
        for (var i = 0; i < n; i++)
            for (var j = i + 1; j < n; j++)
                s += Math.Sign(x[j] - x[i]);
        var variance = n * (n - 1.0) * (2 * n + 5) / 18;
        foreach (var tie in x.GroupBy(v => v).Select(g => g.Count()).Where(c => c > 1))
            variance -= tie * (tie - 1.0) * (2 * tie + 5) / 18;
        if (!(variance > 0))
            return 1;
        var z = (Math.Abs(s) - 1) / Math.Sqrt(variance);
        return Math.Min(1, 2 * (1 - Normal.Cdf(Math.Max(0, z))));
    }
}
