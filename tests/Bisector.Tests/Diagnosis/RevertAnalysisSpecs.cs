using Bisector.Diagnosis;

namespace Bisector.Tests.Diagnosis;

/// <summary>The revert proof's statistics on synthetic feature values (MiB-sized levels with a small spread).</summary>
public sealed class RevertAnalysisSpecs
{
    private const double MiB = 1024 * 1024;
    private static readonly double[] Good = [4.33 * MiB, 4.35 * MiB, 4.34 * MiB];
    private static readonly double[] Bad = [8.47 * MiB, 8.49 * MiB, 8.48 * MiB];

    private static double[] Around(double level, int n) => Enumerable.Range(0, n).Select(i => (level + 0.01 * (i % 3 - 1)) * MiB).ToArray();

    [Fact]
    public void I_can_see_a_revert_that_brings_the_good_level_back_remove_all_of_the_regression()
    {
        // Act
        var e = RevertAnalysis.Estimate(Good, Bad, Around(4.34, 2), alpha: 0.01)!;

        // Assert
        Assert.Equal(RevertFinding.Removes, e.Finding);
        Assert.True(e.Decided);
        Assert.InRange(e.Share, 0.99, 1.01);
        Assert.InRange(1.0, e.ShareLow, e.ShareHigh);
        Assert.True(e.VersusBadHigh < 0, $"the reverted build is below the bad end: {e.VersusBadLow}..{e.VersusBadHigh}");
        Assert.True(e.EValueBad >= 100);
        Assert.True(e.EValueGood < 100);
        Assert.Equal("100 %", e.SharePercent);
    }

    [Fact]
    public void I_can_see_a_revert_that_changes_nothing_remove_none_of_the_regression()
    {
        // Act
        var e = RevertAnalysis.Estimate(Good, Bad, Around(8.48, 2), alpha: 0.01)!;

        // Assert
        Assert.Equal(RevertFinding.RemovesNone, e.Finding);
        Assert.InRange(e.Share, -0.01, 0.01);
        Assert.InRange(0.0, e.ShareLow, e.ShareHigh);
        Assert.True(e.EValueGood >= 100);
    }

    [Fact]
    public void I_can_see_a_revert_that_removes_half_of_the_regression_as_a_part_with_an_interval_around_it()
    {
        // Act
        var e = RevertAnalysis.Estimate(Good, Bad, Around(6.41, 3), alpha: 0.01)!;

        // Assert
        Assert.Equal(RevertFinding.RemovesPart, e.Finding);
        Assert.InRange(e.Share, 0.49, 0.51);
        Assert.True(e.ShareLow > 0.4 && e.ShareHigh < 0.6, $"[{e.ShareLow}, {e.ShareHigh}]");
    }

    [Theory]
    [InlineData(0.0, RevertFinding.RemovesPart)]
    [InlineData(1.0, RevertFinding.Removes)]
    public void I_can_see_a_revert_whose_rest_is_below_half_the_min_effect_remove_the_regression(double minEffectMiB, RevertFinding expected)
    {
        // Arrange: the reverted build sits 0.11 MiB above the good end (4 MiB below the bad end) with a 0.01 MiB spread:
        // it differs from both ends (the demo on a loaded machine, its good end measured rounds before the revert)
        var reverted = Around(4.45, 4);

        // Act
        var e = RevertAnalysis.Estimate(Good, Bad, reverted, alpha: 0.01, minEffect: minEffectMiB * MiB)!;

        // Assert: a rest below half the min-effect is not a part that stays
        Assert.True(e.EValueGood >= 100 && e.EValueBad >= 100, $"{e.EValueGood} {e.EValueBad}");
        Assert.Equal(expected, e.Finding);
        Assert.InRange(e.Share, 0.96, 0.98);
    }

    [Theory]
    [InlineData(4.45, " it leaves against the good end is below half the min-effect (")]
    [InlineData(2.30, " of the regression (")]
    [InlineData(6.41, "; the rest stays (")]
    public void I_can_read_in_the_headline_whether_the_rest_a_revert_leaves_matters(double revertedMiB, string expected)
    {
        // Arrange: a rest of 0.11 MiB (below half the 1 MiB min-effect), an overshoot 2 MiB below the good end, and half
        // the regression left
        var e = RevertAnalysis.Estimate(Good, Bad, Around(revertedMiB, 4), alpha: 0.01, minEffect: MiB)!;
        var commit = new Bisector.Git.Commit(new string('a', 40), "culprit", "someone", DateTimeOffset.UnixEpoch, []);
        var report = new RevertReport(commit, commit with { Sha = new string('b', 40) }, "git revert --no-commit aaaa", Bisector.Storage.RevertStatus.Built,
            [], null, e, 4, 0, 1, 1, Bisector.Recipes.RegressionDirection.Increase, Bisector.Statistics.FeatureScale.For("rss_anon", Bisector.Statistics.FeatureKind.Plateau));

        // Act
        var headline = report.Headline;

        // Assert
        Assert.Contains(expected, headline, StringComparison.Ordinal);
        Assert.StartsWith("reverting aaaaaaaaaa alone removes ", headline, StringComparison.Ordinal);
    }

    [Fact]
    public void I_can_see_a_noisy_revert_stay_undecided_with_an_unbounded_share()
    {
        // Arrange: ends and revert all inside one wide spread
        double[] good = [1 * MiB, 9 * MiB];
        double[] bad = [2 * MiB, 10 * MiB];

        // Act
        var e = RevertAnalysis.Estimate(good, bad, [5 * MiB, 6 * MiB], alpha: 0.01)!;

        // Assert
        Assert.Equal(RevertFinding.Undecided, e.Finding);
        Assert.False(e.Decided);
        Assert.Equal("[unbounded]", e.ShareInterval);
    }

    [Fact]
    public void I_can_get_no_estimate_without_a_trial_of_the_reverted_build()
    {
        // Act / Assert
        Assert.Null(RevertAnalysis.Estimate(Good, Bad, [], alpha: 0.01));
        Assert.Null(RevertAnalysis.Estimate([1.0], [2.0], [1.5], alpha: 0.01));
    }

    [Fact]
    public void I_can_measure_a_revert_of_a_decrease_the_same_way()
    {
        // Arrange: the change lowered memory (a fix found with direction: decrease); reverting it brings the old level back
        var e = RevertAnalysis.Estimate(Bad, Good, Around(8.48, 2), alpha: 0.01)!;

        // Assert
        Assert.Equal(RevertFinding.Removes, e.Finding);
        Assert.InRange(e.Share, 0.99, 1.01);
        Assert.True(e.VersusBadLow > 0);
    }
}
