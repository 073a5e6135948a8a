using System.Globalization;
using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Diagnosis;

/// <summary>
/// Diagnosis by experiment: after a culprit is named, runs the culprit and its good neighbour again under each
/// <see cref="Experiment"/> on the run's workers, stores those trials as ordinary trials of the run under the
/// experiment's name, and reads them back into an <see cref="ExperimentsReport"/>. Each experiment starts with a small
/// batch per side and adds a trial per side only while the comparison is undecided, so a large effect costs few trials.
/// </summary>
public static class Experimenter
{
    /// <summary>Trials per side beyond the first batch that an undecided experiment may add, one per side a look.</summary>
    public const int ExtraPerSide = 3;

    /// <summary>
    /// Trials per side before the first look: the smallest n for which n vs n trials can decide at all at
    /// <paramref name="alpha"/> — Mann–Whitney's smallest two-sided p is 2 / C(2n, n) (derived: 5 at α = 0.01, 4 at
    /// α = 0.05), and a "Same" interval needs as many order statistics. Fewer would only add looks, never decide.
    /// </summary>
    public static int FirstBatch(double alpha)
    {
        var n = 2;
        while (2.0 / Binomial(2 * n, n) >= alpha)
            n++;
        return n;
    }

    private static double Binomial(int n, int k)
    {
        var result = 1.0;
        for (var i = 1; i <= k; i++)
            result = result * (n - k + i) / i;
        return result;
    }

    /// <summary>What an experiment needs to run: the boundary of a found culprit and the builds in the artifact cache.</summary>
    /// <param name="CulpritTrialsAt">Where the search's trials of the culprit are stored: the culprit itself, or the
    /// earlier measured commit whose build was identical (<see cref="SearchOutcome.MeasuredAs"/>).</param>
    private sealed record Boundary(int Good, int Culprit, Artifact? GoodArtifact, Artifact? CulpritArtifact, int CulpritTrialsAt);

    public static async Task<ExperimentsReport?> RunAsync(
        ResultsStore store, string runId, Recipe recipe, CommitLine positions, SearchOutcome? outcome,
        IReadOnlyList<string> workerSpecs, string workRoot, double alpha, IReadOnlyList<Experiment> experiments, Action<string> log,
        CancellationToken ct = default)
    {
        if (await BoundaryAsync(store, runId, recipe, positions, outcome, ct) is not { } boundary)
            return null;
        var (goodCommit, culpritCommit) = (positions[boundary.Good], positions[boundary.Culprit]);
        log($"experiments: {culpritCommit.ShortSha} (culprit) and {goodCommit.ShortSha} (good neighbour) under {string.Join(", ", experiments.Select(e => e.Name))}");

        string? blocked = boundary.GoodArtifact is null || boundary.CulpritArtifact is null
            ? "the boundary builds are not in the artifact cache any more (results/cache); run 'bisector resume' or a new run to rebuild them"
            : null;
        var isStatic = blocked is null && ElfLinking.AllStatic(boundary.CulpritArtifact!.Directory);
        var allLocal = workerSpecs.All(w => w.Trim().StartsWith("local", StringComparison.Ordinal));

        var workers = blocked is null ? WorkerSpecs.Parse(workerSpecs, workRoot) : [];
        var pool = new TrialScheduler(workers);
        try
        {
            foreach (var experiment in experiments)
            {
                var derived = experiment.Derive(recipe);
                // Keyed by name and derived recipe: trials of an experiment a later version changed are never mixed in.
                var variant = $"{experiment.Name}@{derived.Hash[..12]}";
                var notRun = blocked
                    ?? (isStatic ? experiment.BlockedByStaticLinking : null)
                    ?? (allLocal && experiment.Library is { } library && !LibraryInstalled(library)
                        ? $"{library} is not installed on this machine (apt-get install {experiment.Package})"
                        : null);
                await store.SaveExperimentAsync(new ExperimentRow(runId, variant, derived.Hash, notRun, ResultsStore.Iso(DateTimeOffset.UtcNow)), ct);
                if (notRun is not null)
                {
                    log($"  {experiment.Name}: not run — {notRun}");
                    continue;
                }

                var started = DateTimeOffset.UtcNow;
                var culpritAsBuilt = await SeriesAsync(store, (await store.GetTrialsAsync(runId, ct)).Where(t => t.Position == boundary.CulpritTrialsAt), ct);
                var first = FirstBatch(alpha);
                for (var perSide = first; perSide <= first + ExtraPerSide; perSide++)
                {
                    var stored = await store.GetVariantTrialsAsync(runId, variant, ct);
                    var specs = new List<TrialSpec>();
                    foreach (var (position, commit, artifact) in new[] { (boundary.Good, goodCommit, boundary.GoodArtifact!), (boundary.Culprit, culpritCommit, boundary.CulpritArtifact!) })
                    {
                        var mine = stored.Where(t => t.Position == position).ToList();
                        var next = mine.Count == 0 ? 0 : (int)mine.Max(t => t.TrialIndex) + 1;
                        var missing = perSide - mine.Count(t => t.Outcome == TrialOutcome.Ok);
                        for (var i = 0; i < missing; i++)
                            specs.Add(new TrialSpec(commit, artifact, derived, next + i, $"{runId}-{experiment.Name}-{derived.Hash[..6]}-{position}-{next + i}"));
                    }

                    await RunTrialsAsync(store, runId, variant, specs, positions, pool, log, ct);
                    var result = ExperimentAnalysis.Analyse(experiment, await TrialsAsync(store, runId, variant, boundary, ct), culpritAsBuilt, recipe, alpha);
                    if (ExperimentAnalysis.Decided(result))
                    {
                        break;
                    }

                    // A side whose every trial fails will not start working with more trials of the same kind.
                    var after = await store.GetVariantTrialsAsync(runId, variant, ct);
                    if (after.Count(t => t.Outcome == TrialOutcome.Ok) == 0)
                        break;
                }

                var final = ExperimentAnalysis.Analyse(experiment, await TrialsAsync(store, runId, variant, boundary, ct), culpritAsBuilt, recipe, alpha);
                log(string.Create(CultureInfo.InvariantCulture,
                    $"  {experiment.Name}: {final.Finding} after {final.TrialsSpent} trial(s) in {(DateTimeOffset.UtcNow - started).TotalSeconds:0} s{(final.NotRun is null ? "" : " — " + final.NotRun)}"));
            }
        }
        finally
        {
            foreach (var worker in workers)
                await worker.DisposeAsync();
        }

        return await LoadAsync(store, runId, recipe, positions, outcome, alpha, ct, experiments);
    }

    /// <summary>The stored experiments of a run, analysed (for the report); null when none ran. Experiments are known by
    /// name from <see cref="Experiment.All"/> (and <paramref name="known"/>, for ones made up by a caller).</summary>
    public static async Task<ExperimentsReport?> LoadAsync(
        ResultsStore store, string runId, Recipe recipe, CommitLine positions, SearchOutcome? outcome, double alpha, CancellationToken ct = default,
        IReadOnlyList<Experiment>? known = null)
    {
        var rows = await store.GetExperimentsAsync(runId, ct);
        if (rows.Count == 0 || await BoundaryAsync(store, runId, recipe, positions, outcome, ct) is not { } boundary)
            return null;
        var search = await store.GetTrialsAsync(runId, ct);
        var good = await SeriesAsync(store, search.Where(t => t.Position == boundary.Good), ct);
        var culprit = await SeriesAsync(store, search.Where(t => t.Position == boundary.CulpritTrialsAt), ct);
        var (growth, step) = ExperimentAnalysis.Growth(good, culprit, recipe);
        var results = new List<ExperimentResult>();
        // The latest record of each experiment (an earlier version's stays in the database with its own trials).
        foreach (var row in rows.GroupBy(r => r.Variant.Split('@')[0]).Select(g => g.Last()))
        {
            var experiment = (known ?? []).Concat(Experiment.All).FirstOrDefault(e => e.Name == row.Variant.Split('@')[0]);
            if (experiment is null)
                continue; // an experiment a later version dropped; its trials stay in the database
            var trials = await TrialsAsync(store, runId, row.Variant, boundary, ct);
            results.Add(row.NotRun is not null
                ? new ExperimentResult(experiment, ExperimentFinding.NotRun, trials.Spent, row.NotRun, null, null, null, null)
                : ExperimentAnalysis.Analyse(experiment, trials, culprit, recipe, alpha));
        }

        return new ExperimentsReport(positions[boundary.Good].Sha, positions[boundary.Culprit].Sha, growth, step, results)
        {
            Scale = FeatureScale.For(recipe.Decide.Metric, recipe.Decide.Feature),
        };
    }

    private static async Task<Boundary?> BoundaryAsync(
        ResultsStore store, string runId, Recipe recipe, CommitLine positions, SearchOutcome? outcome, CancellationToken ct)
    {
        if (outcome is not { Status: SearchStatus.Found, Culprit: { } culprit })
            return null;
        var good = Diagnoser.GoodNeighbour(await store.GetTrialsAsync(runId, ct), culprit);
        if (good < 0)
            return null;
        var builds = await store.GetBuildsAsync(runId, ct);
        Artifact? ArtifactOf(Commit commit) =>
            builds.LastOrDefault(b => b.Sha == commit.Sha && b.ArtifactDir is not null) is { } b && Directory.Exists(b.ArtifactDir)
                ? new Artifact(commit.Sha, recipe.Hash, b.ArtifactDir!, b.ContentHash ?? "")
                : null;
        return new Boundary(good, culprit, ArtifactOf(positions[good]), ArtifactOf(positions[culprit]), outcome.MeasuredAs(culprit));
    }

    /// <summary>Runs <paramref name="specs"/> on the pool and stores each trial as it ends under <paramref name="variant"/>
    /// (experiments and the revert proof share this).</summary>
    internal static async Task RunTrialsAsync(
        ResultsStore store, string runId, string variant, List<TrialSpec> specs, CommitLine positions, TrialScheduler pool, Action<string> log,
        CancellationToken ct)
    {
        if (specs.Count == 0)
            return;
        await store.AddInFlightAsync(runId, "trial", specs.Select(s => s.TrialKey).ToList(), ct);
        await pool.RunAsync(specs, async (spec, result) =>
        {
            await store.AddTrialAsync(runId, new NewTrial(positions.PositionOf(spec.Commit.Sha), spec.Commit.Sha, spec.TrialIndex, 0, result.Worker ?? result.Host,
                result.Host, result.Outcome, result.Reason, result.StartedAt, result.EndedAt, result.Samples, spec.TrialKey)
            { Variant = variant }, CancellationToken.None);
            if (result.Outcome != TrialOutcome.Ok)
                log($"    {variant} {spec.Commit.ShortSha} trial {spec.TrialIndex}: {result.Outcome} — {result.Reason?.Split('\n')[0]}");
        }, ct);
    }

    private static async Task<ExperimentTrials> TrialsAsync(ResultsStore store, string runId, string variant, Boundary boundary, CancellationToken ct)
    {
        var trials = await store.GetVariantTrialsAsync(runId, variant, ct);
        var failures = trials.Where(t => t.Outcome != TrialOutcome.Ok)
            .Select(t => $"{t.Outcome} on {t.Worker}: {LastLines(t.Reason)}").ToList();
        return new ExperimentTrials(
            await SeriesAsync(store, trials.Where(t => t.Position == boundary.Good), ct),
            await SeriesAsync(store, trials.Where(t => t.Position == boundary.Culprit), ct),
            failures);
    }

    // A guard's message is the last line the daemon wrote; the first line of a reason is the outcome's own words.
    private static string LastLines(string? reason)
    {
        var lines = (reason ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var guard = lines.FirstOrDefault(l => l.StartsWith("bisector experiment", StringComparison.Ordinal));
        return guard ?? (lines.Length == 0 ? "(no reason recorded)" : lines[0]);
    }

    /// <summary>Every Ok trial's samples as metric → series maps.</summary>
    internal static async Task<IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>>> SeriesAsync(ResultsStore store, IEnumerable<TrialRow> trials, CancellationToken ct)
    {
        var series = new List<IReadOnlyDictionary<string, TrialSeries>>();
        foreach (var trial in trials.Where(t => t.Outcome == TrialOutcome.Ok))
        {
            series.Add((await store.GetSamplesAsync(trial.Id, null, ct))
                .GroupBy(s => s.Metric)
                .ToDictionary(g => g.Key, g => new TrialSeries(g.Select(s => s.Seconds).ToList(), g.Select(s => s.Value).ToList())));
        }

        return series;
    }

    /// <summary>Whether the dynamic linker of this machine can find <paramref name="soname"/> in the usual library folders.</summary>
    internal static bool LibraryInstalled(string soname)
    {
        string[] roots = ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"];
        foreach (var root in roots.Where(Directory.Exists))
        {
            if (File.Exists(Path.Combine(root, soname)))
                return true;
            foreach (var sub in Directory.EnumerateDirectories(root, "*-linux-gnu*"))
            {
                if (File.Exists(Path.Combine(sub, soname)))
                    return true;
            }
        }

        return false;
    }
}
