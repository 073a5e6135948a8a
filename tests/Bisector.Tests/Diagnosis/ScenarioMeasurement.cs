using Bisector.Building;
using Bisector.Demo;
using Bisector.Diagnosis;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Statistics;
using Bisector.Tests.Demo;
using Bisector.Workers;

namespace Bisector.Tests.Diagnosis;

/// <summary>
/// Builds a demo scenario's known culprit and its parent with make and runs each for a few trials on a real
/// <see cref="LocalWorker"/> with the shipped demo recipe and heap counters on: the same trials a bisection's last
/// two measurements would give, without the search around them.
/// </summary>
internal static class ScenarioMeasurement
{
    public static async Task<(SideFigures Good, SideFigures Bad, Recipe Recipe)> MeasureAsync(
        DemoScenario scenario, int trials, bool heapCounters, CancellationToken ct)
    {
        using var temp = new TempDir();
        var demo = await DemoRepository.CreateAsync(temp.Sub("repo"), scenario, ct);
        var parentSha = await DemoTestSupport.GitAsync(demo.Path, "rev-parse", demo.CulpritSha + "^");
        var parentDir = await DemoTestSupport.BuildAsync(demo.Path, parentSha, temp.Sub("parent"), ct);
        var culpritDir = await DemoTestSupport.BuildAsync(demo.Path, demo.CulpritSha, temp.Sub("culprit"), ct);
        var recipe = DemoRecipe(heapCounters);
        var worker = new LocalWorker("diag-" + Guid.NewGuid().ToString("N")[..6], temp.Sub("w"));

        var good = await RunAsync(worker, recipe, parentSha, parentDir, trials, ct);
        var bad = await RunAsync(worker, recipe, demo.CulpritSha, culpritDir, trials, ct);
        var warmup = recipe.Sampling.Warmup.TotalSeconds;
        return (SideFigures.From(good, recipe.Decide.Metric, warmup)!, SideFigures.From(bad, recipe.Decide.Metric, warmup)!, recipe);
    }

    /// <summary>The recipe <c>bisector demo</c> ships (embedded resource), with heap counters set as asked.</summary>
    public static Recipe DemoRecipe(bool heapCounters)
    {
        using var stream = typeof(DemoRepository).Assembly.GetManifestResourceStream("Bisector.Demo.demo-daemon.yaml")!;
        var yaml = new StreamReader(stream).ReadToEnd();
        var recipe = RecipeLoader.Parse(yaml, "demo-daemon.yaml", Path.GetTempPath());
        return recipe with { Sampling = recipe.Sampling with { HeapCounters = heapCounters } };
    }

    private static async Task<IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>>> RunAsync(
        LocalWorker worker, Recipe recipe, string sha, string dir, int trials, CancellationToken ct)
    {
        var series = new List<IReadOnlyDictionary<string, TrialSeries>>();
        for (var i = 0; i < trials; i++)
        {
            var spec = new TrialSpec(new Commit(sha, "subject", "author", DateTimeOffset.UnixEpoch, []),
                new Artifact(sha, recipe.Hash, dir, "content"), recipe, i, $"{sha[..7]}-{i}-{Guid.NewGuid():N}"[..20]);
            var result = await worker.RunTrialAsync(spec, ct);
            Assert.True(result.Outcome == TrialOutcome.Ok, $"trial {i} of {sha[..7]}: {result.Outcome} {result.Reason}");
            series.Add(result.Samples.GroupBy(s => s.Metric).ToDictionary(
                g => g.Key, g => new TrialSeries(g.Select(s => s.Seconds).ToList(), g.Select(s => s.Value).ToList())));
        }

        return series;
    }
}
