using System.Text.RegularExpressions;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;

namespace Bisector.Tests.Statistics;

public sealed class EValueTextSpecs
{
    [Theory]
    [InlineData(3.727e13, "3.7 × 10^13")]
    [InlineData(12345.0, "1.2 × 10^4")]
    [InlineData(100.0, "100")]
    [InlineData(2.5, "2.5")]
    [InlineData(0.0123, "0.012")]
    public void I_can_read_an_e_value_of_any_size_without_E_notation(double e, string expected)
    {
        // Act
        var text = EValueText.Value(e);

        // Assert
        Assert.Equal(expected, text);
    }

    [Fact]
    public async Task I_can_read_the_search_summary_of_a_huge_effect_without_E_notation()
    {
        // Arrange: a step of 40 IQR, as large as the demo's, drives the e-value far past 10^6
        const double iqr = 530e3;
        var sim = new MemorySimulator(new SimulationScenario(20, 13, 40 * iqr, 0, [4]), seed: 7);
        var options = new SearchOptions(SearchStrategy.Bisect, 2, new DecisionSpec("vm_rss", FeatureKind.Plateau, RegressionDirection.Increase, iqr), 20);

        // Act
        var outcome = await SearchEngine.RunAsync(20, sim.MeasureAsync, options);

        // Assert
        Assert.Equal(SearchStatus.Found, outcome.Status);
        Assert.Contains("e-value", outcome.Summary);
        Assert.DoesNotMatch(new Regex(@"\d[eE][+-]?\d"), outcome.Summary);
    }
}
