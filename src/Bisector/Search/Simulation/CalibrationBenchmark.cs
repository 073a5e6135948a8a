using System.Globalization;
using System.Text;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search.Simulation;

/// <summary>
/// Shows that A/A calibration can fail: seeded pools of 40 trials of one build (Student-t ν = 3 noise of scale 1, a
/// minimum effect of 1), iid, drifting in time (level + 0.1 per trial index: 4 noise scales over the pool) and drifting
/// between rounds of 5 trials (each round's level moves by a normal step of 0.7). For each kind: how often the random
/// re-split (a permutation) calls a change, and how often the time-ordered <see cref="DriftCheck"/> flags the pool.
/// </summary>
public static class CalibrationBenchmark
{
    public const int PoolSize = 40;

    public static string Run(int seeds, double alpha = 0.01)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"Pools of {PoolSize} trials, {seeds} seeds per kind, α = {alpha}; permutation = median over pools of the share of 200 random 5-vs-5 re-splits called a change (the old calibration); drift check = share of pools flagged by the time-ordered tests (Mann–Kendall trend and first-vs-second half, α/2 each).");
        sb.AppendLine();
        sb.AppendLine("| pool | permutation: median false-positive rate | drift check: pools flagged |");
        sb.AppendLine("|---|---:|---:|");
        foreach (var (name, make) in new (string, Func<Random, double[]>)[]
                 {
                     ("iid", rng => Pool(rng, _ => 0)),
                     ("drift in time (+0.1 a trial)", rng => Pool(rng, i => 0.1 * i)),
                     ("drift between rounds (rounds of 5, steps N(0, 0.7))", rng => RoundDrift(rng)),
                 })
        {
            var rates = new List<double>();
            var flagged = 0;
            for (var s = 0; s < seeds; s++)
            {
                var pool = make(new Random(1000 + s));
                rates.Add(Calibration.RunAa(pool, 5, 200, RegressionDirection.Increase, 1, alpha, seed: s).FalsePositiveRate);
                if (DriftCheck.Test(pool, alpha).Drifting)
                    flagged++;
            }
            sb.AppendLine(c, $"| {name} | {Robust.Median(rates):P1} | {flagged / (double)seeds:P1} ({flagged} of {seeds}) |");
        }
        return sb.ToString();
    }

    private static double[] Pool(Random rng, Func<int, double> level) =>
        Enumerable.Range(0, PoolSize).Select(i => level(i) + MemorySimulator.StudentT3(rng)).ToArray();

    private static double[] RoundDrift(Random rng)
    {
        var level = 0.0;
        var pool = new double[PoolSize];
        for (var i = 0; i < PoolSize; i++)
        {
            if (i % 5 == 0 && i > 0)
                level += 0.7 * Normal.Quantile(Math.Clamp(rng.NextDouble(), 1e-12, 1 - 1e-12));
            pool[i] = level + MemorySimulator.StudentT3(rng);
        }
        return pool;
    }
}
