using System.Globalization;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;
using Xunit.Abstractions;

namespace Bisector.Tests.Search;

/// <summary>
/// What sharing identical builds saves on the demo's shape (simulated, so many seeds): 12 candidates, the culprit at
/// 10, and four comment-only commits whose builds repeat the one before them (2 = 1, 7 = 6, 9 = 8, 11 = 10), searched
/// with and without sharing on the same seeds. The table it prints is the one in docs/benchmarks.md.
/// </summary>
public class IdenticalBuildsBenchmarkSpecs(ITestOutputHelper output)
{
    private static readonly Dictionary<int, string> DemoTwins = new() { [2] = "b1", [7] = "b6", [9] = "b8", [11] = "b10" };

    [Fact]
    public async Task I_spend_fewer_trials_on_the_demos_shape_when_identical_builds_share_their_trials()
    {
        // Arrange
        const int seeds = 40;
        var iqr = MemorySimulator.ScalarIqr(new SimulationScenario(12, null, 0, 0, []));
        var options = new SearchOptions(SearchStrategy.Bisect, 2, new DecisionSpec("vm_rss", FeatureKind.Plateau, RegressionDirection.Increase, iqr), 20);
        string Fingerprint(int p) => DemoTwins.GetValueOrDefault(p, $"b{p}");

        // Act
        var spent = new Dictionary<bool, List<int>> { [true] = [], [false] = [] };
        var correct = new Dictionary<bool, int> { [true] = 0, [false] = 0 };
        var twinsMeasured = new Dictionary<bool, int> { [true] = 0, [false] = 0 };
        for (var seed = 1; seed <= seeds; seed++)
        {
            foreach (var share in new[] { true, false })
            {
                var sim = new MemorySimulator(new SimulationScenario(12, 10, 3 * iqr, 0, []), seed);
                var measurer = new SharedBuildsMeasurer(sim.MeasureAsync, Fingerprint, share);
                var outcome = await SearchEngine.RunAsync(12, measurer.MeasureAsync, options);
                spent[share].Add(sim.TrialsRun);
                correct[share] += outcome.Culprit == 10 ? 1 : 0;
                twinsMeasured[share] += measurer.TrialsAt.Keys.Count(p => DemoTwins.ContainsKey(p) && measurer.TrialsAt.ContainsKey(int.Parse(DemoTwins[p][1..], CultureInfo.InvariantCulture)));
            }
        }

        // Assert: sharing costs no accuracy, never measures both builds of a pair, and spends fewer trials on average
        var c = CultureInfo.InvariantCulture;
        output.WriteLine("| grouping | seeds | culprit correct | mean trials | min–max | pairs of identical builds both measured |");
        output.WriteLine("|---|---|---|---|---|---|");
        foreach (var share in new[] { true, false })
        {
            output.WriteLine(string.Create(c, $"| {(share ? "on" : "off")} | {seeds} | {correct[share]}/{seeds} | {spent[share].Average():0.0} | {spent[share].Min()}–{spent[share].Max()} | {twinsMeasured[share]} |"));
        }

        Assert.Equal(seeds, correct[true]);
        Assert.Equal(0, twinsMeasured[true]);
        Assert.True(spent[true].Average() < spent[false].Average(), $"{spent[true].Average()} vs {spent[false].Average()}");
    }
}
