namespace Bisector.Statistics;

/// <summary>A change in the commit series: <see cref="Position"/> is the first commit after the change.
/// <see cref="Before"/>/<see cref="After"/> are the medians of the segments either side.</summary>
public sealed record ChangePoint(int Position, FeatureKind Feature, double Before, double After, double PValue);

/// <summary>
/// Several change points over a series of commits, each with several trials: binary segmentation with the
/// Mann–Whitney statistic as the split score. The best split of a segment is kept only when its p-value,
/// Bonferroni-corrected for the number of splits tried, is below α — looking at every split and keeping the best
/// would otherwise find a "change" in pure noise.
/// </summary>
public static class ChangePoints
{
    public static IReadOnlyList<ChangePoint> Detect(
        IReadOnlyList<int> positions,
        IReadOnlyList<IReadOnlyList<double>> valuesPerPosition,
        FeatureKind feature,
        double alpha = 0.01)
    {
        if (positions.Count != valuesPerPosition.Count)
            throw new ArgumentException("one list of values per position is needed", nameof(valuesPerPosition));
        var clean = valuesPerPosition.Select(v => (IReadOnlyList<double>)v.Where(double.IsFinite).ToArray()).ToArray();
        var found = new List<ChangePoint>();
        Segment(0, positions.Count - 1);
        return found.OrderBy(c => c.Position).ToArray();

        void Segment(int lo, int hi)
        {
            if (hi <= lo)
                return;
            var values = new List<double>();
            var owner = new List<int>();
            for (var i = lo; i <= hi; i++)
                foreach (var v in clean[i]) { values.Add(v); owner.Add(i); }
            var total = values.Count;
            if (total < 4)
                return;
            var ranks = MannWhitney.DoubledMidRanks(values, [], out _, out var tieTerm);
            var variancePerPair = (total + 1 - tieTerm / (total * (double)(total - 1))) / 12;
            if (variancePerPair <= 0)
                return;
            var rankSumByPosition = new double[hi - lo + 1];
            var countByPosition = new int[hi - lo + 1];
            for (var k = 0; k < total; k++)
            {
                rankSumByPosition[owner[k] - lo] += ranks[k] / 2.0;
                countByPosition[owner[k] - lo]++;
            }
            double bestZ = -1, leftRanks = 0;
            int bestSplit = -1, leftCount = 0, splits = 0;
            for (var s = lo; s < hi; s++)
            {
                leftRanks += rankSumByPosition[s - lo];
                leftCount += countByPosition[s - lo];
                var rightCount = total - leftCount;
                if (leftCount == 0 || rightCount == 0)
                    continue;
                splits++;
                var u = leftRanks - leftCount * (leftCount + 1) / 2.0;
                var z = Math.Max(0, Math.Abs(u - leftCount * (double)rightCount / 2) - 0.5) /
                        Math.Sqrt(leftCount * (double)rightCount * variancePerPair);
                if (z > bestZ) { bestZ = z; bestSplit = s; }
            }
            if (bestSplit < 0)
                return;
            var p = Math.Min(1, 2 * (1 - Normal.Cdf(bestZ)) * splits);
            if (p >= alpha)
                return;
            var before = Robust.Median(clean[lo..(bestSplit + 1)].SelectMany(v => v).ToArray());
            var after = Robust.Median(clean[(bestSplit + 1)..(hi + 1)].SelectMany(v => v).ToArray());
            found.Add(new ChangePoint(positions[bestSplit + 1], feature, before, after, p));
            Segment(lo, bestSplit);
            Segment(bestSplit + 1, hi);
        }
    }
}
