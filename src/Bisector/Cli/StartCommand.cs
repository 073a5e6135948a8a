using System.CommandLine;
using System.Globalization;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Runs;
using Bisector.Search;
using Bisector.Workers;

namespace Bisector.Cli;

/// <summary><c>bisector start A..B --paths … --recipe …</c>: bisect a range in the repository of the current folder.</summary>
internal static class StartCommand
{
    /// <summary>What the user typed, before bisect.yaml fills the gaps and validation runs.</summary>
    internal sealed record Settings(
        string Range,
        string[] Paths,
        string? Recipe,
        string[] Workers,
        string? Strategy,
        double? Confidence,
        double? Alpha,
        int? Repeats,
        int? MaxTrials,
        string? Window,
        string? Warmup,
        string? Results,
        string? Repo,
        string? Config,
        bool FirstParent,
        bool NoMerges,
        bool DryRun)
    {
        /// <summary><c>--find-fix</c>: the old end regressed; find the commit that made it better.</summary>
        public bool FindFix { get; init; }

        /// <summary><c>--term-old</c>: the word for the old end's state (git bisect's; "good", or "broken" with --find-fix).</summary>
        public string? TermOld { get; init; }

        /// <summary><c>--term-new</c>: the word for the new end's state ("bad", or "fixed" with --find-fix).</summary>
        public string? TermNew { get; init; }
    }

    /// <summary>The find-fix flags start, resume's dry run and demo share, so each spells them the same.</summary>
    internal sealed record TermOptions(Option<bool> FindFix, Option<string?> TermOld, Option<string?> TermNew)
    {
        public static TermOptions Create() => new(
            new Option<bool>(Reporting.Terms.FindFixFlag) { Description = "The old end A regressed: find the commit that made it better (decides on the opposite of the recipe's decide.direction; output speaks of the fix)" },
            new Option<string?>(Reporting.Terms.OldFlag) { Description = "Word for the old end's state, as git bisect --term-old (default good, or broken with --find-fix); give --term-new too" },
            new Option<string?>(Reporting.Terms.NewFlag) { Description = "Word for the new end's state, as git bisect --term-new (default bad, or fixed with --find-fix); give --term-old too" });

        public IEnumerable<Option> All => [FindFix, TermOld, TermNew];

        public Settings Apply(Settings settings, ParseResult parse) =>
            settings with { FindFix = parse.GetValue(FindFix), TermOld = parse.GetValue(TermOld), TermNew = parse.GetValue(TermNew) };
    }

    public static Command Create()
    {
        var range = new Argument<string>("range") { Description = "The range to bisect, A..B: A is known good, B is known bad (also 'B ^A'); with --find-fix A is broken and B fixed" };
        var paths = new Option<string[]>("--paths") { Description = "Git pathspecs: only commits touching them are candidates (globs like 'src/basic/fileio*')", AllowMultipleArgumentsPerToken = true };
        var recipe = new Option<string?>("--recipe") { Description = "Recipe YAML: how to build, run, drive and measure the daemon" };
        var workers = new Option<string[]>("--workers") { Description = "Workers: local:N, ssh://user@host (comma-separated or repeated; default: bisect.yaml, else one local worker per core, at most 4)", AllowMultipleArgumentsPerToken = true };
        var strategy = new Option<string?>("--strategy") { Description = "bisect (default), kary (N workers: N+1 parts a round) or exhaustive (all, then change points)" };
        var confidence = new Option<double?>("--confidence") { Description = "Posterior probability the named culprit must reach (default 0.95)" };
        var alpha = new Option<double?>("--alpha") { Description = "Significance level of each comparison (default 0.01)" };
        var repeats = new Option<int?>("--repeats") { Description = "Trials per commit in the first batch (overrides the recipe)" };
        var maxTrials = new Option<int?>("--max-trials") { Description = "Cap on trials per commit for adaptive repeats (overrides the recipe)" };
        var window = new Option<string?>("--window") { Description = "Measured window after warm-up, e.g. 30s (overrides the recipe)" };
        var warmup = new Option<string?>("--warmup") { Description = "Warm-up excluded from features, e.g. 2s (overrides the recipe)" };
        var results = CommonOptions.Results();
        var repo = new Option<string?>("--repo") { Description = "Git repository (default: the current folder)" };
        var config = new Option<string?>("--config") { Description = "Project defaults (default: bisect.yaml at the repository root, if present)" };
        var firstParent = new Option<bool>("--first-parent") { Description = "Follow only the first parent of merges, as git log --first-parent" };
        var noMerges = new Option<bool>("--no-merges") { Description = "Leave merge commits out, as git log --no-merges" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Say which commits would be tested and why, then stop" };
        var calibrate = new Option<bool>("--calibrate") { Description = "First measure the bad end's build as both sides (A/A) and report the false-positive rate" };
        var profileBoundary = new Option<bool>("--profile-boundary") { Description = "After the verdict, run the last good build and the culprit under heaptrack and compare allocation sites" };
        var experiments = new Option<bool>("--experiments")
        {
            Description = "After the verdict, run the culprit and its good neighbour again under jemalloc, tcmalloc, pinned glibc tunables and a trim probe (diagnosis by experiment)",
        };
        var noScan = new Option<bool>("--no-scan")
        {
            Description = "After a culprit is named, do not scan the rest of the range (before and after it) for further changes (the scan is on by default; its cost is bounded)",
        };
        var noRevert = CommonOptions.NoRevert();
        var noBuildAhead = new Option<bool>("--no-build-ahead")
        {
            Description = "Do not build, while trials run, the commits the search may want next (by default they are built at the lowest CPU priority so the next round need not wait)",
        };
        var json = CommonOptions.Json();
        var terms = TermOptions.Create();
        var command = new Command("start", "Bisect a git range: build, run and measure candidates until the culprit (or with --find-fix the fix) is named")
        {
            range, paths, recipe, workers, strategy, confidence, alpha, repeats, maxTrials, window, warmup, results, repo, config, firstParent, noMerges, dryRun, profileBoundary, calibrate, experiments, noScan, noRevert, noBuildAhead, json,
        };
        foreach (var option in terms.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var settings = terms.Apply(new Settings(
                parse.GetValue(range)!, parse.GetValue(paths) ?? [], parse.GetValue(recipe), parse.GetValue(workers) ?? [],
                parse.GetValue(strategy), parse.GetValue(confidence), parse.GetValue(alpha), parse.GetValue(repeats), parse.GetValue(maxTrials),
                parse.GetValue(window), parse.GetValue(warmup), parse.GetValue(results), parse.GetValue(repo), parse.GetValue(config),
                parse.GetValue(firstParent), parse.GetValue(noMerges), parse.GetValue(dryRun)), parse);
            var resolved = Resolve(settings, ToolInfo.ReproduceCommand(Environment.GetCommandLineArgs().Skip(1)));
            var options = resolved.Options with
            {
                ProfileBoundary = parse.GetValue(profileBoundary),
                Calibrate = parse.GetValue(calibrate),
                Experiments = parse.GetValue(experiments),
                NoScan = parse.GetValue(noScan),
                NoRevert = parse.GetValue(noRevert),
                NoBuildAhead = parse.GetValue(noBuildAhead),
            };
            if (settings.DryRun)
            {
                var configFile = ConfigFile(settings);
                return await DryRunAsync(resolved with { Options = options }, File.Exists(configFile) ? configFile : null, Console.Out, ct);
            }

            var summary = await Progress.RunAsync(progress => new RunEngine(progress.Note, progress).StartAsync(resolved with { Options = options }, ct));
            return await PrintAsync(summary, Console.Out, parse.GetValue(json), ct);
        }));
        return command;
    }

    /// <summary>
    /// After <see cref="Resolve"/> (recipe with its unknown keys, bisect.yaml, flags: exit 3 or 2), the checks
    /// <see cref="RunEngine.StartAsync"/> makes before it stores anything, in its order — worker specs (exit 2), range
    /// and paths (exit 4) — then the commits that would be tested and what was checked. Nothing is built or stored.
    /// </summary>
    internal static async Task<int> DryRunAsync(RunSettings resolved, string? configFile, TextWriter output, CancellationToken ct = default)
    {
        var (options, recipe) = resolved;
        var workers = WorkerSpecs.Parse(options.Workers, Path.Combine(Path.GetTempPath(), "bisector-dry-run"));
        foreach (var worker in workers)
        {
            await worker.DisposeAsync(); // parsing touches no host; nothing to keep
        }

        var selection = await RunEngine.SelectAsync(options, ct);
        foreach (var line in CommitSelector.DescribeDryRun(selection, options.Terms.Old, options.Terms.New))
        {
            await output.WriteLineAsync(line);
        }

        await output.WriteLineAsync("Checked, as a real run would before its first build:");
        await output.WriteLineAsync($"  recipe      {recipe.SourceFile} valid: '{recipe.Name}' (hash {recipe.Hash[..12]}), decides on {recipe.Decide.Metric} " +
            $"{recipe.Decide.Feature.ToString().ToLowerInvariant()} ({recipe.Decide.Direction.ToString().ToLowerInvariant()}: {options.Terms.DirectionText(recipe.Decide.Direction)}), " +
            $"{recipe.Trials.Repeats.ToString(CultureInfo.InvariantCulture)} trial(s) per commit first, at most {recipe.Trials.Max.ToString(CultureInfo.InvariantCulture)}");
        await output.WriteLineAsync($"  terms       {options.Terms.Describe(options.Range)}");
        await output.WriteLineAsync($"  bisect.yaml {(configFile is null ? "none (flags, recipe and built-in defaults)" : configFile + " valid")}");
        await output.WriteLineAsync($"  workers     {string.Join(", ", workers.Select(w => w.Name))} (specs valid; hosts not contacted: 'bisector workers check' tries them){(options.WorkersFrom is { } from ? $"; from {from}" : "")}");
        foreach (var line in await PlanAsync(options, recipe, selection, workers.Count, ct))
        {
            await output.WriteLineAsync(line);
        }

        await output.WriteLineAsync("Dry run: nothing was built, run or stored.");
        return 0;
    }

    /// <summary>The cost plan of the run a dry run describes, from the results folder's database when there is one (a
    /// dry run never creates it) and the artifact cache.</summary>
    private static async Task<IReadOnlyList<string>> PlanAsync(RunOptions options, Recipe recipe, CommitSelection selection, int workers, CancellationToken ct)
    {
        var line = CommitLine.Of(selection);
        if (line.CandidateCount < 1)
        {
            return [];
        }

        var database = RunEngine.DatabasePath(options.ResultsDirectory);
        await using var store = File.Exists(database) ? await Storage.ResultsStore.OpenAsync(database, ct) : null;
        var builder = new Building.Builder(options.RepositoryPath, recipe, Path.Combine(options.ResultsDirectory, "cache"), Path.GetTempPath());
        var plan = await CostPlanner.PlanAsync(store, null, recipe, RunEngine.SearchOptionsFor(options, recipe, workers), line.CandidateCount,
            string.Join(",", options.Workers), p => builder.TryGetCached(line[p].Sha) is not null, ct);
        return [.. plan.Lines.Select(options.Terms.Speak)];
    }

    /// <summary>
    /// Merges flags over bisect.yaml over the recipe and built-in defaults and validates the result once, before
    /// anything is stored. A value is checked where it came from: bisect.yaml's by its loader and then against the
    /// recipe (errors name <c>bisect.yaml:LINE</c>), a flag's against the recipe with bisect.yaml applied (errors name
    /// the flag).
    /// </summary>
    internal static RunSettings Resolve(Settings s, string commandLine)
    {
        var terms = Reporting.Terms.Resolve(s.FindFix, s.TermOld, s.TermNew);
        var repository = Path.GetFullPath(s.Repo ?? Directory.GetCurrentDirectory());
        if (!Directory.Exists(repository))
        {
            throw new UsageException("--repo", $"'{repository}' does not exist", "Run in a git checkout or pass --repo PATH");
        }

        var configPath = ConfigFile(s);
        if (s.Config is not null && !File.Exists(configPath))
        {
            throw new UsageException("--config", $"'{configPath}' does not exist", "Pass an existing bisect.yaml or leave --config out");
        }

        var config = File.Exists(configPath) ? ProjectConfigLoader.Load(configPath) : ProjectConfig.Empty(configPath);

        var recipePath = s.Recipe is not null ? Path.GetFullPath(s.Recipe)
            : config.Recipe ?? throw new UsageException("--recipe", "no recipe given", "Pass --recipe FILE or set 'recipe:' in bisect.yaml (see recipes/README.md)");
        if (!File.Exists(recipePath))
        {
            throw s.Recipe is not null || config.LineOf("recipe") is not { } line
                ? new UsageException("--recipe", $"'{recipePath}' does not exist", "Pass the path of a recipe YAML file (see recipes/README.md)")
                : new ConfigException(config.SourceFile, line, $"'recipe': '{recipePath}' does not exist", "Give the recipe path relative to this file");
        }

        var window = Duration("--window", s.Window);
        var warmup = Duration("--warmup", s.Warmup);
        var fromConfig = config with
        {
            Repeats = s.Repeats is null ? config.Repeats : null,
            MaxTrials = s.MaxTrials is null ? config.MaxTrials : null,
            Window = window is null ? config.Window : null,
            Warmup = warmup is null ? config.Warmup : null,
        };
        var written = RecipeLoader.Load(recipePath);
        var recipe = RecipeOverrides.WithFlags(RecipeOverrides.WithProjectConfig(written, fromConfig), s.Repeats, s.MaxTrials, window, warmup);
        // The run stores the values the overrides ended with (a raised repeats lifts the cap), so a resume that applies
        // them to the same recipe file gets the same recipe and hash.
        var overridden = !ReferenceEquals(recipe, written);

        var machine = DefaultWorkers.ForThisMachine();
        var (workers, workersFrom) = s.Workers.Length > 0
            ? (s.Workers.SelectMany(w => w.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList(), "--workers")
            : config.Workers is { } listed
                ? (listed.ToList(), Path.GetFileName(config.SourceFile))
                : ([machine.Spec], machine.Why);
        var strategyText = s.Strategy ?? config.Strategy?.ToString() ?? "bisect";
        if (!Enum.TryParse<SearchStrategy>(strategyText, ignoreCase: true, out var strategy) || int.TryParse(strategyText, out _))
        {
            throw new UsageException("--strategy", $"'{strategyText}' is not a strategy", "Use bisect, kary or exhaustive");
        }

        if (s.Confidence is <= 0.5 or >= 1)
        {
            throw new UsageException("--confidence", $"{s.Confidence.Value.ToString(CultureInfo.InvariantCulture)} is out of range", "Give a probability between 0.5 and 1, e.g. 0.95");
        }

        var confidence = s.Confidence ?? config.Confidence ?? 0.95;
        if (confidence <= 0.5)
        {
            throw new ConfigException(config.SourceFile, config.LineOf("confidence"), $"'confidence: {confidence.ToString(CultureInfo.InvariantCulture)}' is too low to name a culprit",
                "Write a probability between 0.5 and 1, e.g. 0.95");
        }

        if (s.Alpha is <= 0 or >= 0.5)
        {
            throw new UsageException("--alpha", $"{s.Alpha.Value.ToString(CultureInfo.InvariantCulture)} is out of range", "Give a significance level between 0 and 0.5, e.g. 0.01");
        }

        var alpha = s.Alpha ?? config.Alpha ?? 0.01;
        if (alpha >= 0.5)
        {
            throw new ConfigException(config.SourceFile, config.LineOf("alpha"), $"'alpha: {alpha.ToString(CultureInfo.InvariantCulture)}' is not a significance level",
                "Write a value between 0 and 0.5, e.g. 0.01");
        }

        var options = new RunOptions(
            repository,
            s.Range,
            s.Paths.Length > 0 ? s.Paths : config.Paths?.ToArray() ?? [],
            recipePath,
            workers,
            strategy,
            confidence,
            alpha,
            overridden ? recipe.Trials.Repeats : null,
            overridden ? recipe.Trials.Max : null,
            overridden ? recipe.Sampling.Window : null,
            overridden ? recipe.Sampling.Warmup : null,
            s.Results is not null ? Path.GetFullPath(s.Results)
                : config.Results ?? Path.GetFullPath("results"),
            s.FirstParent,
            s.NoMerges,
            commandLine)
        {
            WorkersFrom = workersFrom,
            Terms = terms,
        };
        return new RunSettings(options, options.ForKind(recipe));
    }

    /// <summary>The project defaults a run reads: --config, else bisect.yaml at the repository root (which may not exist).</summary>
    private static string ConfigFile(Settings s) =>
        s.Config ?? Path.Combine(Path.GetFullPath(s.Repo ?? Directory.GetCurrentDirectory()), ProjectConfigLoader.FileName);

    private static TimeSpan? Duration(string flag, string? text)
    {
        if (text is null)
        {
            return null;
        }

        return ConfigValues.TryParseDuration(text, out var value) && value > TimeSpan.Zero
            ? value
            : throw new UsageException(flag, $"'{text}' is not a duration", "Write e.g. 500ms, 30s or 5m");
    }

    internal static async Task<int> PrintAsync(RunSummary summary, TextWriter output, bool json = false, CancellationToken ct = default)
    {
        var outcome = summary.Outcome;
        if (json)
        {
            var stored = summary.Model ?? await LoadModelAsync(summary, ct);
            await output.WriteLineAsync(RunResultJson.Render(stored, summary.ReportPath is null ? null : summary.ReportDirectory));
            return ExitCode(outcome);
        }

        if (outcome is null)
        {
            await output.WriteLineAsync($"run {summary.RunId}: no verdict");
            return 1;
        }

        if (summary.Model is { } model)
        {
            // Colours and the boxed table only on a terminal; anything else (a pipe, a file, a test's writer) gets the
            // plain layout, whatever TERM says: Spectre takes TERM=xterm as a terminal for any writer, and its table then
            // wraps cells at 80 columns ("← fix" split over two lines in a test's captured output).
            var terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
            Reporting.TerminalSummary.Write(model, Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
            {
                Out = new Spectre.Console.AnsiConsoleOutput(output),
                Ansi = terminal ? Spectre.Console.AnsiSupport.Detect : Spectre.Console.AnsiSupport.No,
                ColorSystem = terminal ? Spectre.Console.ColorSystemSupport.Detect : Spectre.Console.ColorSystemSupport.NoColors,
            }));
        }

        if (summary.Experiments is { } experiments)
        {
            await output.WriteLineAsync($"diagnosis by experiment: {experiments}");
        }

        var line = summary.Line;
        var terms = summary.Terms;
        switch (outcome.Status)
        {
            case SearchStatus.Found when outcome.Culprit is { } p:
                var culprit = line[p];
                await output.WriteLineAsync($"{terms.Answer}: {culprit.Sha} {culprit.Subject}");
                break;
            case SearchStatus.FoundRange:
                await output.WriteLineAsync($"{terms.Answer} range: {line[outcome.RangeFirst].Sha}..{line[outcome.RangeLast].Sha} (neighbours could not be built)");
                break;
            case SearchStatus.NoRegression:
                await output.WriteLineAsync(terms.Speak("no regression: the bad end is not worse than the good end by the recipe's min-effect"));
                break;
            default:
                await output.WriteLineAsync($"undecided: {outcome.Status}");
                break;
        }

        await output.WriteLineAsync($"confidence: {outcome.Confidence.ToString("0.000", CultureInfo.InvariantCulture)}");
        await output.WriteLineAsync($"evidence: {terms.Speak(outcome.Summary)}");
        await output.WriteLineAsync($"report: {summary.ReportPath}");
        return ExitCode(outcome);
    }

    private static int ExitCode(SearchOutcome? outcome) =>
        outcome?.Status is SearchStatus.Found or SearchStatus.FoundRange or SearchStatus.NoRegression ? 0 : 1;

    private static async Task<Reporting.ReportModel> LoadModelAsync(RunSummary summary, CancellationToken ct)
    {
        await using var store = await ResultsLocation.OpenExistingAsync(Path.GetDirectoryName(summary.DatabasePath)!, ct);
        return await ReportAssembler.LoadAsync(store, summary.RunId, ct);
    }
}
