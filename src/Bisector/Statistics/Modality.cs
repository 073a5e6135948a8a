namespace Bisector.Statistics;

/// <summary>A commit whose trials fall into two separated groups: its median, and any comparison of it, describes
/// neither group. <see cref="Separation"/> is the distance between the groups' medians in units of their pooled
/// robust spread (a robust Ashman's D).</summary>
public sealed record BimodalityWarning(int Position, int Trials, double LowerMedian, double UpperMedian, int UpperCount, double Separation)
{
    /// <summary>The unit the medians are stated in.</summary>
    public FeatureScale Scale { get; init; } = FeatureScale.Plain;

    public string Message => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"position {Position}: {Trials - UpperCount} of {Trials} trials near {Scale.Format(LowerMedian)}, {UpperCount} near {Scale.Format(UpperMedian)} (separation {Separation:0.#} spreads): bimodal, e.g. a race or an allocator decision that differs per run; its median describes neither group");
}

/// <summary>
/// Gap heuristic for two modes: split the sorted values at their largest gap, keep the split only if both groups
/// hold at least a quarter of the values (so one heavy tail or one outlier is not a "mode"), and call it bimodal when
/// the groups' medians are more than <see cref="MinSeparation"/> pooled MADs apart. A dip test would need its null
/// table; with 5–40 trials per commit the gap rule is as powerful and says what it saw.
/// </summary>
public static class Modality
{
    public const int MinTrials = 8;
    public const double MinSeparation = 6;

    /// <param name="minDistance">Groups closer than this (e.g. half the recipe's min-effect) are not worth a warning,
    /// however cleanly they separate: a 60 KiB split under a 1 MiB threshold changes no verdict.</param>
    public static BimodalityWarning? Check(int position, IReadOnlyList<double> values, double minDistance = 0, FeatureScale? scale = null)
    {
        var sorted = values.Where(double.IsFinite).Order().ToArray();
        var n = sorted.Length;
        if (n < MinTrials)
            return null;
        var minGroup = (int)Math.Ceiling(n / 4.0);
        int split = -1;
        double widest = 0;
        for (var i = minGroup; i <= n - minGroup; i++)
        {
            var gap = sorted[i] - sorted[i - 1];
            if (gap > widest) { widest = gap; split = i; }
        }
        if (split < 0 || widest <= 0)
            return null;
        var lower = sorted[..split];
        var upper = sorted[split..];
        var spread = Math.Sqrt((Square(Robust.Mad(lower)) + Square(Robust.Mad(upper))) / 2);
        var distance = Robust.Median(upper) - Robust.Median(lower);
        // Quantised values can give both groups a zero MAD; then any clean gap is a separation.
        var separation = spread > 0 ? distance / spread : double.PositiveInfinity;
        return separation > MinSeparation && distance >= minDistance
            ? new BimodalityWarning(position, n, Robust.Median(lower), Robust.Median(upper), upper.Length, separation) { Scale = scale ?? FeatureScale.Plain }
            : null;

        static double Square(double x) => x * x;
    }
}
