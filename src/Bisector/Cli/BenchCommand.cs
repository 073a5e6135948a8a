using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Runs;
using Bisector.Search;
using Bisector.Search.Simulation;
using Bisector.Statistics;
using Bisector.Storage;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector bench …</c>: the speed and quality goals are measured here, never as timed assertions in tests.
/// Each sub-command prints a Markdown section for docs/benchmarks.md.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var seeds = new Option<int>("--seeds") { Description = "Seeds per setting (default 200)", DefaultValueFactory = _ => 200 };
        var sizes = new Option<int[]>("--sizes") { Description = "Candidate counts to simulate (default 10 100 1000)", AllowMultipleArgumentsPerToken = true };
        var share = new Option<double>("--min-effect-share")
        {
            Description = "Bisector's min-effect as a share of the simulated 1-IQR effect (default 1: the size Pinpoint's thresholds are built for)",
            DefaultValueFactory = _ => 1.0,
        };
        share.Validators.Add(r =>
        {
            if (r.GetValue(share) is <= 0 or > 10)
                r.AddError("--min-effect-share: must be in (0, 10]; e.g. 1 (the effect itself) or 0.5 (half of it)");
        });
        var firstSeed = new Option<int>("--first-seed") { Description = "First seed (default 1); another range checks a result is not owed to one set of seeds", DefaultValueFactory = _ => 1 };
        var effect = new Option<double>("--effect") { Description = "Simulated effect in IQRs of the Pinpoint scalar (default 1, the hardest case; 10 or more: a large effect like the demo's)", DefaultValueFactory = _ => 1.0 };
        effect.Validators.Add(r =>
        {
            if (r.GetValue(effect) is <= 0 or > 1000)
                r.AddError("--effect: must be in (0, 1000]; e.g. 1 or 10");
        });
        var methods = new Option<string[]>("--methods")
        {
            Description = $"Methods to run (default all): {string.Join(", ", BenchmarkOptions.MethodKeys)}",
            AllowMultipleArgumentsPerToken = true,
        };
        methods.Validators.Add(r =>
        {
            foreach (var m in r.GetValue(methods) ?? [])
                if (!BenchmarkOptions.MethodKeys.Contains(m, StringComparer.OrdinalIgnoreCase))
                    r.AddError($"--methods: '{m}' is not a method; use one or more of {string.Join(", ", BenchmarkOptions.MethodKeys)}");
        });
        var search = new Command("search", "Culprit accuracy, A/A false positives, trials and rounds on seeded simulations, against a known-levels oracle and git-bisect and Pinpoint-like baselines") { seeds, sizes, share, firstSeed, effect, methods };
        search.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var chosen = parse.GetValue(sizes) is { Length: > 0 } s ? s : null;
            await Console.Out.WriteLineAsync(await SearchBenchmark.RunAsync(new BenchmarkOptions(Seeds: parse.GetValue(seeds), Sizes: chosen, MinEffectShare: parse.GetValue(share), FirstSeed: parse.GetValue(firstSeed), EffectInIqr: parse.GetValue(effect),
                Methods: parse.GetValue(methods) is { Length: > 0 } m ? m : null), ct));
            return 0;
        }));

        var repo = new Argument<string>("repository") { Description = "A git repository with systemd's history (tags v247, v248)" };
        var git = new Command("git", "Path-filtered walk time of Bisector vs git log on a large history") { repo };
        git.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            await Console.Out.WriteLineAsync(await GitWalkBenchmark.RunAsync(parse.GetValue(repo)!, ct));
            return 0;
        }));

        var repeats = new Option<int>("--repeats") { Description = "Alternating runs per setting (default 7)", DefaultValueFactory = _ => 7 };
        var heap = new Command("heap-counters", "CPU cost of the heapstats LD_PRELOAD shim on an allocation-bound program") { repeats };
        heap.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            await Console.Out.WriteLineAsync(await Diagnosis.HeapShimBenchmark.RunAsync(parse.GetValue(repeats), ct: ct));
            return 0;
        }));


        var counts = new Option<int[]>("--counts") { Description = "Local worker counts to time (default 1 2 4)", AllowMultipleArgumentsPerToken = true };
        var samplerSeconds = new Option<int>("--sampler-seconds") { Description = "Window of the sampler CPU measurement (default 30)", DefaultValueFactory = _ => 30 };
        var workers = new Command("workers", "Wall time to the demo culprit with 1, 2 and 4 local workers; remote sampler CPU at 10 Hz") { counts, samplerSeconds };
        workers.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var chosen = parse.GetValue(counts) is { Length: > 0 } c ? c : [1, 2, 4];
            await Console.Out.WriteLineAsync(await WorkerBenchmark.RunAsync(chosen, TimeSpan.FromSeconds(parse.GetValue(samplerSeconds)), ct));
            return 0;
        }));

        var replaySeeds = new Option<int>("--seeds") { Description = "Resampled searches per source (default 200)", DefaultValueFactory = _ => 200 };
        var replayWorkers = new Option<int>("--workers") { Description = "Workers the trial slots are counted for (default 2)", DefaultValueFactory = _ => 2 };
        var results = new Option<string?>("--results") { Description = "Results folder holding bisector.db (with --run); default: the journald runs of docs/case-journald.md" };
        var runId = new Option<string?>("--run") { Description = "Run id in the results database to replay (its culprit is taken as the truth)" };
        var truth = new Option<int?>("--culprit") { Description = "With --run: the position taken as the true culprit (default: the run's own; needed when the run named none)" };
        var dump = new Option<bool>("--features") { Description = "With --run: also print every stored trial's deciding feature by position, in the metric's raw unit (bytes, bytes/min), tab-separated" };
        var replay = new Command("replay", "Re-run the search on stored per-trial features (a stored run, or journald runs 1, 2 and 4), resampling each position's trials with many seeds") { replaySeeds, replayWorkers, results, runId, truth, dump };
        replay.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var seedsWanted = parse.GetValue(replaySeeds);
            var w = parse.GetValue(replayWorkers);
            if (seedsWanted < 1 || w < 1)
                throw new UsageException("--seeds/--workers", "must be at least 1", "e.g. --seeds 200 --workers 2");
            var output = new StringBuilder();
            IReadOnlyList<ReplaySource> sources;
            if (parse.GetValue(runId) is { } id)
            {
                var (source, window) = await LoadStoredRunAsync(parse.GetValue(results) ?? "results", id, w, seedsWanted, parse.GetValue(truth), ct);
                sources = [source];
                if (window is not null)
                    output.AppendLine(RenderWindow(window, source.Decision));
                if (parse.GetValue(dump))
                {
                    output.AppendLine(CultureInfo.InvariantCulture, $"Stored features ({source.Decision.Feature.ToString().ToLowerInvariant()} of {source.Decision.Metric}, raw unit): position, then one value a trial");
                    foreach (var (position, values) in source.Values.OrderBy(kv => kv.Key))
                        output.AppendLine(string.Join('\t', values.Select(v => v.ToString("0.#", CultureInfo.InvariantCulture)).Prepend(position.ToString(CultureInfo.InvariantCulture))));
                    output.AppendLine();
                }
            }
            else
            {
                if (parse.GetValue(truth) is not null || parse.GetValue(dump))
                    throw new UsageException("--culprit/--features", "they describe a stored run, and no --run was given", "Add --run <id> (and --results <folder>), or drop them to replay the journald runs");
                sources = ReplayBenchmark.Journald();
            }
            var rows = new List<ReplayBenchmark.Result>();
            foreach (var source in sources)
                rows.Add(await ReplayBenchmark.RunAsync(source, seedsWanted, w, ct: ct));
            output.Insert(0, string.Create(CultureInfo.InvariantCulture,
                $"Replay: {seedsWanted} resampled searches per source, bisect on {w} worker(s), α = 0.01 per search, confidence 0.95; a round of t trials takes ⌈t/{w}⌉ slots.\n\n") + ReplayBenchmark.Render(rows) + "\n");
            await Console.Out.WriteLineAsync(output.ToString());
            return 0;
        }));

        var calibrationSeeds = new Option<int>("--seeds") { Description = "Simulated pools per kind (default 400)", DefaultValueFactory = _ => 400 };
        var calibration = new Command("calibration", "A/A calibration on simulated pools: an iid pool, one drifting in time, one drifting between rounds — which are flagged") { calibrationSeeds };
        calibration.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            await Console.Out.WriteLineAsync(CalibrationBenchmark.Run(parse.GetValue(calibrationSeeds)));
            return 0;
        }));

        var scanSeeds = new Option<int>("--seeds") { Description = "Seeds per setting (default 200)", DefaultValueFactory = _ => 200 };
        var scanSizes = new Option<int[]>("--sizes") { Description = "Candidate counts to simulate (default 30 100)", AllowMultipleArgumentsPerToken = true };
        var scan = new Command("scan", "The scan for further changes after a culprit, on seeded simulations: false changes with one change in the range, two changes in the recipe's direction, a rise and a partial fix") { scanSeeds, scanSizes, firstSeed, effect };
        scan.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var n = parse.GetValue(scanSeeds);
            var chosen = parse.GetValue(scanSizes) is { Length: > 0 } s ? s : [30, 100];
            if (n < 1 || chosen.Any(size => size < 2))
                throw new UsageException("--seeds/--sizes", "need at least 1 seed and at least 2 candidates a size", "e.g. --seeds 200 --sizes 30 100");
            await Console.Out.WriteLineAsync(await ScanBenchmark.RunAsync(n, chosen, parse.GetValue(effect), parse.GetValue(firstSeed), ct));
            return 0;
        }));

        return new Command("bench", "Benchmarks whose results go into docs/benchmarks.md") { search, git, heap, workers, replay, calibration, scan };
    }

    /// <summary>A stored run as a replay source: every Ok trial's deciding feature by position, the run's culprit as the
    /// truth, and the trial-length suggestion from the trials on both sides of the culprit.</summary>
    private static async Task<(ReplaySource, WindowSuggestion?)> LoadStoredRunAsync(string resultsDirectory, string id, int workers, int seeds, int? truth, CancellationToken ct)
    {
        var path = Path.Combine(resultsDirectory, "bisector.db");
        if (!File.Exists(path))
            throw new UsageException("--results", $"no results database at {path}", "Give the results folder of the run (the one holding bisector.db)");
        await using var store = await ResultsStore.OpenAsync(path, ct);
        var run = await store.GetRunAsync(id, ct) ?? throw new UsageException("--run", $"no run '{id}' in {path}", "List runs with 'bisector status'");
        var recipe = JsonSerializer.Deserialize<Recipe>(run.RecipeJson, RunEngine.Json)!;
        var outcome = run.OutcomeJson is null ? null : JsonSerializer.Deserialize<SearchOutcome>(run.OutcomeJson, RunEngine.Json);
        var commits = await store.GetCommitsAsync(run.Id, ct);
        var candidates = (int)commits.Max(c => c.Position);
        // Checked before any trial is read: a wrong position should not wait for the run's samples.
        if (truth is { } wanted && (wanted < 1 || wanted > candidates))
            throw new UsageException("--culprit", $"position {wanted} is not a candidate of run {run.Id} (1..{candidates})", $"Give a position from 1 to {candidates}, as 'bisector status {run.Id}' numbers them");
        var warmup = recipe.Sampling.Warmup.TotalSeconds;
        var series = new Dictionary<int, List<TrialSeries>>();
        foreach (var trial in (await store.GetTrialsAsync(run.Id, ct)).Where(t => t.Outcome == Bisector.Workers.TrialOutcome.Ok))
        {
            var samples = await store.GetSamplesAsync(trial.Id, recipe.Decide.Metric, ct);
            var list = series.TryGetValue((int)trial.Position, out var l) ? l : series[(int)trial.Position] = [];
            list.Add(new TrialSeries(samples.Select(x => x.Seconds).ToArray(), samples.Select(x => x.Value).ToArray()));
        }
        if (!series.ContainsKey(0) || !series.ContainsKey(candidates))
            throw new UsageException("--run", $"run {run.Id} has no stored trials of both ends", "Replay a run that measured its good and bad ends");
        var values = series.ToDictionary(kv => kv.Key, kv => kv.Value.Select(t => Features.Extract(t, recipe.Decide.Feature, warmup)).Where(double.IsFinite).ToArray());
        int? culprit = truth ?? (outcome?.Status is SearchStatus.Found or SearchStatus.FoundRange ? outcome.RangeLast : null);
        var trialSeconds = warmup + recipe.Sampling.Window.TotalSeconds;
        var source = new ReplaySource($"run {run.Id}", candidates, culprit, values, recipe.Decide, recipe.Trials.Repeats, recipe.Trials.Max, trialSeconds);
        var window = culprit is { } c
            ? await TrialLengthCheck.RunAsync(series.SelectMany(kv => kv.Value.Select(t => (kv.Key, t))).ToList(), candidates, c, recipe.Decide, warmup,
                recipe.Trials.Repeats, recipe.Trials.Max, workers, seeds, ct)
            : null;
        return (source, window);
    }

    private static string RenderWindow(WindowSuggestion w, DecisionSpec decision)
    {
        var c = CultureInfo.InvariantCulture;
        var scale = FeatureScale.For(decision.Metric, decision.Feature);
        var unit = scale.Unit.Length == 0 ? "" : $" ({scale.Unit})";
        var sb = new StringBuilder();
        sb.AppendLine(c, $"Trial length: feature `{decision.Feature.ToString().ToLowerInvariant()}` of `{decision.Metric}` on the trials before and from the culprit, cut to shorter warm-ups and windows. {w.Message}.");
        sb.AppendLine();
        sb.AppendLine(c, $"| warm-up (s) | window (s) | separation (noise widths) | good spread{unit} | bad spread{unit} | trials a side to decide | measuring time a side (s) |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var cut in w.Cuts)
            sb.AppendLine(c, $"| {cut.WarmupSeconds:0} | {cut.WindowSeconds:0} | {cut.Separation:0.0} | {scale.Number(cut.GoodSpread)} | {scale.Number(cut.BadSpread)} | {cut.TrialsPerSide} | {cut.Cost:0} |");
        if (w.Replays.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine(c, $"Replayed ({w.ReplaySeeds} searches per cut, the recipe's own cut last):");
            sb.AppendLine();
            sb.AppendLine("| warm-up (s) | window (s) | culprit named | wrong commit | trial slots | slots × trial length (min) |");
            sb.AppendLine("|---:|---:|---:|---:|---:|---:|");
            foreach (var r in w.Replays)
                sb.AppendLine(c, $"| {r.WarmupSeconds:0} | {r.WindowSeconds:0} | {r.Correct:P1} | {r.Wrong:P1} | {r.Slots:0.0} | {r.WallSeconds / 60:0.0} |");
        }
        return sb.ToString();
    }
}
