namespace Bisector.Statistics;

/// <summary>Shift estimate (candidate − baseline) with its distribution-free confidence interval. An infinite bound
/// means the samples are too small to bound the shift at the requested level.</summary>
public sealed record ShiftEstimate(double Shift, double Low, double High, double ConfidenceLevel);

/// <summary>Hodges–Lehmann two-sample shift: the median of all pairwise differences, with the interval obtained by
/// inverting the Mann–Whitney test (Moses' method).</summary>
public static class HodgesLehmann
{
    public static ShiftEstimate Estimate(IReadOnlyList<double> baseline, IReadOnlyList<double> candidate, double confidenceLevel)
    {
        int m = baseline.Count, n = candidate.Count;
        if (m == 0 || n == 0)
            return new ShiftEstimate(double.NaN, double.NegativeInfinity, double.PositiveInfinity, confidenceLevel);
        var diffs = new double[m * n];
        var k = 0;
        foreach (var c in candidate)
            foreach (var b in baseline)
                diffs[k++] = c - b;
        Array.Sort(diffs);
        var shift = Robust.MedianOfSorted(diffs);
        var rank = MannWhitney.ConfidenceRank(m, n, (1 - confidenceLevel) / 2);
        if (rank <= 0)
            return new ShiftEstimate(shift, double.NegativeInfinity, double.PositiveInfinity, confidenceLevel);
        return new ShiftEstimate(shift, diffs[rank - 1], diffs[diffs.Length - rank], confidenceLevel);
    }
}
