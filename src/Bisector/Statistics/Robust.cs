namespace Bisector.Statistics;

/// <summary>Order statistics that do not care about heavy tails; the inputs are never modified.</summary>
public static class Robust
{
    /// <summary>Median; NaN for an empty list (callers decide what "no data" means).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return MedianOfSorted(sorted);
    }

    internal static double MedianOfSorted(IReadOnlyList<double> sorted)
    {
        var n = sorted.Count;
        if (n == 0)
            return double.NaN;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>Quantile with linear interpolation between order statistics (type 7, as R's default).</summary>
    public static double Quantile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.ToArray();
        Array.Sort(sorted);
        var h = (sorted.Length - 1) * Math.Clamp(p, 0, 1);
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>Median absolute deviation scaled by 1.4826 so it estimates σ for normal data.</summary>
    public static double Mad(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return double.NaN;
        var m = Median(values);
        return 1.4826 * Median(values.Select(v => Math.Abs(v - m)).ToArray());
    }

    public static double InterquartileRange(IReadOnlyList<double> values) =>
        Quantile(values, 0.75) - Quantile(values, 0.25);
}
