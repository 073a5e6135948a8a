namespace Bisector.Statistics;

/// <summary>
/// Reduces one trial's series to the scalar commits are compared on. Everything before the warm-up is dropped
/// because start-up allocations say nothing about the steady state the recipe cares about.
/// </summary>
public static class Features
{
    /// <summary>Above this many pairs Theil–Sen uses a deterministic subsample: the median of 4,096 slopes is
    /// already far more precise than the run-to-run noise, and all n²/2 pairs of a long series cost too much.</summary>
    public const int MaxSlopePairs = 4096;

    /// <summary>The plateau is the median of this last fraction of the post-warm-up window.</summary>
    public const double PlateauFraction = 1.0 / 3.0;

    /// <summary>The chosen feature, or NaN when nothing is left after the warm-up (the comparison reports it).</summary>
    public static double Extract(TrialSeries series, FeatureKind kind, double warmupSeconds)
    {
        ArgumentNullException.ThrowIfNull(series);
        var (seconds, values) = AfterWarmup(series, warmupSeconds);
        if (values.Length == 0)
            return double.NaN;
        return kind switch
        {
            FeatureKind.Slope => TheilSenSlopePerMinute(seconds, values),
            FeatureKind.Plateau => Plateau(values),
            FeatureKind.Peak => values.Max(),
            FeatureKind.Mean => values.Average(),
            FeatureKind.Level => Robust.Median(values),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown feature"),
        };
    }

    internal static (double[] Seconds, double[] Values) AfterWarmup(TrialSeries series, double warmupSeconds)
    {
        var n = Math.Min(series.Seconds.Count, series.Values.Count);
        var s = new List<double>(n);
        var v = new List<double>(n);
        for (var i = 0; i < n; i++)
        {
            if (series.Seconds[i] < warmupSeconds || !double.IsFinite(series.Values[i]))
                continue;
            s.Add(series.Seconds[i]);
            v.Add(series.Values[i]);
        }
        return (s.ToArray(), v.ToArray());
    }

    /// <summary>Median of the last <see cref="PlateauFraction"/> of the values (at least one value).</summary>
    public static double Plateau(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return double.NaN;
        var take = Math.Max(1, (int)Math.Ceiling(values.Count * PlateauFraction));
        var tail = new double[take];
        for (var i = 0; i < take; i++)
            tail[i] = values[values.Count - take + i];
        return Robust.Median(tail);
    }

    /// <summary>
    /// Theil–Sen slope in value units per minute: the median of pairwise slopes. Uses all pairs up to
    /// <paramref name="maxPairs"/>, otherwise pairs drawn by a generator seeded from n, so the same series always
    /// gives the same slope. Pairs with equal timestamps carry no slope and are ignored. Zero for fewer than two
    /// distinct timestamps.
    /// </summary>
    public static double TheilSenSlopePerMinute(IReadOnlyList<double> seconds, IReadOnlyList<double> values, int maxPairs = MaxSlopePairs)
    {
        var n = Math.Min(seconds.Count, values.Count);
        if (n < 2)
            return 0;
        var total = (long)n * (n - 1) / 2;
        var slopes = new List<double>((int)Math.Min(total, maxPairs));
        if (total <= maxPairs)
        {
            for (var i = 0; i < n; i++)
                for (var j = i + 1; j < n; j++)
                    AddSlope(i, j);
        }
        else
        {
            // xorshift64 seeded from n: deterministic, cheap, and independent of System.Random's implementation.
            var state = 0x9E3779B97F4A7C15UL ^ (ulong)n;
            for (var k = 0; k < maxPairs; k++)
            {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                var i = (int)(state % (ulong)n);
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                var j = (int)(state % (ulong)(n - 1));
                if (j >= i)
                    j++;
                AddSlope(Math.Min(i, j), Math.Max(i, j));
            }
        }
        return slopes.Count == 0 ? 0 : Robust.Median(slopes) * 60.0;

        void AddSlope(int i, int j)
        {
            var dx = seconds[j] - seconds[i];
            if (dx != 0)
                slopes.Add((values[j] - values[i]) / dx);
        }
    }
}
