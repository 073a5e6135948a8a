using Bisector.Search.Simulation;
using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

public class SequentialTestSpecs
{
    [Fact]
    public void I_get_a_false_alarm_rate_below_alpha_however_often_I_look()
    {
        // Arrange: 2,000 pairs of Gaussian samples from one distribution, looked at after every pair from 2 vs 2 to
        // 60 vs 60 (59 looks each); Ville's inequality bounds "ever ≥ 1/α" by α = 0.01 (derived), a test at α per look
        // would exceed it several times
        var alarms = 0;
        var perLook = 0;
        for (var rep = 0; rep < 2000; rep++)
        {
            var rng = new Random(rep);
            var a = new List<double>();
            var b = new List<double>();
            bool alarmed = false, rejected = false;

            // Act
            for (var k = 0; k < 60; k++)
            {
                a.Add(Gaussian(rng) * 3 + 17);
                b.Add(Gaussian(rng) * 3 + 17);
                if (k >= 1 && SequentialTests.EValue(a, b) >= 100) alarmed = true;
                if (k >= 4 && MannWhitney.Test(a, b).PValue < 0.01) rejected = true;
            }
            if (alarmed) alarms++;
            if (rejected) perLook++;
        }

        // Assert
        Assert.InRange(alarms, 0, 20);
        Assert.True(perLook > 3 * alarms, $"a rank test at α per look alarmed {perLook} times, the e-value {alarms}");
    }

    [Fact]
    public void I_can_decide_on_two_trials_a_side_when_the_shift_is_hundreds_of_noise_widths()
    {
        // Arrange: the demo's case, a 4 MiB step over 0.02 MiB of noise
        double[] good = [10.00, 10.02], bad = [14.01, 13.99];

        // Act
        var e = SequentialTests.EValue(good, bad);

        // Assert: 2 vs 2 can reach 1/α, 1 vs 2 never can
        Assert.True(e >= 100, $"e = {e}");
        Assert.True(SequentialTests.MaxEValue(2, 2) >= 100);
        Assert.True(SequentialTests.MaxEValue(1, 2) < 100);
        Assert.Equal(1, SequentialTests.EValue([1.0], [2.0]));
    }

    [Fact]
    public void I_get_no_regression_only_when_the_shift_is_well_below_the_threshold()
    {
        // Arrange
        var rng = new Random(7);
        var good = Enumerable.Range(0, 20).Select(_ => Gaussian(rng)).ToArray();
        var same = Enumerable.Range(0, 20).Select(_ => Gaussian(rng)).ToArray();
        var worse = same.Select(v => v + 2).ToArray();

        // Act
        var sameBound = SequentialTests.NoRegressionBound(good, same, cap: 40, beta: 0.01);
        var worseBound = SequentialTests.NoRegressionBound(good, worse, cap: 40, beta: 0.01);
        var tooFew = SequentialTests.NoRegressionBound(good[..5], same[..5], cap: 40, beta: 0.01);
        var longer = SequentialTests.NoRegressionBound(good, same.Concat(worse).ToArray(), cap: 40, beta: 0.01);

        // Assert: the interval of "no regression" is below a threshold of 2 for no shift, not for a shift of 2; 5 trials
        // a side cannot decide at β = 0.01; the longer side counts only its first trials (its later ones do not move it)
        Assert.True(sameBound!.High < 2, $"{sameBound}");
        Assert.True(worseBound!.High > 2, $"{worseBound}");
        Assert.Null(tooFew);
        Assert.Equal(sameBound, longer);
    }

    [Fact]
    public void I_can_see_one_boundary_for_every_count_a_look_can_happen_at()
    {
        // Arrange
        const double beta = 0.01;
        const int cap = 40;

        // Act
        var levels = Enumerable.Range(0, cap + 1).Select(m => SequentialTests.SameLevel(m, cap, beta)).ToArray();
        var first = SequentialTests.FirstSameCount(cap, beta);

        // Assert: 0 below the first count whose exact interval can be bounded at the level, one level from there on,
        // stricter than a single look at β (a path has many chances to cross), and the same on every call
        Assert.All(levels[..first], l => Assert.Equal(0, l));
        Assert.All(levels[first..], l => Assert.Equal(levels[first], l));
        Assert.InRange(levels[first], 1 - 2 * beta, 1);
        Assert.InRange(first, SequentialTests.MinSameTrials, 12);
        Assert.True(double.IsFinite(SequentialTests.NoRegressionBound(new double[first], Enumerable.Range(0, first).Select(i => (double)i).ToArray(), cap, beta)!.High));
        Assert.Equal(levels[first], SequentialTests.SameLevel(first, cap, beta));
    }

    [Fact]
    public void I_get_no_regression_for_a_real_regression_of_the_threshold_at_most_beta_of_the_time_however_often_I_look()
    {
        // Arrange: 3,000 searches of a shift exactly at the threshold (1 IQR of Student-t ν = 3 noise, the benchmark's
        // hardest case), looked at after every trial pair from 1 to 40 a side. With one boundary calibrated for every look
        // (on uniform trials: the event depends only on the trials' order), "no regression" is a ≤ β event per search
        // for any continuous noise; the same exact interval at 1 − 2β every look is not.
        const double beta = 0.01;
        var boundaryMisses = 0;
        var perLookMisses = 0;
        for (var rep = 0; rep < 3000; rep++)
        {
            var rng = new Random(10_000 + rep);
            var (a, b) = (new List<double>(), new List<double>());
            bool boundary = false, perLook = false;

            // Act
            for (var m = 1; m <= 40 && !(boundary && perLook); m++)
            {
                a.Add(MemorySimulator.StudentT3(rng) / T3Iqr);
                b.Add(1 + MemorySimulator.StudentT3(rng) / T3Iqr);
                boundary |= SequentialTests.NoRegressionBound(a, b, 40, beta) is { } bound && bound.High < 1;
                perLook |= m >= SequentialTests.MinSameTrials && HodgesLehmann.Estimate(a, b, 1 - 2 * beta).High < 1;
            }
            if (boundary) boundaryMisses++;
            if (perLook) perLookMisses++;
        }

        // Assert: at most β (30 of 3,000; the calibration aims at 0.9 %) with room for sampling error (binomial sd ≈ 5.4;
        // 191 of 20,000 seeds measured), and well below the per-look rule (178 of 3,000)
        Assert.InRange(boundaryMisses, 0, 45);
        Assert.True(perLookMisses > 3 * Math.Max(boundaryMisses, 1), $"per look {perLookMisses}, boundary {boundaryMisses}");
    }

    [Fact]
    public void I_can_see_drift_in_time_that_a_random_re_split_cannot()
    {
        // Arrange: value = trial index + noise, and an iid pool
        var rng = new Random(3);
        var drifting = Enumerable.Range(0, 40).Select(i => i + 2 * MemorySimulator.StudentT3(rng)).ToArray();
        var iid = Enumerable.Range(0, 40).Select(_ => 2 * MemorySimulator.StudentT3(rng)).ToArray();

        // Act
        var resplit = Calibration.RunAa(drifting, 20, 200, Bisector.Recipes.RegressionDirection.Increase, 1);
        var drift = DriftCheck.Test(drifting);
        var none = DriftCheck.Test(iid);

        // Assert: the permutation calls it calibrated; the time-ordered tests do not
        Assert.True(resplit.FalsePositiveRate < 0.05);
        Assert.True(drift.Drifting, drift.Message);
        Assert.True(drift.HalvesP < 1e-5, drift.Message);
        Assert.False(none.Drifting, none.Message);
    }

    /// <summary>The interquartile range of Student's t with ν = 3 (2 × its 75 % quantile, 0.7649).</summary>
    private const double T3Iqr = 1.5297847;

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
