namespace Bisector.Statistics;

/// <summary>
/// Sequential two-sample evidence that stays valid however often it is looked at (docs/benchmarks-search.md,
/// "Error control", derives both bounds).
/// <para><see cref="EValue"/>: the Bayes factor of the two-sample t statistic with the right-Haar prior on the common
/// level and scale and a normal prior N(0, g) on the standardised shift (Gönen et al. 2005), averaged over a fixed grid
/// of g. For Gaussian trials with one level and scale it is a test martingale in the data's location-scale invariant
/// (Hendriksen, de Heide and Grünwald 2021), so by Ville's inequality P(it ever reaches 1/α) ≤ α, whatever the number of
/// looks or the trials added between them. The grid makes one decision rule fit a 1-IQR shift (small g) and a shift of
/// hundreds of noise widths (large g: two trials a side can decide).</para>
/// <para><see cref="SameLogLikelihoodRatio"/>: Wald's sequential probability ratio of "shift 0" against "shift =
/// threshold" for the Hodges–Lehmann shift with a plug-in robust scale; with a known scale, P(it ever reaches
/// ln(1/β) | shift ≥ threshold) ≤ β. The scale is estimated, so this bound is approximate and measured by the
/// benchmark (its error is a missed regression, never a false one).</para>
/// </summary>
public static class SequentialTests
{
    /// <summary>Prior variances of the standardised shift; each gets the same weight.</summary>
    private static readonly double[] PriorVariances = [0.25, 1, 4, 16, 64, 256, 1024, 4096, 16384];

    /// <summary>Fewest trials a side for "no regression".</summary>
    public const int MinSameTrials = 5;

    /// <summary>E-value against "both samples come from one Gaussian"; 1 (no evidence) with fewer than 3 trials or
    /// an empty side.</summary>
    public static double EValue(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        var (na, ma, ssa) = Moments(a);
        var (nb, mb, ssb) = Moments(b);
        return EValue(na, ma, ssa, nb, mb, ssb);
    }

    /// <summary>As <see cref="EValue(IReadOnlyList{double}, IReadOnlyList{double})"/> from each side's count, mean
    /// and sum of squared deviations.</summary>
    public static double EValue(int na, double ma, double ssa, int nb, double mb, double ssb)
    {
        if (na < 1 || nb < 1 || na + nb < 3)
            return 1;
        var nu = na + nb - 2;
        var inv = 1.0 / na + 1.0 / nb;
        var nd = 1 / inv;
        var sp2 = (ssa + ssb) / nu;
        double t2;
        if (!(sp2 > 0))
        {
            if (mb == ma)
                return 1;
            return MaxEValue(na, nb);
        }
        t2 = (mb - ma) * (mb - ma) / (sp2 * inv);
        var logs = new double[PriorVariances.Length];
        for (var i = 0; i < logs.Length; i++)
        {
            var s2 = 1 + nd * PriorVariances[i];
            logs[i] = -0.5 * Math.Log(s2) - (nu + 1) / 2.0 * (Math.Log(1 + t2 / (s2 * nu)) - Math.Log(1 + t2 / nu));
        }
        return MeanOfExp(logs);
    }

    /// <summary>The largest e-value na vs nb trials can give (the shift over the noise going to infinity): a look whose
    /// maximum is below 1/α cannot decide, and is never scheduled.</summary>
    public static double MaxEValue(int na, int nb)
    {
        if (na < 1 || nb < 1 || na + nb < 3)
            return 1;
        var nu = na + nb - 2;
        var nd = 1 / (1.0 / na + 1.0 / nb);
        return MeanOfExp(PriorVariances.Select(g => nu / 2.0 * Math.Log(1 + nd * g)).ToArray());
    }

    /// <summary>Wald's log likelihood ratio of "no shift" against "a shift of <paramref name="threshold"/>" in the
    /// worse direction (positive = <paramref name="b"/> worse than <paramref name="a"/>); "Same" when it reaches
    /// ln(1/β). −∞ with a zero threshold or fewer than <see cref="MinSameTrials"/> trials a side (a robust spread of
    /// fewer is too often far too small).</summary>
    public static double SameLogLikelihoodRatio(IReadOnlyList<double> a, IReadOnlyList<double> b, double threshold)
    {
        if (threshold <= 0 || a.Count < MinSameTrials || b.Count < MinSameTrials)
            return double.NegativeInfinity;
        var shift = HodgesLehmann.Estimate(a, b, 0.5).Shift;
        var sigma = PooledScale(a, b);
        if (!(sigma > 0))
            return shift < threshold / 2 ? double.PositiveInfinity : double.NegativeInfinity;
        // The Hodges–Lehmann shift's variance is π/3 · σ² (1/na + 1/nb) for normal data; the plug-in σ² is widened by
        // (1 + 2/df), about the extra spread of a t over a normal at these degrees of freedom.
        var df = a.Count + b.Count - 2;
        var v = Math.PI / 3 * sigma * sigma * (1 + 2.0 / df) * (1.0 / a.Count + 1.0 / b.Count);
        return threshold * (threshold / 2 - shift) / v;
    }

    /// <summary>Pooled robust spread of two samples around their own medians (MAD × 1.4826, each side weighted by its
    /// degrees of freedom).</summary>
    public static double PooledScale(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        double ma = Robust.Mad(a), mb = Robust.Mad(b);
        return Math.Sqrt((ma * ma * (a.Count - 1) + mb * mb * (b.Count - 1)) / (a.Count + b.Count - 2));
    }

    /// <summary>Pooled standard deviation of two samples around their own means: both sides' sums of squared deviations
    /// over n<sub>a</sub> + n<sub>b</sub> − 2 (the t statistic's scale).</summary>
    public static double PooledDeviation(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        var (na, _, ssa) = Moments(a);
        var (nb, _, ssb) = Moments(b);
        return Math.Sqrt((ssa + ssb) / (na + nb - 2));
    }

    /// <summary>Trials a side at which the e-value is expected to reach 1/α for a true standardised shift
    /// <paramref name="separation"/> (the t statistic at its expectation), or <paramref name="cap"/>.</summary>
    public static int TrialsToReach(double separation, double alpha, int cap)
    {
        for (var n = 2; n < cap; n++)
        {
            // Unit pooled variance and a mean difference of the separation: t² = separation² · n / 2.
            if (EValue(n, 0, n - 1, n, separation, n - 1) >= 1 / alpha)
                return n;
        }
        return cap;
    }

    internal static (int N, double Mean, double SumSquares) Moments(IReadOnlyList<double> values)
    {
        var n = values.Count;
        if (n == 0)
            return (0, 0, 0);
        var mean = values.Average();
        return (n, mean, values.Sum(v => (v - mean) * (v - mean)));
    }

    private static double MeanOfExp(IReadOnlyList<double> logs)
    {
        var max = logs.Max();
        return Math.Exp(max) * logs.Sum(l => Math.Exp(l - max)) / logs.Count;
    }
}
