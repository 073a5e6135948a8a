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
        var sameLlr = SequentialTests.SameLogLikelihoodRatio(good, same, threshold: 2);
        var worseLlr = SequentialTests.SameLogLikelihoodRatio(good, worse, threshold: 2);
        var tooFew = SequentialTests.SameLogLikelihoodRatio(good[..4], same[..4], threshold: 2);

        // Assert
        Assert.True(sameLlr > Math.Log(400), $"llr {sameLlr}");
        Assert.True(worseLlr < 0);
        Assert.Equal(double.NegativeInfinity, tooFew);
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

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
