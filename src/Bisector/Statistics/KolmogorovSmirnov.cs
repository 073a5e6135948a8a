namespace Bisector.Statistics;

/// <summary>Two-sample Kolmogorov–Smirnov test (asymptotic distribution with Stephens' small-sample correction).
/// Bisector itself decides with Mann–Whitney; this exists for the Pinpoint-like baseline, which takes
/// min(KS, MWU).</summary>
public static class KolmogorovSmirnov
{
    public static RankTestResult Test(IReadOnlyList<double> baseline, IReadOnlyList<double> candidate)
    {
        int m = baseline.Count, n = candidate.Count;
        if (m == 0 || n == 0)
            return new RankTestResult("Kolmogorov–Smirnov", double.NaN, 1, false, 0);
        var a = baseline.ToArray();
        var b = candidate.ToArray();
        Array.Sort(a);
        Array.Sort(b);
        int i = 0, j = 0;
        double d = 0;
        while (i < m && j < n)
        {
            var x = Math.Min(a[i], b[j]);
            while (i < m && a[i] == x) i++;
            while (j < n && b[j] == x) j++;
            d = Math.Max(d, Math.Abs(i / (double)m - j / (double)n));
        }
        var en = Math.Sqrt(m * (double)n / (m + n));
        return new RankTestResult("Kolmogorov–Smirnov", d, KolmogorovTail((en + 0.12 + 0.11 / en) * d), false, 0);
    }

    /// <summary>Q_KS(λ) = 2 Σ (−1)^(j−1) e^(−2 j² λ²).</summary>
    private static double KolmogorovTail(double lambda)
    {
        if (lambda < 0.2) return 1;
        double sum = 0, sign = 1, previous = 0;
        for (var j = 1; j <= 100; j++)
        {
            var term = sign * 2 * Math.Exp(-2 * j * j * lambda * lambda);
            sum += term;
            if (Math.Abs(term) <= 1e-10 * previous || Math.Abs(term) <= 1e-12 * sum) return Math.Clamp(sum, 0, 1);
            sign = -sign;
            previous = Math.Abs(term);
        }
        return 1;
    }
}
