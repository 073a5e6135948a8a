using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

public class ComparisonSpecs
{
    [Fact]
    public void I_can_get_the_exact_mann_whitney_p_value_of_a_complete_separation()
    {
        // Arrange: 3 vs 3 fully separated; two of the C(6,3) = 20 splits are this extreme
        double[] a = [1, 2, 3];
        double[] b = [4, 5, 6];

        // Act
        var result = MannWhitney.Test(a, b);

        // Assert
        Assert.True(result.Exact);
        Assert.Equal(9, result.U);
        Assert.Equal(0.1, result.PValue, 12);
        Assert.Equal(2.0 / 252, MannWhitney.Test([1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10]).PValue, 12);
    }

    [Fact]
    public void I_can_get_an_exact_p_value_with_ties()
    {
        // Arrange: mid-ranks 1, 2.5, 2.5, 4; candidate {2.5, 4}; 4 of the 6 splits are as far from the mean rank sum
        double[] a = [1, 2];
        double[] b = [2, 3];

        // Act
        var result = MannWhitney.Test(a, b);

        // Assert
        Assert.Equal(3.5, result.U);
        Assert.Equal(4.0 / 6, result.PValue, 12);
        Assert.Equal(1, result.Ties);
    }

    [Fact]
    public void I_can_compare_all_ties_and_empty_samples_without_breaking_the_test()
    {
        // Arrange / Act
        var allTies = MannWhitney.Test([4096.0, 4096, 4096], [4096.0, 4096, 4096]);
        var largeAllTies = MannWhitney.Test(Enumerable.Repeat(4096.0, 30).ToArray(), Enumerable.Repeat(4096.0, 30).ToArray());
        var empty = MannWhitney.Test([], [1.0]);

        // Assert
        Assert.Equal(1, allTies.PValue, 12);
        Assert.Equal(1, largeAllTies.PValue, 12);
        Assert.Equal(1, empty.PValue);
    }

    [Fact]
    public void I_can_get_the_normal_approximation_for_large_samples()
    {
        // Arrange: 20 vs 20, interleaved with a shift of 0.5 → not significant; shifted by 100 → tiny p
        var a = Enumerable.Range(0, 20).Select(i => (double)i).ToArray();

        // Act
        var near = MannWhitney.Test(a, a.Select(x => x + 0.5).ToArray());
        var far = MannWhitney.Test(a, a.Select(x => x + 100).ToArray());

        // Assert: U = 210 of 400; z = (|210 − 200| − 0.5)/√1366.67 = 0.257 → p ≈ 0.797
        Assert.False(near.Exact);
        Assert.Equal(0.797, near.PValue, 3);
        Assert.True(far.PValue < 1e-6);
    }

    [Fact]
    public void I_can_estimate_the_hodges_lehmann_shift_and_its_interval()
    {
        // Arrange
        var a = Enumerable.Range(0, 10).Select(i => (double)i).ToArray();
        var b = a.Select(x => x + 5).ToArray();

        // Act
        var small = HodgesLehmann.Estimate([1.0, 2, 3], [4.0, 5, 6], 0.98);
        var ten = HodgesLehmann.Estimate(a, b, 0.98);

        // Assert: 3 vs 3 is too small for a 98 % interval; 10 vs 10 bounds the shift of 5
        Assert.Equal(3, small.Shift);
        Assert.True(double.IsNegativeInfinity(small.Low) && double.IsPositiveInfinity(small.High));
        Assert.Equal(5, ten.Shift);
        Assert.InRange(ten.Low, 0, 5);
        Assert.InRange(ten.High, 5, 10);
    }

    [Fact]
    public void I_get_Unknown_with_zero_or_one_trial_per_side()
    {
        // Arrange / Act
        var none = Comparisons.Compare([], [], RegressionDirection.Increase, 1);
        var one = Comparisons.Compare([1.0], [100.0], RegressionDirection.Increase, 1);

        // Assert
        Assert.Equal(Verdict.Unknown, none.Verdict);
        Assert.Equal(Verdict.Unknown, one.Verdict);
        Assert.Contains("at least 2 per side", one.Explanation);
    }

    [Fact]
    public void I_get_Unknown_for_two_identical_trials_per_side_but_Same_for_many()
    {
        // Arrange: memory quantised to one page value everywhere
        double[] two = [4096, 4096];
        var many = Enumerable.Repeat(4096.0, 10).ToArray();

        // Act
        var few = Comparisons.Compare(two, two, RegressionDirection.Increase, 100);
        var lots = Comparisons.Compare(many, many, RegressionDirection.Increase, 100);
        var noThreshold = Comparisons.Compare(many, many, RegressionDirection.Increase, 0);

        // Assert: Same needs a bounded interval below +threshold; a zero threshold can never show Same
        Assert.Equal(Verdict.Unknown, few.Verdict);
        Assert.Equal(Verdict.Same, lots.Verdict);
        Assert.Equal(0, lots.Effect);
        Assert.Equal(Verdict.Unknown, noThreshold.Verdict);
    }

    [Fact]
    public void I_can_tell_a_regression_from_an_improvement_by_direction()
    {
        // Arrange
        var good = Enumerable.Range(100, 10).Select(i => (double)i).ToArray();
        var bad = Enumerable.Range(200, 10).Select(i => (double)i).ToArray();

        // Act
        var increase = Comparisons.Compare(good, bad, RegressionDirection.Increase, 10);
        var decrease = Comparisons.Compare(good, bad, RegressionDirection.Decrease, 10);
        var tooSmall = Comparisons.Compare(good, bad, RegressionDirection.Increase, 500);

        // Assert
        Assert.Equal(Verdict.Regressed, increase.Verdict);
        Assert.Equal(100, increase.Effect);
        Assert.True(increase.PValue < 0.01);
        Assert.Equal(Verdict.Improved, decrease.Verdict);
        // a real but small shift (100, interval well inside ±500) does not matter at this threshold
        Assert.Equal(Verdict.Same, tooSmall.Verdict);
    }

    [Fact]
    public void I_can_call_a_noisy_but_not_worse_commit_Same_without_proving_it_equivalent()
    {
        // Arrange: the candidate sits 300 below the baseline with much noise: not significant, and its interval reaches
        // far below -threshold, but its regressing end stays under +threshold.
        var good = Enumerable.Range(0, 10).Select(i => i * 100.0).ToArray();
        var bad = good.Select(v => v - 300).ToArray();

        // Act
        var hunt = Comparisons.Compare(good, bad, RegressionDirection.Increase, 500);
        var fixHunt = Comparisons.Compare(good, bad, RegressionDirection.Decrease, 500);

        // Assert: for a regression hunt that is "no regression"; hunting the other way it is not ruled out
        Assert.True(hunt.PValue >= 0.01, hunt.Explanation);
        Assert.True(hunt.EffectLow < -500 && hunt.EffectHigh < 500, hunt.Explanation);
        Assert.Equal(Verdict.Same, hunt.Verdict);
        Assert.Contains("no regression", hunt.Explanation);
        Assert.Equal(Verdict.Unknown, fixHunt.Verdict);
    }

    [Fact]
    public void I_can_hold_Same_to_a_stricter_level_than_Regressed()
    {
        // Arrange: candidate = baseline − 100 for ten values 0, 100, …, 900: the pairwise differences are 100·(k − 1)
        // with k = j − i occurring 10 − |k| times. The exact Mann–Whitney ranks for m = n = 10 are 20 (1 % tail) and
        // 14 (0.25 % tail), so the 20th-largest difference (k = 4: 300) bounds the 98 % interval and the 14th-largest
        // (k = 5: 400) the 99.75 % one-sided bound.
        var good = Enumerable.Range(0, 10).Select(i => i * 100.0).ToArray();
        var bad = good.Select(v => v - 100).ToArray();

        // Act
        var usual = Comparisons.Compare(good, bad, RegressionDirection.Increase, 350);
        var strict = Comparisons.Compare(good, bad, RegressionDirection.Increase, 350, sameAlpha: 0.0025);

        // Assert: 300 < 350 is "no regression" at α; 400 is not, so the stricter comparison waits for more trials;
        // the test, the estimate and its 98 % interval are the same in both
        Assert.Equal(300, usual.EffectHigh);
        Assert.Equal(Verdict.Same, usual.Verdict);
        Assert.Equal(Verdict.Unknown, strict.Verdict);
        Assert.Contains("99.75% one-sided (the 'Same' bound) = 400", strict.Explanation);
        Assert.Equal(usual.PValue, strict.PValue);
        Assert.Equal((-100, usual.EffectLow, usual.EffectHigh), (strict.Effect, strict.EffectLow, strict.EffectHigh));
    }

    [Fact]
    public void I_can_calibrate_the_false_positive_rate_with_an_A_A_split()
    {
        // Arrange: 200 heavy-tailed trials of one build
        var rng = new Random(7);
        var values = Enumerable.Range(0, 200).Select(_ => 17e6 + 1e5 * Bisector.Search.Simulation.MemorySimulator.StudentT3(rng)).ToArray();

        // Act
        var result = Calibration.RunAa(values, 20, 400, RegressionDirection.Increase, 1e4, 0.01, seed: 3);

        // Assert: the rate must stay near α = 1 % (binomial 400 draws: 3 % is far in the tail)
        Assert.Equal(400, result.Resamples);
        Assert.InRange(result.FalsePositiveRate, 0, 0.03);
    }

    [Fact]
    public void I_can_get_the_kolmogorov_smirnov_distance()
    {
        // Arrange / Act
        var separated = KolmogorovSmirnov.Test([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11.0, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
        var same = KolmogorovSmirnov.Test([1.0, 2, 3], [1.0, 2, 3]);

        // Assert
        Assert.Equal(1, separated.U);
        Assert.True(separated.PValue < 0.001);
        Assert.Equal(0, same.U);
        Assert.Equal(1, same.PValue);
    }

    [Fact]
    public void I_can_find_several_change_points_and_none_in_noise()
    {
        // Arrange: 10 positions × 5 trials; steps at 4 and at 8
        var rng = new Random(11);
        var positions = Enumerable.Range(0, 10).ToArray();
        IReadOnlyList<double> Trials(double level) => Enumerable.Range(0, 5).Select(_ => level + rng.NextDouble()).ToArray();
        var stepped = positions.Select(p => Trials(p < 4 ? 0 : p < 8 ? 10 : 20)).ToArray();
        var flat = positions.Select(_ => Trials(0)).ToArray();

        // Act
        var found = ChangePoints.Detect(positions, stepped, FeatureKind.Plateau);
        var none = ChangePoints.Detect(positions, flat, FeatureKind.Plateau);

        // Assert
        Assert.Equal([4, 8], found.Select(c => c.Position).ToArray());
        Assert.Empty(none);
    }

    [Fact]
    public void I_can_read_the_evidence_line_of_a_slope_in_mib_per_minute_with_interval_and_threshold_in_the_same_unit()
    {
        // Arrange: rss_anon slopes in bytes/min, good ≈ 0.1 MiB/min, bad ≈ 12.2 MiB/min, min-effect 1 MiB/min
        const double MiB = 1024 * 1024;
        var good = Enumerable.Range(0, 9).Select(i => (0.1 + 0.01 * i) * MiB).ToArray();
        var bad = Enumerable.Range(0, 9).Select(i => (12.1 + 0.02 * i) * MiB).ToArray();

        // Act
        var result = Comparisons.Compare(good, bad, RegressionDirection.Increase, 1 * MiB, 0.01, 0.0025,
            FeatureScale.For("rss_anon", FeatureKind.Slope));

        // Assert
        Assert.Equal(Verdict.Regressed, result.Verdict);
        Assert.Matches(@"shift = \+12\.\d\d MiB/min \[\+1\d\.\d\d, \+1\d\.\d\d\] MiB/min at 98 %; threshold = 1\.00 MiB/min", result.Explanation);
        Assert.DoesNotMatch(@"\dE[+-]\d", result.Explanation);
    }
}
