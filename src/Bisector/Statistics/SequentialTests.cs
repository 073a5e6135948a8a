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
/// <para><see cref="NoRegressionBound"/>: the exact (Mann–Whitney) interval of the shift over the first m trials of each
/// side at a level that spends β over every m a look can happen at (<see cref="SameLevel"/>): P(its upper end is ever
/// below a true shift) ≤ β for any continuous noise in a shift model, however often and whenever the search looks.</para>
/// </summary>
public static class SequentialTests
{
    /// <summary>Prior variances of the standardised shift; each gets the same weight.</summary>
    private static readonly double[] PriorVariances = [0.25, 1, 4, 16, 64, 256, 1024, 4096, 16384];

    /// <summary>Fewest trials a side for "no regression" at any level (<see cref="SameLevel"/> asks for more at the
    /// usual ones: 7 at β = 0.01 and a cap of 40).</summary>
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

    /// <summary>The shift of <paramref name="b"/> over <paramref name="a"/> on the first m = min(|a|, |b|) trials of each,
    /// with its exact interval at <see cref="SameLevel"/>(m): "no regression" when its upper end is below the threshold.
    /// Null while m is below the first count that can decide. Only the first m of the longer side count, so the look is
    /// one of the events the spending is over, whatever the two counts.</summary>
    public static ShiftEstimate? NoRegressionBound(IReadOnlyList<double> a, IReadOnlyList<double> b, int cap, double beta)
    {
        var m = Math.Min(a.Count, b.Count);
        var level = SameLevel(m, cap, beta);
        return level > 0 ? HodgesLehmann.Estimate(a.Take(m).ToArray(), b.Take(m).ToArray(), level) : null;
    }

    /// <summary>The two-sided level of the exact shift interval a "no regression" look at <paramref name="trialsEachSide"/>
    /// trials a side must end below the threshold at: 1 − 2β·w(m), where w(m) = (1/m) / Σ_{j=m₀}^{cap} 1/j spends β
    /// over every count a look can happen at, from the first count m₀ at which the exact interval can be bounded at
    /// its level (8 at β = 0.0025 and a cap of 40; fewer trials cannot decide, and get no share). The interval from the
    /// first m trials of each side misses a true shift above its upper end with probability at most β·w(m) for any
    /// continuous noise in a shift model (Mann–Whitney inversion), so by the union bound over m,
    /// P(ever "no regression" | shift ≥ threshold) ≤ β, however the search chooses when to look. 0 below m₀.</summary>
    public static double SameLevel(int trialsEachSide, int cap, double beta)
    {
        var (first, sum) = SameSpending(cap, beta);
        if (trialsEachSide < first)
            return 0;
        return 1 - 2 * beta / (Math.Min(trialsEachSide, Math.Max(first, cap)) * sum);
    }

    /// <summary>The first trial count a side at which "no regression" can be shown (<see cref="SameLevel"/> above 0).</summary>
    public static int FirstSameCount(int cap, double beta) => SameSpending(cap, beta).First;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int, double), (int, double)> Spending = new();

    private static (int First, double Sum) SameSpending(int cap, double beta) => Spending.GetOrAdd((cap, beta), k => ComputeSpending(k.Item1, k.Item2));

    private static (int First, double Sum) ComputeSpending(int cap, double beta)
    {
        for (var first = MinSameTrials; first < cap; first++)
        {
            var sum = 0.0;
            for (var j = first; j <= cap; j++)
                sum += 1.0 / j;
            if (MannWhitney.ConfidenceRank(first, first, beta / (first * sum)) > 0)
                return (first, sum);
        }
        return (Math.Max(2, cap), 1.0 / Math.Max(2, cap));
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
