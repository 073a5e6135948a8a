using Bisector.Building;
using Bisector.Demo;
using Bisector.Diagnosis;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Storage;
using Bisector.Tests.Demo;
using Bisector.Workers;

namespace Bisector.Tests.Diagnosis;

/// <summary>
/// A finished "run" of a demo scenario as the search leaves it, on real builds: the culprit and its parent built with
/// make, recorded as the run's builds, measured for a few trials on a real <see cref="LocalWorker"/> (the search's
/// evidence), and a Found outcome naming the culprit. Experiments then run on it exactly as after a real search.
/// </summary>
internal sealed class ExperimentBench : IDisposable
{
    public required TempDir Temp { get; init; }

    public required ResultsStore Store { get; init; }

    public required string RunId { get; init; }

    public required Recipe Recipe { get; init; }

    public required CommitLine Positions { get; init; }

    public required SearchOutcome Outcome { get; init; }

    public static async Task<ExperimentBench> CreateAsync(DemoScenario scenario, int searchTrials, Action<string> log, CancellationToken ct)
    {
        var temp = new TempDir();
        var demo = await DemoRepository.CreateAsync(temp.Sub("repo"), scenario, ct);
        var parentSha = await DemoTestSupport.GitAsync(demo.Path, "rev-parse", demo.CulpritSha + "^");
        var parentDir = await DemoTestSupport.BuildAsync(demo.Path, parentSha, temp.Sub("parent"), ct);
        var culpritDir = await DemoTestSupport.BuildAsync(demo.Path, demo.CulpritSha, temp.Sub("culprit"), ct);
        var recipe = ScenarioMeasurement.DemoRecipe(heapCounters: true);
        Commit[] positions = [new(parentSha, "parent", "a", DateTimeOffset.UnixEpoch, []), new(demo.CulpritSha, "culprit", "a", DateTimeOffset.UnixEpoch, [parentSha])];
        var runId = "exp-" + Guid.NewGuid().ToString("N")[..8];

        var store = await ResultsStore.OpenAsync(temp.Sub("bisector.db"), ct);
        await store.CreateRunAsync(new RunRow(runId, ResultsStore.Iso(DateTimeOffset.UtcNow), null, RunStatus.Finished, demo.Path, "a..b", "[]", recipe.Name,
            recipe.Hash, recipe.SourceFile, "", "{}", "{}", "test", "0", "host", null, null),
            positions.Select((c, i) => new CommitRow(i, c.Sha, c.Subject, c.Author, ResultsStore.Iso(c.AuthoredAt), string.Join(' ', c.Parents))).ToList(), ct);
        var artifacts = new[] { new Artifact(parentSha, recipe.Hash, parentDir, parentSha), new Artifact(demo.CulpritSha, recipe.Hash, culpritDir, demo.CulpritSha) };
        foreach (var artifact in artifacts)
            await store.AddBuildAsync(runId, new BuildResult(artifact.CommitSha, BuildStatus.Built, artifact, "", TimeSpan.FromSeconds(1), []), recipe.Hash, ct);

        // The search's evidence: a few trials per side on two local workers, stored as the search stores them.
        var workers = WorkerSpecs.Parse(["local:2"], temp.Sub("search"));
        var specs = Enumerable.Range(0, searchTrials).SelectMany(i => new[]
        {
            new TrialSpec(positions[0], artifacts[0], recipe, i, $"{runId}-s0-{i}"),
            new TrialSpec(positions[1], artifacts[1], recipe, i, $"{runId}-s1-{i}"),
        }).ToList();
        await new TrialScheduler(workers).RunAsync(specs, async (spec, result) =>
        {
            log($"search trial {spec.Commit.Sha[..7]}#{spec.TrialIndex}: {result.Outcome} {result.Reason}");
            await store.AddTrialAsync(runId, new NewTrial(spec.Commit.Sha == parentSha ? 0 : 1, spec.Commit.Sha, spec.TrialIndex, 1, result.Worker ?? result.Host,
                result.Host, result.Outcome, result.Reason, result.StartedAt, result.EndedAt, result.Samples), CancellationToken.None);
        }, ct);

        var outcome = new SearchOutcome(SearchStatus.Found, 1, 1, 1, 0.99, null, [0, 1], new Dictionary<int, global::Bisector.Statistics.Comparison>(), [], 2 * searchTrials, false, "found");
        return new ExperimentBench { Store = store, RunId = runId, Recipe = recipe, Positions = new CommitLine(positions[0], [positions[1]]), Outcome = outcome, Temp = temp };
    }

    public Task<ExperimentsReport?> RunAsync(IReadOnlyList<string> workers, IReadOnlyList<Experiment> experiments, Action<string> log, CancellationToken ct) =>
        Experimenter.RunAsync(Store, RunId, Recipe, Positions, Outcome, workers, Temp.Sub("x"), 0.01, experiments, log, ct);

    /// <summary>The stored trials of <paramref name="experiment"/>, each with where it ran and the metrics it recorded.</summary>
    public async Task<IReadOnlyList<(TrialRow Trial, IReadOnlySet<string> Metrics)>> TrialsOfAsync(Experiment experiment, CancellationToken ct = default)
    {
        var variant = $"{experiment.Name}@{experiment.Derive(Recipe).Hash[..12]}";
        var trials = new List<(TrialRow, IReadOnlySet<string>)>();
        foreach (var trial in await Store.GetVariantTrialsAsync(RunId, variant, ct))
            trials.Add((trial, (await Store.GetSamplesAsync(trial.Id, null, ct)).Select(s => s.Metric).ToHashSet()));
        return trials;
    }

    public void Dispose()
    {
        Store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Temp.Dispose();
    }
}
