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
/// side at one level for every m a look can happen at, calibrated (<see cref="SameLevel"/>) so that P(its upper end is
/// ever below a true shift) ≤ β for any continuous noise in a shift model, however often and whenever the search looks.</para>
/// </summary>
public static class SequentialTests
{
    /// <summary>Prior variances of the standardised shift; each gets the same weight.</summary>
    private static readonly double[] PriorVariances = [0.25, 1, 4, 16, 64, 256, 1024, 4096, 16384];

    /// <summary>Fewest trials a side for "no regression" at any level (<see cref="SameLevel"/> asks for more at the
    /// usual ones: 6 at β = 0.01, 7 at the search's β = 0.0025, with a cap of 40).</summary>
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

    /// <summary><see cref="EValue(IReadOnlyList{double}, IReadOnlyList{double})"/> counted only where
    /// <paramref name="b"/> is the larger side, each side first clipped at its median ± <see cref="ClipWidths"/> robust
    /// spreads (pooled within the two sides): one trial from a heavy tail would otherwise inflate the variance and hide a
    /// real shift (t₃ noise: 40 vs 40 trials of a 1-IQR step left the unclipped e-value below 1). The clipping is
    /// location-scale equivariant, so the e-value keeps its invariance; for Gaussian trials it touches 0.3 % of them
    /// (docs/benchmarks-search.md). Without <paramref name="clip"/>, the trials as they are: a heavy tail then widens
    /// the variance and keeps the e-value low, the cautious reading where a claim of no shift rests on it. 0 when a side
    /// is empty.</summary>
    public static double OneSidedEValue(IReadOnlyList<double> a, IReadOnlyList<double> b, bool clip = true)
    {
        if (a.Count == 0 || b.Count == 0)
            return 0;
        var spread = clip && a.Count + b.Count > 2 ? PooledScale(a, b) : 0;
        var (ca, cb) = spread > 0 ? (Clip(a, spread), Clip(b, spread)) : (a.ToArray(), b.ToArray());
        if (!(cb.Average() > ca.Average()))
            return 0;
        return EValue(ca, cb);

        static double[] Clip(IReadOnlyList<double> v, double spread)
        {
            var m = Robust.Median(v);
            return v.Select(x => Math.Clamp(x, m - ClipWidths * spread, m + ClipWidths * spread)).ToArray();
        }
    }

    /// <summary>Robust spreads from its median at which <see cref="OneSidedEValue"/> clips each side.</summary>
    public const double ClipWidths = 3;

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
    /// one of the events the boundary is calibrated over, whatever the two counts.</summary>
    public static ShiftEstimate? NoRegressionBound(IReadOnlyList<double> a, IReadOnlyList<double> b, int cap, double beta)
    {
        var m = Math.Min(a.Count, b.Count);
        var level = SameLevel(m, cap, beta);
        return level > 0 ? HodgesLehmann.Estimate(a.Take(m).ToArray(), b.Take(m).ToArray(), level) : null;
    }

    /// <summary>The two-sided level of the shift interval a "no regression" look at <paramref name="trialsEachSide"/>
    /// trials a side must end below the threshold at, 0 below the first count that can decide. One level for every count
    /// from <see cref="MinSameTrials"/> to the cap (a Pocock boundary), calibrated so that a shift of exactly the threshold
    /// crosses it at any count with probability at most β: the event depends only on the order of the trials (Mann–Whitney
    /// counts), so its probability is the same for every continuous noise in a shift model, and is computed once by
    /// simulating uniform trials (<see cref="SameBoundary"/>). Looks at any subset of counts, chosen however the search
    /// likes, cross no more often; a larger shift crosses less often.</summary>
    public static double SameLevel(int trialsEachSide, int cap, double beta)
    {
        var (first, tail) = SameBoundary(cap, beta);
        return trialsEachSide < first ? 0 : 1 - 2 * tail;
    }

    /// <summary>The first trial count a side at which "no regression" can be shown (<see cref="SameLevel"/> above 0).</summary>
    public static int FirstSameCount(int cap, double beta) => SameBoundary(cap, beta).First;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int, double), (int, double)> Boundaries = new();

    /// <summary>The first count that can decide and the one-sided tail of the boundary, for a cap and β.</summary>
    internal static (int First, double Tail) SameBoundary(int cap, double beta) =>
        Boundaries.GetOrAdd((Math.Max(cap, MinSameTrials), beta), k => ComputeBoundary(k.Item1, k.Item2));

    /// <summary>Seed of the boundary's simulation: the same boundary, and so the same verdicts, on every run.</summary>
    private const int BoundarySeed = 20261201;

    private static (int First, double Tail) ComputeBoundary(int cap, double beta)
    {
        // R paths of m good and m bad trials, m = 1..cap, under a shift of exactly the threshold (uniform values: any
        // continuous noise gives the same counts). For each path, the smallest tail at which some look from
        // MinSameTrials on would cross; the boundary's tail is the largest value that at most k paths reach, with
        // k + 2√k ≤ βR (about the upper 97.5 % bound of the estimate, so sampling error does not take it past β).
        var reps = (int)Math.Clamp(Math.Ceiling(400 / beta), 40_000, 400_000);
        var rng = new Random(BoundarySeed);
        var smallest = new double[reps];
        var (a, b) = (new double[cap], new double[cap]);
        for (var r = 0; r < reps; r++)
        {
            var v = 0;
            var best = 1.0;
            for (var m = 1; m <= cap; m++)
            {
                var (x, y) = (rng.NextDouble(), rng.NextDouble());
                for (var j = 0; j < m - 1; j++)
                    if (b[j] > x) v++;
                for (var i = 0; i < m - 1; i++)
                    if (y > a[i]) v++;
                if (y > x) v++;
                (a[m - 1], b[m - 1]) = (x, y);
                if (m >= MinSameTrials)
                    best = Math.Min(best, MannWhitney.SmallestTail(m, m, v));
            }
            smallest[r] = best;
        }
        Array.Sort(smallest);
        var allowed = 0;
        while (allowed + 1 + 2 * Math.Sqrt(allowed + 1) <= beta * reps)
            allowed++;
        // The largest tail reached by at most 'allowed' paths: just below the (allowed+1)-th smallest.
        var tail = allowed < reps ? smallest[allowed] * (1 - 1e-9) : smallest[^1];
        var first = MinSameTrials;
        while (first < cap && MannWhitney.ConfidenceRank(first, first, tail) <= 0)
            first++;
        return (first, tail);
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
