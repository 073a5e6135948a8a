using Bisector.Recipes;

namespace Bisector.Statistics;

/// <summary>How often the comparison calls a difference between two sets of trials of the same build.</summary>
public sealed record CalibrationResult(int Resamples, int PerSide, int FalsePositives, double FalsePositiveRate, double Alpha, int SameVerdicts, int UnknownVerdicts);

/// <summary>
/// A/A calibration: splits trials of one build into two random halves again and again (seeded, so repeatable) and
/// counts Regressed or Improved verdicts. A rate well above α means the trials are not exchangeable (drift, warm
/// caches, a noisy neighbour) and the search's p-values cannot be taken at face value.
/// </summary>
public static class Calibration
{
    public static CalibrationResult RunAa(
        IReadOnlyList<double> sameBuildValues,
        int perSide,
        int resamples,
        RegressionDirection direction,
        double threshold,
        double alpha = 0.01,
        int seed = 1)
    {
        if (perSide < 1 || 2 * perSide > sameBuildValues.Count)
            throw new ArgumentOutOfRangeException(nameof(perSide), perSide,
                $"need 2 × perSide ≤ {sameBuildValues.Count} trials of the same build");
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        var rng = new Random(seed);
        var pool = sameBuildValues.ToArray();
        int falsePositives = 0, same = 0, unknown = 0;
        for (var r = 0; r < resamples; r++)
        {
            rng.Shuffle(pool);
            var verdict = Comparisons.Compare(pool[..perSide], pool[perSide..(2 * perSide)], direction, threshold, alpha).Verdict;
            switch (verdict)
            {
                case Verdict.Regressed or Verdict.Improved: falsePositives++; break;
                case Verdict.Same: same++; break;
                default: unknown++; break;
            }
        }
        return new CalibrationResult(resamples, perSide, falsePositives, falsePositives / (double)resamples, alpha, same, unknown);
    }

    /// <summary>Compares two independent sets of trials of the same build once; true when it (wrongly) saw a change.</summary>
    public static bool IsFalsePositive(IReadOnlyList<double> first, IReadOnlyList<double> second, RegressionDirection direction, double threshold, double alpha = 0.01) =>
        Comparisons.Compare(first, second, direction, threshold, alpha).Verdict is Verdict.Regressed or Verdict.Improved;
}
