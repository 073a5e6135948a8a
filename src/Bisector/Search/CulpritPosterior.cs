using Bisector.Statistics;

namespace Bisector.Search;

/// <summary>
/// The probability that each position 1..N is the first bad commit, assuming one change. Every measured position is
/// evidence, not only the anchors: for a culprit c the positions before it form the good side and those from it on
/// the bad side, each side's level is the median of all its trials, and each position's median is scored against its
/// side's level with a Student-t (ν = 3) likelihood. The scale of that score is the position median's own standard
/// error plus the side level's standard error, so a position measured 5 times, or a side known from 5 anchor trials,
/// cannot be decisive on its own — the first version scored every trial against the anchors' medians as if those
/// were exact, and named a wrong commit at 95 % in ~10 % of runs. Heavy tails keep one odd position (a second, smaller
/// change; a noisy build) from deciding. Positions between two measured ones share one likelihood, so the posterior
/// is flat across unmeasured and skipped commits. Uniform prior.
/// </summary>
public static class CulpritPosterior
{
    /// <summary>Standard error of a median relative to σ/√n for normal data (√(π/2)); close to t₃'s, too.</summary>
    private const double MedianEfficiency = 1.2533;

    public static double[] Compute(int candidateCount, IReadOnlyList<double> good, IReadOnlyList<double> bad,
        Func<int, IReadOnlyList<double>> valuesAt)
    {
        var n = candidateCount;
        var post = new double[n];
        var measured = new List<(int Position, double[] Values)>();
        Add(0, good);
        for (var i = 1; i < n; i++)
            Add(i, valuesAt(i));
        Add(n, bad);
        if (measured.Count < 2 || measured[0].Position != 0 || measured[^1].Position != n)
        {
            Array.Fill(post, 1.0 / n);
            return post;
        }

        var medians = measured.Select(m => Robust.Median(m.Values)).ToArray();
        var sigma = WithinPositionScale(measured.Select(m => m.Values).ToArray(), medians);
        if (!(sigma > 0))
        {
            // Quantised or constant trials have no spread; a fraction of the ends' gap keeps scores finite.
            var gap = Math.Abs(medians[^1] - medians[0]);
            sigma = Math.Max(gap / 4, 1e-12 * Math.Max(1, Math.Abs(medians[0])));
        }
        var se = measured.Select(m => MedianEfficiency * sigma / Math.Sqrt(m.Values.Length)).ToArray();

        // Split j: measured[0..j] good, measured[j+1..] bad ⇒ culprit in (measured[j], measured[j+1]].
        var splits = measured.Count - 1;
        var logLik = new double[splits];
        for (var j = 0; j < splits; j++)
            logLik[j] = SideLogLikelihood(0, j) + SideLogLikelihood(j + 1, measured.Count - 1);

        var max = logLik.Max();
        double sum = 0;
        for (var j = 0; j < splits; j++)
        {
            var weight = Math.Exp(logLik[j] - max);
            for (var c = measured[j].Position + 1; c <= measured[j + 1].Position; c++)
            {
                post[c - 1] = weight;
                sum += weight;
            }
        }
        for (var c = 0; c < n; c++)
            post[c] /= sum;
        return post;

        void Add(int position, IReadOnlyList<double> values)
        {
            var finite = values.Where(double.IsFinite).ToArray();
            if (finite.Length > 0)
                measured.Add((position, finite));
        }

        double SideLogLikelihood(int from, int to)
        {
            var all = new List<double>();
            for (var k = from; k <= to; k++)
                all.AddRange(measured[k].Values);
            var level = Robust.Median(all);
            var levelSe = MedianEfficiency * sigma / Math.Sqrt(all.Count);
            var scale = Math.Sqrt(sigma * sigma + levelSe * levelSe);
            double ll = 0;
            for (var k = from; k <= to; k++)
                foreach (var x in measured[k].Values)
                    ll += LogT3((x - level) / scale) - Math.Log(scale);
            return ll;
        }
    }

    /// <summary>Pooled robust spread of trials around their own position's median (MAD × 1.4826), each residual
    /// widened by √(k/(k−1)) because a median of k values sits closer to them than the true level does. Positions
    /// with one trial say nothing about spread.</summary>
    internal static double WithinPositionScale(IReadOnlyList<double[]> values, IReadOnlyList<double> medians)
    {
        var residuals = new List<double>();
        for (var p = 0; p < values.Count; p++)
        {
            var k = values[p].Length;
            if (k < 2)
                continue;
            var widen = Math.Sqrt(k / (k - 1.0));
            residuals.AddRange(values[p].Select(v => Math.Abs(v - medians[p]) * widen));
        }
        return residuals.Count == 0 ? double.NaN : 1.4826 * Robust.Median(residuals);
    }

    private static double LogT3(double z) => -2 * Math.Log(1 + z * z / 3);
}
