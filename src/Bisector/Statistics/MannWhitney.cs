using System.Collections.Concurrent;

namespace Bisector.Statistics;

/// <summary>Result of a two-sample rank test. <see cref="U"/> counts pairs where the candidate exceeds the baseline
/// (ties count ½).</summary>
public sealed record RankTestResult(string Test, double U, double PValue, bool Exact, int Ties);

/// <summary>
/// Two-sided Mann–Whitney U (Wilcoxon rank-sum) test. Small samples (n₁ + n₂ ≤ <see cref="ExactLimit"/>) use the exact
/// permutation distribution of the mid-rank sum, which stays exact when there are ties — memory is quantised to 4 KiB
/// pages, so ties are normal, not an edge case. Larger samples use the normal approximation with tie-corrected
/// variance and a continuity correction.
/// </summary>
public static class MannWhitney
{
    public const int ExactLimit = 24;

    private static readonly ConcurrentDictionary<(int, int), double[]> NoTieDistributions = new();

    /// <summary>P(U ≤ u) under the no-tie null, accumulated as <see cref="ConfidenceRank"/> accumulates it.</summary>
    private static readonly ConcurrentDictionary<(int, int), double[]> Cumulatives = new();

    public static RankTestResult Test(IReadOnlyList<double> baseline, IReadOnlyList<double> candidate)
    {
        int m = baseline.Count, n = candidate.Count;
        if (m == 0 || n == 0)
            return new RankTestResult("Mann–Whitney U", double.NaN, 1, true, 0);

        var total = m + n;
        var doubledRanks = DoubledMidRanks(baseline, candidate, out var tieGroups, out var tieTerm);
        long candidateSum = 0;
        for (var i = m; i < total; i++)
            candidateSum += doubledRanks[i];
        var u = candidateSum / 2.0 - n * (n + 1) / 2.0;

        if (total <= ExactLimit)
        {
            var dist = tieGroups == 0 ? NoTieDistribution(m, n) : SumDistribution(doubledRanks, n);
            // Doubled rank sums: the mean is n(N+1); distances are compared in the same doubled units.
            var center = (long)n * (total + 1);
            var observed = Math.Abs(candidateSum - center);
            double tail = 0, all = 0;
            for (var s = 0; s < dist.Length; s++)
            {
                if (dist[s] == 0) continue;
                all += dist[s];
                if (Math.Abs(s - center) >= observed)
                    tail += dist[s];
            }
            return new RankTestResult("Mann–Whitney U (exact)", u, Math.Min(1, tail / all), true, tieGroups);
        }

        var mean = m * (double)n / 2;
        var variance = m * (double)n / 12 * ((total + 1) - tieTerm / (total * (double)(total - 1)));
        if (variance <= 0)
            return new RankTestResult("Mann–Whitney U (normal, tie-corrected)", u, 1, false, tieGroups);
        var z = Math.Max(0, Math.Abs(u - mean) - 0.5) / Math.Sqrt(variance);
        return new RankTestResult("Mann–Whitney U (normal, tie-corrected)", u, Math.Min(1, 2 * (1 - Normal.Cdf(z))), false, tieGroups);
    }

    /// <summary>Doubled mid-ranks (integers) of baseline then candidate values in their original order.</summary>
    internal static int[] DoubledMidRanks(IReadOnlyList<double> a, IReadOnlyList<double> b, out int tieGroups, out double tieTerm)
    {
        var total = a.Count + b.Count;
        var values = new double[total];
        for (var i = 0; i < a.Count; i++) values[i] = a[i];
        for (var i = 0; i < b.Count; i++) values[a.Count + i] = b[i];
        var order = Enumerable.Range(0, total).ToArray();
        Array.Sort(values.ToArray(), order);
        var ranks = new int[total];
        tieGroups = 0;
        tieTerm = 0;
        for (var i = 0; i < total;)
        {
            var j = i;
            while (j + 1 < total && values[order[j + 1]] == values[order[i]]) j++;
            var doubled = i + 1 + j + 1; // 2 × mid-rank of positions i..j (1-based)
            for (var k = i; k <= j; k++) ranks[order[k]] = doubled;
            var t = j - i + 1;
            if (t > 1)
            {
                tieGroups++;
                tieTerm += (double)t * t * t - t;
            }
            i = j + 1;
        }
        return ranks;
    }

    /// <summary>Number of ways to choose <paramref name="pick"/> of the items with each doubled rank sum.</summary>
    private static double[] SumDistribution(IReadOnlyList<int> doubledRanks, int pick)
    {
        var maxSum = doubledRanks.OrderByDescending(r => r).Take(pick).Sum();
        var ways = new double[pick + 1, maxSum + 1];
        ways[0, 0] = 1;
        var seen = 0;
        foreach (var r in doubledRanks)
        {
            seen++;
            for (var k = Math.Min(pick, seen); k >= 1; k--)
                for (var s = maxSum; s >= r; s--)
                    ways[k, s] += ways[k - 1, s - r];
        }
        var result = new double[maxSum + 1];
        for (var s = 0; s <= maxSum; s++) result[s] = ways[pick, s];
        return result;
    }

    private static double[] NoTieDistribution(int m, int n) =>
        NoTieDistributions.GetOrAdd((m, n), key =>
            SumDistribution(Enumerable.Range(1, key.Item1 + key.Item2).Select(r => 2 * r).ToArray(), key.Item2));

    /// <summary>
    /// The largest k such that P(U ≤ k − 1) ≤ tail under the no-tie null: the k-th smallest and k-th largest pairwise
    /// difference bound a (1 − 2·tail) Hodges–Lehmann interval. Zero means the samples are too small for that level.
    /// </summary>
    /// <summary>The smallest tail at which <see cref="ConfidenceRank"/>(m, n, tail) exceeds <paramref name="v"/>: with v
    /// pairs on the far side of a shift, the interval at 1 − 2·tail excludes it exactly when tail ≥ this. Computed the
    /// way <see cref="ConfidenceRank"/> computes its rank, so the two agree.</summary>
    internal static double SmallestTail(int m, int n, int v)
    {
        if (m + n <= ExactLimit)
        {
            var cumulative = Cumulatives.GetOrAdd((m, n), key =>
            {
                var (mm, nn) = key;
                var dist = NoTieDistribution(mm, nn);
                var all = dist.Sum();
                var offset = nn * (nn + 1);
                var c = new double[mm * nn + 1];
                double acc = 0;
                for (var u = 0; u <= mm * nn; u++)
                {
                    acc += dist[offset + 2 * u] / all;
                    c[u] = acc;
                }
                return c;
            });
            return cumulative[Math.Clamp(v, 0, m * n)];
        }
        var x = (m * (double)n / 2 - v - 1) / Math.Sqrt(m * (double)n * (m + n + 1) / 12);
        return Normal.Cdf(-x);
    }

    internal static int ConfidenceRank(int m, int n, double tail)
    {
        if (m + n <= ExactLimit)
        {
            var dist = NoTieDistribution(m, n);
            var all = dist.Sum();
            var offset = n * (n + 1); // doubled minimum rank sum ↔ U = 0
            double cumulative = 0;
            var k = 0;
            for (var u = 0; u <= m * n; u++)
            {
                cumulative += dist[offset + 2 * u] / all;
                if (cumulative > tail) break;
                k = u + 1;
            }
            return k;
        }
        var z = Normal.Quantile(1 - tail);
        var c = m * (double)n / 2 - z * Math.Sqrt(m * (double)n * (m + n + 1) / 12);
        return Math.Max(0, (int)Math.Floor(c));
    }
}
