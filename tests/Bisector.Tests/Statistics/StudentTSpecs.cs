using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

public sealed class StudentTSpecs
{
    [Theory]
    [InlineData(0.98, 1, 31.821)]
    [InlineData(0.98, 2, 6.965)]
    [InlineData(0.98, 3, 4.541)]
    [InlineData(0.98, 4, 3.747)]
    [InlineData(0.98, 10, 2.764)]
    [InlineData(0.95, 5, 2.571)]
    [InlineData(0.95, 30, 2.042)]
    [InlineData(0.90, 7, 1.895)]
    public void I_can_get_the_two_sided_t_quantile_of_the_printed_tables(double level, int df, double expected)
    {
        // Act
        var t = StudentT.TwoSidedQuantile(level, df);

        // Assert: the tables print three decimals
        Assert.Equal(expected, t, 3);
    }

    [Fact]
    public void I_can_see_the_t_distribution_approach_the_normal_with_many_degrees_of_freedom()
    {
        // Act
        var t = StudentT.TwoSidedQuantile(0.95, 2000);

        // Assert: 1.96 for the normal
        Assert.InRange(t, 1.960, 1.962);
        Assert.Equal(0.95, StudentT.TwoSidedProbability(t, 2000), 9);
    }
}
