using Bisector.Recipes;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;

namespace Bisector.Tests.Search;

/// <summary>A/A calibration through the same callback a real run uses (simulated trials: no process is started).</summary>
public class CalibrationSpecs
{
    private const double Iqr = 530e3;

    private static SearchOptions Options(double minEffect) =>
        new(SearchStrategy.Bisect, 1, new DecisionSpec("vm_rss", FeatureKind.Plateau, RegressionDirection.Increase, minEffect), 20);

    [Fact]
    public async Task I_can_calibrate_by_measuring_one_build_on_both_sides()
    {
        // Arrange: record every request the calibration makes
        var sim = new MemorySimulator(new SimulationScenario(30, 12, 2 * Iqr, 0, []), seed: 4);
        var asked = new List<int>();
        Task<IReadOnlyList<PositionEvidence>> Measure(IReadOnlyList<MeasureRequest> r, CancellationToken ct)
        {
            asked.AddRange(r.Select(x => x.Position));
            return sim.MeasureAsync(r, ct);
        }

        // Act: calibrate on the bad end's build (position 30)
        var aa = await AaCalibration.RunAsync(30, Measure, Options(Iqr));

        // Assert: only that build was measured, no false positive, and the trials were split evenly
        Assert.All(asked, p => Assert.Equal(30, p));
        Assert.False(aa.FalsePositive);
        Assert.Equal(SearchStatus.NoRegression, aa.Search.Status);
        Assert.Equal(sim.Trials(30).Count, aa.Search.TrialsSpent);
        Assert.Equal(aa.Search.Boundary!.Baseline.Count, aa.Search.Boundary.Candidate.Count);
        Assert.NotNull(aa.Resampled);
        Assert.InRange(aa.Resampled.FalsePositiveRate, 0, 0.05);
        Assert.Contains("no false positive", aa.Summary);
    }

    [Fact]
    public async Task I_see_a_false_positive_when_two_workers_disagree()
    {
        // Arrange: mocked (two real hosts would be needed): trials alternate between two workers and the second one
        // reads 1 IQR higher, e.g. a different libc; slow drift, by contrast, is cancelled by dealing trials alternately
        var k = 0;
        Task<IReadOnlyList<PositionEvidence>> Drifting(IReadOnlyList<MeasureRequest> r, CancellationToken ct)
        {
            var trials = new List<TrialSeries>();
            for (var i = 0; i < k + r.Sum(x => x.AdditionalTrials); i++)
                trials.Add(new TrialSeries([30.0, 60, 90], [17e6 + i % 2 * Iqr + i * 10e3, 17e6 + i % 2 * Iqr + i * 10e3, 17e6 + i % 2 * Iqr + i * 10e3]));
            k = trials.Count;
            return Task.FromResult<IReadOnlyList<PositionEvidence>>([new PositionEvidence(0, false, trials)]);
        }

        // Act
        var aa = await AaCalibration.RunAsync(0, Drifting, Options(Iqr));

        // Assert: dealt alternately, the second side is always the second worker: flagged, not hidden
        Assert.True(aa.FalsePositive);
        Assert.Contains("FALSE POSITIVE", aa.Summary);
    }
}
