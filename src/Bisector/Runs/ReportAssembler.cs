using System.Globalization;
using System.Text.Json;
using Bisector.Building;
using Bisector.Diagnosis;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Runs;

/// <summary>
/// Reads one run back from the database into a <see cref="ReportModel"/> and writes the report and samples.csv.
/// Needs nothing but the database, so it works on interrupted runs and on a database copied from another machine.
/// </summary>
public static class ReportAssembler
{
    private const int BuildLogTailLines = 40;

    public static async Task<(string Html, ReportModel Model)> WriteWithModelAsync(ResultsStore store, string runId, string outputDirectory, CancellationToken ct = default)
    {
        var model = await LoadAsync(store, runId, ct);
        var files = await ReportWriter.WriteAsync(model, outputDirectory, ct);
        await using (var csv = new StreamWriter(Path.Combine(outputDirectory, ReportWriter.SamplesFileName)))
        {
            await store.ExportCsvAsync(runId, csv, ct);
        }

        return (files.Html, model);
    }

    public static async Task<string> WriteAsync(ResultsStore store, string runId, string outputDirectory, CancellationToken ct = default) =>
        (await WriteWithModelAsync(store, runId, outputDirectory, ct)).Html;

    /// <summary>
    /// Classifies a finished run's culprit again with this version's <see cref="Diagnoser"/>, from the trials already
    /// stored (nothing is re-run), and replaces the stored diagnosis; a boundary profile stored before is kept, since
    /// making a new one would mean running the builds again. Null when the run named no single culprit.
    /// </summary>
    public static async Task<DiagnosisRow?> RediagnoseAsync(ResultsStore store, string runId, Action<string> log, CancellationToken ct = default)
    {
        var (run, recipe, options, stored) = await ReadRunAsync(store, runId, ct);
        if (run.Status != RunStatus.Finished || stored is not { } outcome)
            throw new UsageException("--rediagnose", $"run {run.Id} is {run.Status.ToString().ToLowerInvariant()}, not finished, so it has no verdict to diagnose",
                run.Status == RunStatus.Running
                    ? "Wait for it to finish (or, if its process is gone, continue it with 'bisector resume " + run.Id + "')"
                    : $"Finish it first with 'bisector resume {run.Id}'");
        var positions = CommitLine.InOrder((await store.GetCommitsAsync(run.Id, ct)).OrderBy(c => c.Position).Select(ToCommit));
        var before = await store.GetDiagnosisAsync(run.Id, ct);
        return await Diagnoser.DiagnoseAsync(store, run.Id, recipe, positions, outcome, options.RepositoryPath, options.Paths,
            profile: false, log, ct, keptProfile: before?.Profile);
    }

    /// <summary>A stored run with its recipe, options and outcome (null until it finished) read back.</summary>
    internal static async Task<(RunRow Run, Recipe Recipe, RunOptions Options, SearchOutcome? Outcome)> ReadRunAsync(
        ResultsStore store, string runId, CancellationToken ct)
    {
        var run = await store.GetRunAsync(runId, ct) ?? throw new StorageException($"no run '{runId}' in {store.Path}", "List runs with 'bisector status --list'");
        var recipe = JsonSerializer.Deserialize<Recipe>(run.RecipeJson, RunEngine.Json)
            ?? throw new StorageException($"run {run.Id} has no readable recipe", "The database may be damaged; start a new run");
        var options = JsonSerializer.Deserialize<RunOptions>(run.OptionsJson, RunEngine.Json)!;
        var outcome = run.OutcomeJson is null ? null : JsonSerializer.Deserialize<SearchOutcome>(run.OutcomeJson, RunEngine.Json);
        return (run, recipe, options, outcome);
    }

    /// <summary>A stored run's words; a run stored before they existed (or with unreadable options) reads as a regression.</summary>
    internal static Terms TermsOf(RunRow run)
    {
        try
        {
            return JsonSerializer.Deserialize<RunOptions>(run.OptionsJson, RunEngine.Json)?.Terms ?? Terms.Regression;
        }
        catch (JsonException)
        {
            return Terms.Regression;
        }
    }

    public static async Task<ReportModel> LoadAsync(ResultsStore store, string runId, CancellationToken ct = default)
    {
        var (run, recipe, options, outcome) = await ReadRunAsync(store, runId, ct);
        var builds = await store.GetBuildsAsync(run.Id, ct);
        var trials = await store.GetTrialsAsync(run.Id, ct);
        var warmup = recipe.Sampling.Warmup.TotalSeconds;

        var commits = new List<CommitReport>();
        foreach (var row in await store.GetCommitsAsync(run.Id, ct))
        {
            var position = (int)row.Position;
            var build = builds.LastOrDefault(b => b.Sha == row.Sha);
            var trialReports = new List<TrialReport>();
            var features = new List<double>();
            foreach (var trial in trials.Where(t => t.Position == row.Position))
            {
                var series = (await store.GetSamplesAsync(trial.Id, null, ct))
                    .GroupBy(s => s.Metric)
                    .ToDictionary(g => g.Key, g => new TrialSeries(g.Select(s => s.Seconds).ToList(), g.Select(s => s.Value).ToList()));
                trialReports.Add(new TrialReport((int)trial.TrialIndex, trial.Worker, trial.Host, trial.Outcome, trial.Reason, (int)trial.Round, series));
                if (trial.Outcome == TrialOutcome.Ok && series.TryGetValue(recipe.Decide.Metric, out var decisive) && decisive.Count > 0)
                {
                    features.Add(Features.Extract(decisive, recipe.Decide.Feature, warmup));
                }
            }

            commits.Add(new CommitReport(
                position,
                ToCommit(row),
                build?.Status,
                build is null ? null : Tail(build.Log),
                trialReports,
                features,
                outcome?.VersusGood.GetValueOrDefault(position)));
        }

        var started = DateTimeOffset.Parse(run.CreatedAt, CultureInfo.InvariantCulture);
        DateTimeOffset? ended = run.EndedAt is null ? null : DateTimeOffset.Parse(run.EndedAt, CultureInfo.InvariantCulture);
        // The kind comes from the run's worker specs, as WorkerSpecs names the workers they make; never from a name.
        var roster = await WorkerSpecs.RosterAsync(options.Workers) ?? new Dictionary<string, WorkerKind>();
        WorkerInfo Worker(string name, string host) => new(name, roster.TryGetValue(name, out var kind) ? kind : null, host);
        var workers = trials.Select(t => (t.Worker, t.Host)).Distinct().Select(w => Worker(w.Worker, w.Host)).ToList();
        if (workers.Count == 0)
        {
            workers = roster.Keys.Select(name => Worker(name, "(no trial yet)")).ToList();
        }

        foreach (var removed in await store.GetRemovedWorkersAsync(run.Id, ct))
        {
            var index = workers.FindIndex(w => w.Name == removed.Worker);
            var worker = index >= 0 ? workers[index] : Worker(removed.Worker, "(no trial finished)");
            worker = worker with { RemovedBecause = removed.Reason };
            if (index >= 0)
            {
                workers[index] = worker;
            }
            else
            {
                workers.Add(worker);
            }
        }

        var info = new RunInfo(
            run.Id,
            run.ToolVersion,
            run.RangeSpec,
            options.Paths,
            run.RecipeName,
            run.RecipeHash,
            run.RecipeFile,
            builds.SelectMany(b => JsonSerializer.Deserialize<string[]>(b.FixupsJson) ?? []).Distinct().ToList(),
            workers,
            options.Strategy.ToString().ToLowerInvariant(),
            options.Confidence,
            started,
            ended,
            (ended ?? DateTimeOffset.UtcNow) - started,
            run.Status,
            run.CommandLine,
            HostFromJson(run.HostInfo));
        var decision = new DecisionInfo(recipe.Decide.Metric, recipe.Decide.Feature, recipe.Decide.Direction, recipe.Decide.MinEffect);
        var diagnosis = await store.GetDiagnosisAsync(run.Id, ct);
        var positions = CommitLine.InOrder(commits.OrderBy(c => c.Position).Select(c => c.Commit));
        var changes = await RangeScanStep.LoadAsync(store, run.Id, ct);
        var experiments = await Experimenter.LoadAsync(store, run.Id, recipe, positions, outcome, options.Alpha, ct);
        return new ReportModel(info, decision, commits, run.Status == RunStatus.Finished ? outcome : null,
            diagnosis is null ? null : Diagnoser.Describe(diagnosis, options.Terms))
        {
            Terms = options.Terms,
            Calibration = await store.GetCalibrationAsync(run.Id, ct),
            Experiments = experiments,
            Revert = await RevertProof.LoadAsync(store, run.Id, recipe, positions, outcome, options.Alpha, ct),
            IdenticalBuilds = IdenticalBuilds(commits.Select(c => (c.Position, c.Commit.Sha)), builds),
            Links = Links(commits.Select(c => (c.Position, c.Commit.Sha)), builds),
            Changes = changes,
            ScanNotRun = changes is null && outcome?.Status == SearchStatus.Found
                ? options.NoScan ? "not run: the run was started with --no-scan" : "not run: the run stopped before the scan, or was stored by a version without it"
                : null,
            Plans = await CostPlanner.LoadAsync(store, run.Id, ct),
            SearchWallTime = await CostPlanner.SearchEndAsync(store, run.Id, ct) is { } searchEnd ? searchEnd - started : null,
            TrialLength = await TrialLengthAsync(commits, outcome, recipe, workers.Count, ct),
        };
    }

    /// <summary>Replayed searches per cut behind the report's trial-length line.</summary>
    internal const int TrialLengthSeeds = 100;

    /// <summary>Whether shorter trials would have named the culprit as soon and as rightly: every Ok trial cut shorter,
    /// the cheapest cuts replayed through the search (<see cref="TrialLengthCheck"/>); null without a culprit.</summary>
    internal static async Task<WindowSuggestion?> TrialLengthAsync(IReadOnlyList<CommitReport> commits, SearchOutcome? outcome, Recipe recipe,
        int workers, CancellationToken ct)
    {
        if (outcome is not { Status: SearchStatus.Found, Culprit: { } culprit } || commits.Count == 0)
            return null;
        var trials = commits.SelectMany(c => c.OkTrials.Select(t => (c.Position, Series: t.Series.GetValueOrDefault(recipe.Decide.Metric))))
            .Where(t => t.Series is not null).Select(t => (t.Position, t.Series!)).ToList();
        return await TrialLengthCheck.RunAsync(trials, commits.Max(c => c.Position), culprit, recipe.Decide,
            recipe.Sampling.Warmup.TotalSeconds, recipe.Trials.Repeats, recipe.Trials.Max, workers, TrialLengthSeeds, ct);
    }

    /// <summary>The run's identical builds as its Measurer routed them: builds in the order they were made.</summary>
    internal static IReadOnlyList<BuildGroup> IdenticalBuilds(IEnumerable<(int Position, string Sha)> commits, IReadOnlyList<BuildRow> builds)
    {
        var positionOf = commits.GroupBy(c => c.Sha).ToDictionary(g => g.Key, g => g.First().Position);
        return BuildTwins.Groups(builds.Where(b => b.Fingerprint is not null && positionOf.ContainsKey(b.Sha))
            .Select(b => (positionOf[b.Sha], b.Fingerprint)));
    }

    /// <summary>The libraries each built commit links, from its stored build (the newest one with links).</summary>
    internal static IReadOnlyList<PositionLinks> Links(IEnumerable<(int Position, string Sha)> commits, IReadOnlyList<BuildRow> builds)
    {
        var linked = builds.Where(b => b.LinksJson is not null).GroupBy(b => b.Sha)
            .ToDictionary(g => g.Key, g => LinkedLibraries.FromJson(g.Last().LinksJson!));
        return commits.Where(c => linked.ContainsKey(c.Sha)).OrderBy(c => c.Position)
            .Select(c => new PositionLinks(c.Position, linked[c.Sha])).ToList();
    }

    internal static Commit ToCommit(CommitRow row) =>
        new(row.Sha, row.Subject, row.Author, DateTimeOffset.Parse(row.AuthoredAt, CultureInfo.InvariantCulture),
            row.Parents.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static HostInfo HostFromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<HostInfo>(json, RunEngine.Json) ?? Unknown();
        }
        catch (JsonException)
        {
            return Unknown();
        }

        HostInfo Unknown() => new(json, "unknown", "unknown", 0, 0, "unknown");
    }

    private static string Tail(string log)
    {
        var lines = log.TrimEnd('\n').Split('\n');
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - BuildLogTailLines)));
    }
}
