using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bisector.Building;
using Bisector.Diagnosis;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Runs;

/// <summary>What a finished (or stopped) run produced, for the CLI to print.</summary>
public sealed record RunSummary(string RunId, string DatabasePath, string ReportDirectory, SearchOutcome? Outcome, CommitSelection Selection, string? ReportPath)
{
    /// <summary>The one-line diagnosis of the culprit's effect (leak, fragmentation, …), when one was made.</summary>
    public string? Diagnosis { get; init; }

    /// <summary>What the report was written from, for the terminal summary.</summary>
    public Reporting.ReportModel? Model { get; init; }

    /// <summary>The one-line conclusion of diagnosis by experiment, when experiments ran.</summary>
    public string? Experiments { get; init; }
}

/// <summary>
/// The pipeline: select commits, build them, run trials on workers, store every sample, let the search decide, report.
/// The search is a pure function over a <see cref="MeasureAsync"/> callback; this class is that callback's effects.
/// Every trial is stored the moment it ends, and the callback counts trials already in the database, so re-running
/// the same search over the same run (resume) re-does only unfinished work.
/// </summary>
/// <param name="progress">Live progress (a bar per round of trials) when the caller draws one; null logs lines only.</param>
public sealed class RunEngine(Action<string> log, Reporting.RunProgress? progress = null)
{
    public static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public async Task<RunSummary> StartAsync(RunOptions options, CancellationToken ct = default)
    {
        var recipe = ApplyOverrides(RecipeLoader.Load(options.RecipePath), options);
        var selection = CommitSelector.Select(
            options.RepositoryPath, options.Range, options.Paths,
            new SelectionOptions { FirstParent = options.FirstParent, NoMerges = options.NoMerges });
        log($"{selection.Candidates.Count} candidate commit(s) of {selection.CommitsInRange} in {options.Range}" +
            (options.Paths.Count > 0 ? $" touching {string.Join(' ', options.Paths)}" : string.Empty));

        var runId = NewRunId();
        await using var store = await ResultsStore.OpenAsync(DatabasePath(options.ResultsDirectory), ct);
        var commits = new List<CommitRow> { ToRow(0, selection.Good) };
        commits.AddRange(selection.Candidates.Select((c, i) => ToRow(i + 1, c)));
        await store.CreateRunAsync(
            new RunRow(
                runId, ResultsStore.Iso(DateTimeOffset.UtcNow), null, RunStatus.Running, Path.GetFullPath(options.RepositoryPath),
                options.Range, JsonSerializer.Serialize(options.Paths, Json), recipe.Name, recipe.Hash, Path.GetFullPath(recipe.SourceFile),
                await File.ReadAllTextAsync(recipe.SourceFile, ct), JsonSerializer.Serialize(recipe, Json), JsonSerializer.Serialize(options, Json),
                options.CommandLine, ToolInfo.Version, JsonSerializer.Serialize(ToolInfo.Host(), Json), null, null),
            commits, ct);
        await store.ClaimRunAsync(RunJanitor.Me(runId), ct);
        log($"run {runId} → {store.Path}");
        return await ExecuteAsync(store, runId, options, recipe, selection, ct);
    }

    /// <summary>Continues a run from the database: completed builds and trials are reused, the rest is re-done.</summary>
    public async Task<RunSummary> ResumeAsync(string resultsDirectory, string? runId, CancellationToken ct = default)
    {
        await using var store = await ResultsStore.OpenAsync(DatabasePath(resultsDirectory), ct);
        var run = await store.GetRunAsync(runId, ct)
            ?? throw new StorageException($"no run '{runId}' in {store.Path}", "List runs with 'bisector status'");
        var stored = JsonSerializer.Deserialize<RunOptions>(run.OptionsJson, Json)!;
        var options = stored with { ResultsDirectory = resultsDirectory };
        var recipe = ApplyOverrides(RecipeLoader.Load(options.RecipePath), options);
        if (recipe.Hash != run.RecipeHash)
        {
            throw new ConfigException(options.RecipePath, null,
                $"the recipe changed since run {run.Id} started (hash {recipe.Hash[..12]} ≠ {run.RecipeHash[..12]})",
                "Restore the recipe or start a new run; resuming with another recipe would mix incomparable trials");
        }

        var selection = CommitSelector.Select(
            options.RepositoryPath, options.Range, options.Paths,
            new SelectionOptions { FirstParent = options.FirstParent, NoMerges = options.NoMerges });
        // A killed orchestrator leaves daemons, cgroups, worktrees and half-done work behind; a live one must be left alone.
        var cleanup = await RunJanitor.CleanAsync(store, run, ct);
        if (cleanup.FoundAnything)
        {
            log("cleaned up after the previous process: " + cleanup.Describe());
        }

        await store.ClaimRunAsync(RunJanitor.Me(run.Id), ct);
        await store.SetRunStatusAsync(run.Id, RunStatus.Running, null, null, ct);
        log($"resuming run {run.Id}: {(await store.GetTrialsAsync(run.Id, ct)).Count} trial(s) already stored");
        return await ExecuteAsync(store, run.Id, options, recipe, selection, ct);
    }

    private async Task<RunSummary> ExecuteAsync(
        ResultsStore store, string runId, RunOptions options, Recipe recipe, CommitSelection selection, CancellationToken ct)
    {
        var positions = new List<Commit> { selection.Good };
        positions.AddRange(selection.Candidates);
        var reportDirectory = Path.Combine(options.ResultsDirectory, runId);
        var workRoot = RunJanitor.WorkRoot(runId);
        var builder = new Builder(options.RepositoryPath, recipe, Path.Combine(options.ResultsDirectory, "cache"), Path.Combine(workRoot, "build"));
        var workers = WorkerSpecs.Parse(options.Workers, Path.Combine(workRoot, "t"));
        var pool = new TrialScheduler(workers);
        var measurer = new Measurer(store, runId, recipe, positions, builder, pool, log, progress);

        SearchOutcome? outcome = null;
        RunJanitor.Register(runId);
        try
        {
            var searchOptions = new SearchOptions(
                options.Strategy,
                workers.Count,
                recipe.Decide,
                recipe.Sampling.Warmup.TotalSeconds,
                recipe.Trials.Repeats,
                recipe.Trials.Max,
                options.Alpha,
                options.Confidence);
            if (options.Calibrate && await store.GetCalibrationAsync(runId, ct) is null)
            {
                // The bad end's trials taken here are real trials of that build, so the search reuses them as evidence.
                log($"A/A calibration: measuring {selection.Candidates[^1].ShortSha} as both ends");
                var calibration = await AaCalibration.RunAsync(selection.Candidates.Count, measurer.MeasureAsync, searchOptions, ct);
                await store.SetCalibrationAsync(runId, calibration.Summary, ct);
                log($"A/A calibration: {calibration.Summary}");
            }

            outcome = await SearchEngine.RunAsync(selection.Candidates.Count, measurer.MeasureAsync, searchOptions, ct);
            await store.SetRunStatusAsync(runId, RunStatus.Finished, JsonSerializer.Serialize(outcome, Json), outcome.Summary, CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            await TrySetStatusAsync(store, runId, RunStatus.Interrupted, "interrupted; 'bisector resume' continues it");
            throw;
        }
        catch (BisectorException e)
        {
            await TrySetStatusAsync(store, runId, RunStatus.Failed, e.Message);
            throw;
        }
        finally
        {
            foreach (var removed in pool.Removed)
            {
                await store.AddRemovedWorkerAsync(runId, removed.Worker, removed.Reason, CancellationToken.None);
            }

            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }

            // The incremental build tree is registered in the user's repository: unregister it before its folder goes,
            // or 'git worktree list' there shows it as prunable for ever after.
            var (_, worktreeProblems) = await GitWorktree.RemoveAllUnderAsync(options.RepositoryPath, workRoot, CancellationToken.None);
            foreach (var problem in worktreeProblems)
            {
                log($"not removed: {problem}");
            }

            TryDelete(workRoot);
            RunJanitor.Unregister(runId);
        }

        var diagnosis = await Diagnoser.DiagnoseAsync(store, runId, recipe, positions, outcome, options.RepositoryPath, options.Paths, options.ProfileBoundary, log, ct);
        if (diagnosis is not null)
        {
            log($"diagnosis: {diagnosis.Headline}");
        }

        var experiments = options.Experiments ? await RunExperimentsAsync(store, runId, options, recipe, positions, outcome, Diagnosis.Experiment.All, log, ct) : null;

        var (report, model) = await ReportAssembler.WriteWithModelAsync(store, runId, reportDirectory, CancellationToken.None);
        return new RunSummary(runId, store.Path, reportDirectory, outcome, selection, report) { Diagnosis = diagnosis?.Headline, Model = model, Experiments = experiments?.Headline };
    }

    /// <summary>
    /// Diagnosis by experiment on the run's own workers (<c>start --experiments</c>, <c>bisector diagnose RUN</c>): the
    /// run's work root and clean-up registration cover the experiment trials like the search's.
    /// </summary>
    public static async Task<ExperimentsReport?> RunExperimentsAsync(
        ResultsStore store, string runId, RunOptions options, Recipe recipe, IReadOnlyList<Commit> positions, SearchOutcome? outcome,
        IReadOnlyList<Experiment> experiments, Action<string> log, CancellationToken ct = default)
    {
        var workRoot = RunJanitor.WorkRoot(runId);
        RunJanitor.Register(runId);
        try
        {
            var report = await Experimenter.RunAsync(store, runId, recipe, positions, outcome, options.Workers, Path.Combine(workRoot, "x"), options.Alpha, experiments, log, ct);
            if (report is not null)
            {
                log($"diagnosis by experiment: {report.Headline}");
            }

            return report;
        }
        finally
        {
            TryDelete(workRoot);
            RunJanitor.Unregister(runId);
        }
    }

    /// <summary>Best effort: when the database itself failed (disk full), the original error is the one to report.</summary>
    private static async Task TrySetStatusAsync(ResultsStore store, string runId, string status, string summary)
    {
        try
        {
            await store.SetRunStatusAsync(runId, status, null, summary, CancellationToken.None);
        }
        catch (StorageException)
        {
            // The status stays 'running'; resume sees the owner is gone and continues all the same.
        }
    }

    private static Recipe ApplyOverrides(Recipe recipe, RunOptions options) =>
        RecipeOverrides.WithFlags(recipe, options.Repeats, options.MaxTrials, options.Window, options.Warmup);

    public static string DatabasePath(string resultsDirectory) => Path.Combine(resultsDirectory, "bisector.db");

    private static string NewRunId() =>
        DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..2]);

    private static CommitRow ToRow(int position, Commit c) =>
        new(position, c.Sha, c.Subject, c.Author, ResultsStore.Iso(c.AuthoredAt), string.Join(' ', c.Parents));

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless; the next run uses a new one.
        }
    }

    /// <summary>
    /// Trials per commit for one round, raised so the round's last slot keeps every worker busy: 5 trials on 2
    /// workers would leave one idle for a whole trial, so the commits that are already in the round get one more
    /// each, in request order. Nothing is measured twice: the search counts every Ok trial, and a later request
    /// for the same commit runs that many fewer (its wanted total is unchanged).
    /// </summary>
    internal static int[] FillIdleWorkers(IReadOnlyList<int> missing, int workers)
    {
        var counts = missing.ToArray();
        var total = counts.Sum();
        var measured = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0).ToArray();
        if (workers < 2 || total == 0)
        {
            return counts;
        }

        var idle = (workers - total % workers) % workers;
        for (var k = 0; k < idle; k++)
        {
            counts[measured[k % measured.Length]]++;
        }

        return counts;
    }

    /// <summary>The effects behind <see cref="MeasureAsync"/>: build on demand, run trials across workers, store them.</summary>
    private sealed class Measurer(
        ResultsStore store, string runId, Recipe recipe, IReadOnlyList<Commit> positions, Builder builder, TrialScheduler pool, Action<string> log,
        Reporting.RunProgress? progress)
    {
        private readonly Dictionary<int, int> _wanted = [];
        private readonly Dictionary<string, BuildResult> _builds = [];
        private int _round;

        public async Task<IReadOnlyList<PositionEvidence>> MeasureAsync(IReadOnlyList<MeasureRequest> requests, CancellationToken ct)
        {
            _round++;
            await store.AddRoundAsync(runId, _round, requests.Select(r => r.Position).ToList(),
                string.Join(", ", requests.Select(r => $"{positions[r.Position].ShortSha}+{r.AdditionalTrials}")), ct);

            var stored = await store.GetTrialsAsync(runId, ct);
            var planned = new List<(int Position, BuildResult Build, int First, int Count)>();
            var skipped = new HashSet<int>();
            foreach (var request in requests)
            {
                var commit = positions[request.Position];
                var build = await EnsureBuiltAsync(commit, ct);
                if (!build.Succeeded)
                {
                    skipped.Add(request.Position);
                    continue;
                }

                _wanted[request.Position] = _wanted.GetValueOrDefault(request.Position) + request.AdditionalTrials;
                var mine = stored.Where(t => t.Position == request.Position).ToList();
                var ok = mine.Count(t => t.Outcome == nameof(TrialOutcome.Ok));
                var missing = Math.Max(0, _wanted[request.Position] - ok);

                // After a crash the stored indexes can have gaps (a trial in flight was lost): never reuse one.
                var first = mine.Count == 0 ? 0 : (int)mine.Max(t => t.TrialIndex) + 1;
                planned.Add((request.Position, build, first, missing));
            }

            var counts = FillIdleWorkers(planned.Select(p => p.Count).ToArray(), pool.Active.Count);
            var specs = new List<TrialSpec>();
            for (var k = 0; k < planned.Count; k++)
            {
                var (position, build, first, _) = planned[k];
                for (var i = 0; i < counts[k]; i++)
                {
                    specs.Add(new TrialSpec(positions[position], build.Artifact!, recipe, first + i, $"{runId}-{position}-{first + i}"));
                }
            }

            if (specs.Count > 0)
            {
                var description = $"round {_round}: {specs.Count} trial(s) of {specs.Select(s => s.Commit.Sha).Distinct().Count()} commit(s)";
                var step = progress?.AddStep(description, specs.Count);
                if (step is null)
                {
                    log(description);
                }
                await store.AddInFlightAsync(runId, "trial", specs.Select(s => s.TrialKey).ToList(), ct);
                await pool.RunAsync(specs, async (spec, result) =>
                {
                    var position = IndexOf(spec.Commit);
                    await store.AddTrialAsync(runId, position, spec.Commit.Sha, spec.TrialIndex, _round, result.Worker ?? result.Host, result.Host,
                        result.Outcome.ToString(), result.Reason, result.StartedAt, result.EndedAt, result.Samples, spec.TrialKey, CancellationToken.None);
                    var line = $"{spec.Commit.ShortSha} trial {spec.TrialIndex}: {result.Outcome}{(result.Reason is null ? string.Empty : " — " + FirstLine(result.Reason))}";
                    if (step is null)
                    {
                        log("  " + line);
                    }
                    else
                    {
                        step.Advance(1, line);
                    }
                }, ct);
                step?.Complete();
                foreach (var removed in pool.Removed)
                {
                    await store.AddRemovedWorkerAsync(runId, removed.Worker, removed.Reason, CancellationToken.None);
                }
            }

            var evidence = new List<PositionEvidence>();
            var trials = await store.GetTrialsAsync(runId, ct);
            foreach (var request in requests)
            {
                if (skipped.Contains(request.Position))
                {
                    evidence.Add(new PositionEvidence(request.Position, true, []));
                    continue;
                }

                var series = new List<TrialSeries>();
                foreach (var trial in trials.Where(t => t.Position == request.Position && t.Outcome == nameof(TrialOutcome.Ok)))
                {
                    var samples = await store.GetSamplesAsync(trial.Id, recipe.Decide.Metric, ct);
                    series.Add(new TrialSeries(samples.Select(s => s.Seconds).ToList(), samples.Select(s => s.Value).ToList()));
                }

                // A commit whose daemon never completes a trial cannot be measured: treat it like an unbuildable one.
                evidence.Add(new PositionEvidence(request.Position, series.Count == 0, series));
            }

            return evidence;
        }

        private int IndexOf(Commit commit)
        {
            for (var i = 0; i < positions.Count; i++)
            {
                if (positions[i].Sha == commit.Sha)
                {
                    return i;
                }
            }

            throw new InvalidOperationException($"commit {commit.Sha} is not a position of this run");
        }

        private async Task<BuildResult> EnsureBuiltAsync(Commit commit, CancellationToken ct)
        {
            if (_builds.TryGetValue(commit.Sha, out var known))
            {
                return known;
            }

            log($"build {commit.ShortSha} {commit.Subject}");
            await store.AddInFlightAsync(runId, "build", [commit.Sha], ct);
            BuildResult build;
            try
            {
                build = await builder.BuildAsync(commit, ct);
            }
            catch (IOException e)
            {
                // The artifact cache lives in the results folder: a full disk there stops the run, it is no build failure.
                throw new StorageException($"cannot build {commit.ShortSha} into the artifact cache: {e.Message}",
                    "Free space in the results folder (or move it with --results), then 'bisector resume' continues; everything stored before is kept", e);
            }

            log($"  {build.Status} in {build.Duration.TotalSeconds:0.0}s");
            await store.AddBuildAsync(runId, build, recipe.Hash, ct);
            await store.RemoveInFlightAsync(runId, "build", commit.Sha, ct);
            _builds[commit.Sha] = build;
            return build;
        }

        private static string FirstLine(string text) => text.Split('\n', 2)[0];
    }
}
