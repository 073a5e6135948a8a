using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

/// <summary>Every p-value the tool prints goes through <see cref="PValueText"/>: never "p = 0", never "p = &lt; …".</summary>
public sealed class PValueTextSpecs
{
    [Fact]
    public void I_can_read_a_fully_separated_nine_vs_nine_comparison_without_an_impossible_p_value()
    {
        // Arrange: 9 vs 9 slopes (MiB/min) of a fix as the journald hunt measured them, fully separated; the exact
        // two-sided p of the most extreme split is 2 / C(18, 9) = 2 / 48620 ≈ 4.1×10⁻⁵
        double[] good = [0.52, 0.47, 0.55, 0.49, 0.61, 0.44, 0.50, 0.58, 0.53];
        double[] fix = [0.12, 0.08, 0.15, 0.10, 0.05, 0.11, 0.09, 0.14, 0.07];

        // Act
        var comparison = Comparisons.Compare(good, fix, RegressionDirection.Decrease, 0.2, alpha: 0.01);
        var header = ReportFacts.TestLine(comparison);
        var cell = ReportFacts.PValue(comparison.PValue);

        // Assert
        Assert.Equal(2.0 / 48620, comparison.PValue, 12);
        Assert.Equal("Mann–Whitney U (exact), p < 0.0001 (α = 0.01)", header);
        Assert.Equal("< 0.0001", cell);
        Assert.Contains("U = 0, p < 0.0001 (α = 0.01)", comparison.Explanation);
        Assert.DoesNotContain("p = 0", comparison.Explanation);
        Assert.DoesNotContain("p = <", header + comparison.Explanation);
    }

    [Theory]
    [InlineData(0.0, "p < 0.0001", "< 0.0001")]
    [InlineData(4.1e-5, "p < 0.0001", "< 0.0001")]
    [InlineData(0.0001, "p = 0.0001", "0.0001")]
    [InlineData(0.000123456, "p = 0.000123", "0.000123")]
    [InlineData(0.00995, "p = 0.00995", "0.00995")]
    [InlineData(0.0423, "p = 0.0423", "0.0423")]
    [InlineData(1.0, "p = 1", "1")]
    [InlineData(double.NaN, "p = n/a", "n/a")]
    public void I_can_see_each_p_value_stated_once_and_well_formed(double p, string statement, string value)
    {
        // Act
        var s = PValueText.Statement(p);
        var v = PValueText.Value(p);

        // Assert
        Assert.Equal(statement, s);
        Assert.Equal(value, v);
    }
}
