using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

public class FeatureSpecs
{
    private static TrialSeries Series(params (double S, double V)[] points) =>
        new(points.Select(p => p.S).ToArray(), points.Select(p => p.V).ToArray());

    [Fact]
    public void I_can_take_the_median_of_odd_even_and_empty_lists()
    {
        // Arrange / Act / Assert
        Assert.Equal(2, Robust.Median([3.0, 1, 2]));
        Assert.Equal(2.5, Robust.Median([4.0, 1, 3, 2]));
        Assert.True(double.IsNaN(Robust.Median([])));
    }

    [Fact]
    public void I_can_get_a_theil_sen_slope_in_units_per_minute_that_ignores_an_outlier()
    {
        // Arrange: 10 units per minute, the last sample a wild spike. Of the 10 pairwise slopes, 6 are exactly 1/6 per s.
        double[] seconds = [0, 60, 120, 180, 240];
        double[] values = [0, 10, 20, 30, 1000];

        // Act
        var slope = Features.TheilSenSlopePerMinute(seconds, values);

        // Assert
        Assert.Equal(10, slope, 9);
    }

    [Fact]
    public void I_can_get_a_deterministic_slope_from_a_long_series_by_subsampling_pairs()
    {
        // Arrange: 5,000 points (12.5 M pairs) on y = 2 t with alternating ±1 wobble
        var seconds = Enumerable.Range(0, 5000).Select(i => (double)i).ToArray();
        var values = seconds.Select((t, i) => 2 * t + (i % 2 == 0 ? 1 : -1)).ToArray();

        // Act
        var first = Features.TheilSenSlopePerMinute(seconds, values);
        var second = Features.TheilSenSlopePerMinute(seconds, values);

        // Assert: 2 per second = 120 per minute, the wobble changes it by well under 1 %
        Assert.Equal(first, second);
        Assert.InRange(first, 119, 121);
    }

    [Fact]
    public void I_can_get_zero_slope_from_zero_one_or_same_time_points()
    {
        // Arrange / Act / Assert
        Assert.Equal(0, Features.TheilSenSlopePerMinute([], []));
        Assert.Equal(0, Features.TheilSenSlopePerMinute([5.0], [7.0]));
        Assert.Equal(0, Features.TheilSenSlopePerMinute([5.0, 5.0], [7.0, 9.0]));
    }

    [Fact]
    public void I_can_extract_each_feature_after_dropping_the_warm_up()
    {
        // Arrange: a start-up spike of 1000 before second 3, then 1..9
        var series = Series((0, 1000), (1, 1000), (2, 1000), (3, 1), (4, 2), (5, 3), (6, 4), (7, 5), (8, 6), (9, 7), (10, 8), (11, 9));

        // Act
        var plateau = Features.Extract(series, FeatureKind.Plateau, 3);
        var peak = Features.Extract(series, FeatureKind.Peak, 3);
        var mean = Features.Extract(series, FeatureKind.Mean, 3);
        var slope = Features.Extract(series, FeatureKind.Slope, 3);
        var level = Features.Extract(series, FeatureKind.Level, 3);

        // Assert: plateau = median of the last third (7, 8, 9); level = median of 1..9; one unit per second = 60 per minute
        Assert.Equal(8, plateau);
        Assert.Equal(5, level);
        Assert.Equal(9, peak);
        Assert.Equal(5, mean);
        Assert.Equal(60, slope, 9);
    }

    [Fact]
    public void I_can_see_NaN_when_nothing_is_left_after_the_warm_up()
    {
        // Arrange
        var series = Series((0, 1), (1, 2));

        // Act
        var plateau = Features.Extract(series, FeatureKind.Plateau, 10);

        // Assert
        Assert.True(double.IsNaN(plateau));
    }

    [Fact]
    public void I_can_take_the_level_of_a_flat_series_from_every_sample_so_one_spike_does_not_move_it()
    {
        // Arrange: warm-up at 50, then a flat 10/11/12 pattern with one spike of 900 at the end
        var series = Series((0, 50), (1, 10), (2, 12), (3, 11), (4, 10), (5, 12), (6, 11), (7, 900));

        // Act
        var level = Features.Extract(series, FeatureKind.Level, 1);
        var plateau = Features.Extract(series, FeatureKind.Plateau, 1);
        var mean = Features.Extract(series, FeatureKind.Mean, 1);

        // Assert: level = median of 10,12,11,10,12,11,900 = 11; the plateau only sees the last three (12, 11, 900);
        // the mean is dragged up by the spike
        Assert.Equal(11, level);
        Assert.Equal(12, plateau);
        Assert.Equal((10 + 12 + 11 + 10 + 12 + 11 + 900) / 7.0, mean, 9);
    }
}
