using Bisector.Search.Simulation;
using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

public class ModalitySpecs
{
    [Fact]
    public void I_get_a_warning_when_trials_fall_into_two_groups()
    {
        // Arrange: 10 trials near 10 MB and 5 near 14 MB, each group spread by ±0.05 MB
        var values = Enumerable.Range(0, 10).Select(i => 10e6 + (i % 5 - 2) * 25e3)
            .Concat(Enumerable.Range(0, 5).Select(i => 14e6 + (i % 5 - 2) * 25e3)).ToArray();

        // Act
        var warning = Modality.Check(7, values);

        // Assert: medians 10 MB and 14 MB; both groups' MAD is 25k × 1.4826 ⇒ separation 4 MB / 37k ≈ 108
        Assert.NotNull(warning);
        Assert.Equal(7, warning.Position);
        Assert.Equal(10e6, warning.LowerMedian);
        Assert.Equal(14e6, warning.UpperMedian);
        Assert.Equal(5, warning.UpperCount);
        Assert.Contains("bimodal", warning.Message);
    }

    [Fact]
    public void I_get_no_warning_for_a_heavy_tail_few_trials_or_all_ties()
    {
        // Arrange: heavy-tailed (t₃) trials of one build, as the simulator draws them
        var rng = new Random(5);
        var heavy = Enumerable.Range(0, 40).Select(_ => 17e6 + 3e5 * MemorySimulator.StudentT3(rng)).ToArray();
        var outlier = Enumerable.Repeat(1.0, 19).Select((v, i) => v + i * 0.01).Append(1000).ToArray();

        // Act / Assert: a lone outlier is not a mode; fewer than 8 trials or all-equal pages say nothing
        Assert.Null(Modality.Check(0, heavy));
        Assert.Null(Modality.Check(0, outlier));
        Assert.Null(Modality.Check(0, [1.0, 1, 1, 9, 9, 9]));
        Assert.Null(Modality.Check(0, Enumerable.Repeat(4096.0, 30).ToArray()));
        Assert.Null(Modality.Check(0, []));
    }

    [Fact]
    public void I_rarely_get_a_warning_on_unimodal_heavy_tailed_trials()
    {
        // Arrange: 500 sets of 20 t₃ trials
        var rng = new Random(11);

        // Act
        var alarms = Enumerable.Range(0, 500)
            .Count(_ => Modality.Check(0, Enumerable.Range(0, 20).Select(_ => MemorySimulator.StudentT3(rng)).ToArray()) is not null);

        // Assert: the false-alarm rate stays small (≤ 2 %; a warning on every twentieth commit would be noise)
        Assert.InRange(alarms, 0, 10);
    }

    [Fact]
    public void I_get_no_warning_for_two_groups_closer_than_the_effect_that_matters()
    {
        // Arrange: two clean groups 60 KiB apart (seen on the demo across two workers), under a 1 MiB min-effect
        var values = new double[] { 8.86e6, 8.861e6, 8.859e6, 8.86e6, 8.92e6, 8.921e6, 8.919e6, 8.92e6, 8.92e6 };

        // Act
        var unbounded = Modality.Check(3, values);
        var bounded = Modality.Check(3, values, minDistance: 1048576 / 2.0);

        // Assert
        Assert.NotNull(unbounded);
        Assert.Null(bounded);
    }
}
