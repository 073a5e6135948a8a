using Bisector.Recipes;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;

namespace Bisector.Tests.Search;

/// <summary>Identical builds in the pure search: shared trials, counted once, and no culprit mass between twins.</summary>
public class IdenticalBuildsSpecs
{
    private const double Iqr = 530e3;
    private static readonly double[] Good = [100, 101, 99, 100, 102, 98];
    private static readonly double[] Bad = [200, 201, 199, 200, 202, 198];

    private static SearchOptions Options(int workers = 2) =>
        new(SearchStrategy.Bisect, workers, new DecisionSpec("vm_rss", FeatureKind.Plateau, RegressionDirection.Increase, Iqr), 20);

    [Fact]
    public void I_get_no_culprit_mass_after_the_first_of_two_identical_builds_up_to_the_second()
    {
        // Arrange: 10 candidates; 3 good, 7 bad; 5 is 3's twin (its values count once, at 3), 8 is 7's twin
        IReadOnlyList<double> At(int p) => p switch { 3 or 5 => Good, 7 or 8 => Bad, _ => [] };
        var twins = new Dictionary<int, int> { [5] = 3, [8] = 7 };

        // Act
        var post = CulpritPosterior.Compute(10, Good, Bad, At, sameBuildAs: twins);
        var unknownTwins = CulpritPosterior.Compute(10, Good, Bad, p => p switch { 3 => Good, 7 => Bad, _ => [] });

        // Assert: 4 and 5 cannot be the culprit (3 and 5 are on one side), nor 8; the mass of 4..7 went to 6 and 7
        Assert.Equal(1, post.Sum(), 9);
        Assert.Equal(0, post[4 - 1]);
        Assert.Equal(0, post[5 - 1]);
        Assert.Equal(0, post[8 - 1]);
        Assert.Equal(0.5, post[6 - 1], 6);
        Assert.Equal(0.5, post[7 - 1], 6);
        Assert.Equal(0.25, unknownTwins[4 - 1], 6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task I_never_measure_two_identical_builds_and_never_name_a_later_one(int seed)
    {
        // Arrange: 12 candidates, a 3-IQR step at 7; 8 is a comment-only commit after the culprit (7's build),
        // 3 and 4 repeat 2's build, 11 repeats 10's
        var sim = new MemorySimulator(new SimulationScenario(12, 7, 3 * Iqr, 0, []), seed);
        var builds = new Dictionary<int, string> { [3] = "b2", [4] = "b2", [8] = "b7", [11] = "b10" };
        string Fingerprint(int p) => builds.GetValueOrDefault(p, $"b{p}");
        var shared = new SharedBuildsMeasurer(sim.MeasureAsync, Fingerprint);

        // Act
        var outcome = await SearchEngine.RunAsync(12, shared.MeasureAsync, Options());

        // Assert: found at the first commit of its group; no two positions of one build were ever measured;
        // every group reported holds one build, measured at one of its positions
        Assert.Equal(SearchStatus.Found, outcome.Status);
        Assert.Equal(7, outcome.Culprit);
        Assert.All(shared.TrialsAt.Keys.GroupBy(Fingerprint), g => Assert.Single(g));
        Assert.NotEmpty(outcome.IdenticalBuilds);
        Assert.All(outcome.IdenticalBuilds, g =>
        {
            Assert.Single(g.Positions.Select(Fingerprint).Distinct());
            Assert.Contains(g.MeasuredAt, g.Positions);
            Assert.True(shared.TrialsAt.ContainsKey(g.MeasuredAt));
            Assert.All(g.Positions.Where(p => p != g.MeasuredAt), p => Assert.False(shared.TrialsAt.ContainsKey(p)));
        });
        Assert.Equal(sim.TrialsRun, outcome.TrialsSpent);
        if (outcome.IdenticalBuilds.Any(g => g.Positions.Contains(7) && g.Positions.Contains(8)))
            Assert.Equal(0, outcome.Posterior[8 - 1]);
    }

    [Fact]
    public async Task I_get_NoRegression_at_once_when_the_bad_end_is_the_good_ends_build()
    {
        // Arrange: a step the trials would show, but the ends' builds are identical, so it cannot be the code's
        var sim = new MemorySimulator(new SimulationScenario(6, 3, 3 * Iqr, 0, []), seed: 1);
        var shared = new SharedBuildsMeasurer(sim.MeasureAsync, p => p == 6 ? "b0" : $"b{p}");

        // Act
        var outcome = await SearchEngine.RunAsync(6, shared.MeasureAsync, Options());

        // Assert
        Assert.Equal(SearchStatus.NoRegression, outcome.Status);
        Assert.Contains("identical", outcome.Summary);
        Assert.False(shared.TrialsAt.ContainsKey(6));
        Assert.Single(outcome.Rounds);
    }
}
