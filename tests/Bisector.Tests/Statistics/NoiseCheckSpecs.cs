using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

public sealed class NoiseCheckSpecs
{
    private const double MiB = 1024 * 1024;

    [Fact]
    public void I_can_get_each_feature_s_noise_and_a_suggested_min_effect_of_three_spreads_rounded_up_to_a_size()
    {
        // Arrange: three flat trials settling at 10.0, 10.1 and 10.2 MiB (SD 0.1 MiB), 10 s at 10 Hz after a 1 s warm-up
        var trials = new[] { 10.0, 10.1, 10.2 }.Select(level =>
        {
            var seconds = Enumerable.Range(0, 110).Select(i => i / 10.0).ToList();
            return new TrialSeries(seconds, seconds.Select(_ => level * MiB).ToList());
        }).ToList();

        // Act
        var noise = NoiseCheck.Measure(trials, warmupSeconds: 1);

        // Assert: 3 × 0.1 MiB = 307.2 KiB → 384K (1.5 × 256K); a flat slope's noise is 0 → the 64K/min floor
        var plateau = Assert.Single(noise, n => n.Feature == FeatureKind.Plateau);
        Assert.Equal(3, plateau.Trials);
        Assert.Equal(10.1 * MiB, plateau.Median, 3);
        Assert.Equal(0.1 * MiB, plateau.Spread, 3);
        Assert.Equal(384 * 1024, plateau.SuggestedMinEffect);
        Assert.Equal(NoiseCheck.Floor, Assert.Single(noise, n => n.Feature == FeatureKind.Slope).SuggestedMinEffect);
        Assert.Equal(Enum.GetValues<FeatureKind>().Length, noise.Count);
    }

    [Theory]
    [InlineData(200_000, 256 * 1024)]
    [InlineData(1.1 * MiB, 1.5 * MiB)]
    [InlineData(2 * MiB, 2 * MiB)]
    [InlineData(5 * MiB, 6 * MiB)]
    public void I_can_round_a_suggestion_up_to_a_size_a_user_writes(double bytes, double expected)
    {
        Assert.Equal(expected, NoiseCheck.NiceCeiling(bytes));
    }

    [Fact]
    public void I_can_get_the_window_a_noisy_slope_needs_for_its_min_effect()
    {
        // Arrange: slope SD 1 MiB/min over a 10 s window, min-effect 1 MiB/min: 3 SD is three times the min-effect
        var slope = new FeatureNoise(FeatureKind.Slope, 3, 0, 1 * MiB, 3 * MiB);

        // Act
        var longer = NoiseCheck.SlopeWindowFor(slope, TimeSpan.FromSeconds(10), 1 * MiB);
        var enough = NoiseCheck.SlopeWindowFor(slope, TimeSpan.FromSeconds(10), 4 * MiB);

        // Assert: 10 s × 3^(2/3) = 20.8 s, rounded up to 30 s; a min-effect above 3 SD needs no longer window
        Assert.Equal(TimeSpan.FromSeconds(30), longer);
        Assert.Null(enough);
    }
}
