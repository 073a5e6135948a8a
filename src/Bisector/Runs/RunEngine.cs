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
    /// <summary>The run's commits by position, to look up what the outcome's positions name.</summary>
    public CommitLine Line => CommitLine.Of(Selection);

    /// <summary>The one-line diagnosis of the culprit's effect (leak, fragmentation, …), when one was made.</summary>
    public string? Diagnosis { get; init; }

    /// <summary>What the report was written from, for the terminal summary.</summary>
    public Reporting.ReportModel? Model { get; init; }

    /// <summary>The one-line conclusion of diagnosis by experiment, when experiments ran.</summary>
    public string? Experiments { get; init; }

    /// <summary>The one-line revert proof of the culprit ("reverting … alone removes N % of the regression"), when made.</summary>
    public string? Revert { get; init; }

    /// <summary>The run's words: what its verdict names (culprit or fix) and its ends' states.</summary>
    public Reporting.Terms Terms { get; init; } = Reporting.Terms.Regression;
}

/// <summary>
/// The pipeline: select commits, build them, run trials on workers, store every sample, let the search decide, report.
/// The search is a pure function over a <see cref="MeasureAsync"/> callback; <see cref="Measurer"/> is that callback's
/// effects. Every trial is stored the moment it ends and handed to the search from memory; a resumed run reads the
/// stored trials once, so re-running the same search over the same run re-does only unfinished work.
/// </summary>
/// <param name="progress">Live progress (a bar per round of trials) when the caller draws one; null logs lines only.</param>
public sealed class RunEngine(Action<string> log, Reporting.RunProgress? progress = null)
{
    public static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The run's candidates: its range and paths with its history options, as start, resume and a dry run select them.</summary>
    internal static Task<CommitSelection> SelectAsync(RunOptions options, CancellationToken ct = default) =>
        CommitSelector.SelectAsync(options.RepositoryPath, options.Range, options.Paths,
            new SelectionOptions { FirstParent = options.FirstParent, NoMerges = options.NoMerges }, ct);

    /// <summary>The search's options for a run on <paramref name="workers"/> workers: the run itself and its cost plan use these.</summary>
    internal static SearchOptions SearchOptionsFor(RunOptions options, Recipe recipe, int workers) =>
        new(options.Strategy, workers, recipe.Decide, recipe.Sampling.Warmup.TotalSeconds, recipe.Trials.Repeats, recipe.Trials.Max, options.Alpha, options.Confidence);

    /// <summary>Starts a run from resolved settings. Everything that can be checked without building is checked before
    /// the run is stored, so a run that fails to start leaves the database as it was.</summary>
    public async Task<RunSummary> StartAsync(RunSettings settings, CancellationToken ct = default)
    {
        var (options, recipe) = settings;
        var runId = NewRunId();
        var workers = WorkerSpecs.Parse(options.Workers, WorkerRoot(runId));
        var handedOver = false;
        try
        {
            var selection = await SelectAsync(options, ct);
            // The run's first line (after the checks that fail a run before it starts, so a dry run prints the same error).
            log($"workers: {string.Join(", ", options.Workers)}{(options.WorkersFrom is { } from ? $" ({from})" : "")}");
            log($"{selection.Candidates.Count} candidate commit(s) of {selection.CommitsInRange} in {options.Range}" +
                (options.Paths.Count > 0 ? $" touching {string.Join(' ', options.Paths)}" : string.Empty));
            var line = CommitLine.Of(selection);
            var recipeYaml = await File.ReadAllTextAsync(recipe.SourceFile, ct);

            await using var store = await ResultsStore.OpenAsync(DatabasePath(options.ResultsDirectory), ct);
            await store.CreateRunAsync(
                new RunRow(
                    runId, ResultsStore.Iso(DateTimeOffset.UtcNow), null, RunStatus.Running, Path.GetFullPath(options.RepositoryPath),
                    options.Range, JsonSerializer.Serialize(options.Paths, Json), recipe.Name, recipe.Hash, Path.GetFullPath(recipe.SourceFile),
                    recipeYaml, JsonSerializer.Serialize(recipe, Json), JsonSerializer.Serialize(options, Json),
                    options.CommandLine, ToolInfo.Version, JsonSerializer.Serialize(ToolInfo.Host(), Json), null, null),
                line.Positions.Select(p => ToRow(p.Position, p.Commit)).ToList(), ct);
            await store.ClaimRunAsync(RunJanitor.Me(runId), ct);
            log($"run {runId} → {store.Path}");
            handedOver = true;
            return await ExecuteAsync(store, runId, options, recipe, selection, workers, new TrialLedger(recipe.Decide.Metric), ct);
        }
        finally
        {
            if (!handedOver)
            {
                await DisposeAllAsync(workers);
            }
        }
    }

    /// <summary>Continues a run from the database: completed builds and trials are reused, the rest is re-done.</summary>
    public async Task<RunSummary> ResumeAsync(string resultsDirectory, string? runId, CancellationToken ct = default)
    {
        await using var store = await ResultsStore.OpenAsync(DatabasePath(resultsDirectory), ct);
        var run = await store.GetRunAsync(runId, ct)
            ?? throw new StorageException($"no run '{runId}' in {store.Path}", "List runs with 'bisector status'");
        var stored = JsonSerializer.Deserialize<RunOptions>(run.OptionsJson, Json)!;
        var options = stored with { ResultsDirectory = resultsDirectory };
        var recipe = options.ForKind(RecipeOverrides.WithStoredRun(RecipeLoader.Load(options.RecipePath), run.Id, options.Repeats, options.MaxTrials, options.Window, options.Warmup));
        if (recipe.Hash != run.RecipeHash)
        {
            throw new ConfigException(options.RecipePath, null,
                $"the recipe changed since run {run.Id} started (hash {recipe.Hash[..12]} ≠ {run.RecipeHash[..12]})",
                "Restore the recipe or start a new run; resuming with another recipe would mix incomparable trials");
        }

        var workers = WorkerSpecs.Parse(options.Workers, WorkerRoot(run.Id));
        var handedOver = false;
        try
        {
            var selection = await SelectAsync(options, ct);
            // A killed orchestrator leaves daemons, cgroups, worktrees and half-done work behind; a live one must be left alone.
            var cleanup = await RunJanitor.CleanAsync(store, run, ct);
            if (cleanup.FoundAnything)
            {
                log("cleaned up after the previous process: " + cleanup.Describe());
            }

            await store.ClaimRunAsync(RunJanitor.Me(run.Id), ct);
            await store.SetRunStatusAsync(run.Id, RunStatus.Running, null, null, ct);
            var ledger = await TrialLedger.LoadAsync(store, run.Id, recipe.Decide.Metric, ct);
            log($"resuming run {run.Id}: {ledger.Count} trial(s) already stored");
            handedOver = true;
            return await ExecuteAsync(store, run.Id, options, recipe, selection, workers, ledger, ct);
        }
        finally
        {
            if (!handedOver)
            {
                await DisposeAllAsync(workers);
            }
        }
    }

    private async Task<RunSummary> ExecuteAsync(
        ResultsStore store, string runId, RunOptions options, Recipe recipe, CommitSelection selection, IReadOnlyList<IWorker> workers,
        TrialLedger ledger, CancellationToken ct)
    {
        var line = CommitLine.Of(selection);
        var reportDirectory = Path.Combine(options.ResultsDirectory, runId);
        var workRoot = RunJanitor.WorkRoot(runId);
        var builder = new Builder(options.RepositoryPath, recipe, Path.Combine(options.ResultsDirectory, "cache"), Path.Combine(workRoot, "build"));
        var pool = new TrialScheduler(workers);
        var measurer = new Measurer(store, runId, recipe, line, new Builds(store, runId, recipe.Hash, builder, log), ledger, pool, log, progress,
            buildAhead: !options.NoBuildAhead);

        SearchOutcome? outcome = null;
        RunJanitor.Register(runId);
        try
        {
            var searchOptions = SearchOptionsFor(options, recipe, workers.Count);
            var measure = await CostPlanner.PlanRunAsync(store, runId, recipe, searchOptions, line.CandidateCount, string.Join(",", options.Workers),
                p => builder.TryGetCached(line[p].Sha) is not null, Spoken(log, options), measurer.MeasureAsync, ct);
            if (options.Calibrate && await store.GetCalibrationAsync(runId, ct) is null)
            {
                // The bad end's trials taken here are real trials of that build, so the search reuses them as evidence.
                log($"A/A calibration: measuring {line[line.CandidateCount].ShortSha} as both ends");
                var calibration = await AaCalibration.RunAsync(line.CandidateCount, measure, searchOptions, ct);
                await store.SetCalibrationAsync(runId, calibration.Summary, ct);
                log($"A/A calibration: {calibration.Summary}");
            }

            outcome = await SearchEngine.RunAsync(line.CandidateCount, measure, searchOptions, ct);
            await RangeScanStep.RunAsync(store, runId, options, measurer, line, outcome, searchOptions, Spoken(log, options), ct);
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
            await measurer.StopBuildingAheadAsync();
            foreach (var removed in pool.Removed)
            {
                await store.AddRemovedWorkerAsync(runId, removed.Worker, removed.Reason, CancellationToken.None);
            }

            await DisposeAllAsync(workers);

            // The incremental build tree is registered in the user's repository: unregister it before its folder goes,
            // or 'git worktree list' there shows it as prunable for ever after.
            var (_, worktreeProblems) = await GitWorktree.RemoveAllUnderAsync(options.RepositoryPath, workRoot, CancellationToken.None);
            foreach (var problem in worktreeProblems)
            {
                log($"not removed: {problem}");
            }

            Scratch.TryDelete(workRoot);
            RunJanitor.Unregister(runId);
        }

        var said = Spoken(log, options);
        var diagnosis = await Diagnoser.DiagnoseAsync(store, runId, recipe, line, outcome, options.RepositoryPath, options.Paths, options.ProfileBoundary, said, ct);
        if (diagnosis is not null)
        {
            said($"diagnosis: {diagnosis.Headline}");
        }

        var revert = options.NoRevert ? null : await RunRevertAsync(store, runId, options, recipe, line, outcome, said, ct);
        var experiments = options.Experiments ? await RunExperimentsAsync(store, runId, options, recipe, line, outcome, Diagnosis.Experiment.All, log, ct) : null;
        // The run ends when its last step does: the diagnosis (with heaptrack), the revert proof and the experiments
        // follow the verdict, and the wall time the terminal, the report and status show is the whole run's (the
        // demo's read 1 min 11 s where its log ran 97 s). The search's own time stays in the plan line.
        await store.SetRunStatusAsync(runId, RunStatus.Finished, null, null, CancellationToken.None);

        var (report, model) = await ReportAssembler.WriteWithModelAsync(store, runId, reportDirectory, CancellationToken.None);
        return new RunSummary(runId, store.Path, reportDirectory, outcome, selection, report)
        {
            Diagnosis = diagnosis is null ? null : options.Terms.Speak(diagnosis.Headline),
            Model = model,
            Experiments = experiments is null ? null : options.Terms.Speak(experiments.Headline),
            Terms = options.Terms,
            Revert = revert is null ? null : options.Terms.Speak(revert.Headline),
        };
    }

    /// <summary>
    /// Diagnosis by experiment on the run's own workers (<c>start --experiments</c>, <c>bisector diagnose RUN</c>): the
    /// run's work root and clean-up registration cover the experiment trials like the search's.
    /// </summary>
    public static async Task<ExperimentsReport?> RunExperimentsAsync(
        ResultsStore store, string runId, RunOptions options, Recipe recipe, CommitLine positions, SearchOutcome? outcome,
        IReadOnlyList<Experiment> experiments, Action<string> log, CancellationToken ct = default)
    {
        var workRoot = RunJanitor.WorkRoot(runId);
        RunJanitor.Register(runId);
        try
        {
            var said = Spoken(log, options);
            var report = await Experimenter.RunAsync(store, runId, recipe, positions, outcome, options.Workers, Path.Combine(workRoot, "x"), options.Alpha, experiments, said, ct);
            if (report is not null)
            {
                said($"diagnosis by experiment: {report.Headline}");
            }

            return report;
        }
        finally
        {
            Scratch.TryDelete(workRoot);
            RunJanitor.Unregister(runId);
        }
    }

    /// <summary>
    /// The revert proof of a named culprit (after the search unless <c>--no-revert</c>; <c>bisector revert RUN</c>): the
    /// bad end with the culprit reverted is built in a worktree under the run's work root, which is unregistered from the
    /// user's repository afterwards like the build worktrees, and measured on the run's workers.
    /// </summary>
    public static async Task<RevertReport?> RunRevertAsync(
        ResultsStore store, string runId, RunOptions options, Recipe recipe, CommitLine positions, SearchOutcome? outcome, Action<string> log,
        CancellationToken ct = default)
    {
        if (outcome is not { Status: SearchStatus.Found })
            return null;
        var workRoot = Path.Combine(RunJanitor.WorkRoot(runId), "r");
        RunJanitor.Register(runId);
        try
        {
            return await RevertProof.RunAsync(store, runId, options.RepositoryPath, Path.Combine(options.ResultsDirectory, "cache"), recipe, positions, outcome,
                options.Workers, workRoot, options.Alpha, log, ct);
        }
        finally
        {
            var (_, problems) = await GitWorktree.RemoveAllUnderAsync(options.RepositoryPath, workRoot, CancellationToken.None);
            foreach (var problem in problems)
            {
                log($"not removed: {problem}");
            }

            Scratch.TryDelete(RunJanitor.WorkRoot(runId));
            RunJanitor.Unregister(runId);
        }
    }

    /// <summary>The log of the post-verdict steps in the run's words: their lines are Bisector's own text (short SHAs,
    /// figures), never a commit subject, so putting them into the run's terms cannot change what git said.</summary>
    private static Action<string> Spoken(Action<string> log, RunOptions options) =>
        options.Terms.IsDefault ? log : line => log(options.Terms.Speak(line));

    /// <summary>Best effort: when the database itself failed (disk full), the original error is the one to report.</summary>
    private static async Task TrySetStatusAsync(ResultsStore store, string runId, RunStatus status, string summary)
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

    /// <summary>Workers hold SSH sessions and engine clients: disposed once, by the run that used them or by the
    /// start that failed before handing them over.</summary>
    private static async Task DisposeAllAsync(IReadOnlyList<IWorker> workers)
    {
        foreach (var worker in workers)
        {
            await worker.DisposeAsync();
        }
    }

    private static string WorkerRoot(string runId) => Path.Combine(RunJanitor.WorkRoot(runId), "t");

    public static string DatabasePath(string resultsDirectory) => Path.Combine(resultsDirectory, "bisector.db");

    private static string NewRunId() =>
        DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..2]);

    private static CommitRow ToRow(int position, Commit c) =>
        new(position, c.Sha, c.Subject, c.Author, ResultsStore.Iso(c.AuthoredAt), string.Join(' ', c.Parents));
}
