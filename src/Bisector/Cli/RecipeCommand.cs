using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Statistics;
using Bisector.Workers;
using CliWrap.Buffered;
using ScottPlot;

namespace Bisector.Cli;

/// <summary><c>bisector recipe check R.yaml [--commit REV]</c>: build one commit, run a few short trials, and say what a
/// user needs before an hour-long run: build time, that the daemon was found, the metrics seen, the noise of each
/// feature, and the min-effect and window that noise supports — as text and a small plot.</summary>
internal static class RecipeCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("recipe") { Description = "The recipe YAML to check" };
        var commit = new Option<string>("--commit") { Description = "The commit to build and run (default HEAD)", DefaultValueFactory = _ => "HEAD" };
        var repo = new Option<string?>("--repo") { Description = "Git repository (default: the current folder)" };
        var trials = new Option<int>("--trials") { Description = "Trials to run, one after another (2–10, default 3)", DefaultValueFactory = _ => 3 };
        var plot = new Option<string?>("--plot") { Description = "Where to write the PNG plot (default: <results>/recipe-check/<recipe>-<sha>.png)" };
        var results = CommonOptions.Results();
        var check = new Command("check", "Build one commit and run a few short trials: build time, daemon found, metrics, noise, and the min-effect and window it supports")
        {
            file, commit, repo, trials, plot, results,
        };
        check.SetAction((parse, ct) => App.GuardAsync(() => CheckAsync(
            parse.GetValue(file)!, parse.GetValue(commit)!, parse.GetValue(repo), parse.GetValue(trials), parse.GetValue(plot),
            ResultsLocation.Resolve(parse.GetValue(results)), Console.Out, ct)));
        return new Command("recipe", "Work with recipes") { check };
    }

    public static async Task<int> CheckAsync(string recipeFile, string revision, string? repo, int trialCount, string? plotPath,
        string resultsDirectory, TextWriter output, CancellationToken ct = default)
    {
        if (trialCount is < 2 or > 10)
            throw new UsageException("--trials", $"{trialCount} trials cannot measure noise in a short check", "Give 2 to 10, e.g. --trials 3");
        var recipe = RecipeLoader.Load(recipeFile);
        var repository = await GitTopLevelAsync(repo ?? Directory.GetCurrentDirectory(), ct);
        var commit = await ResolveAsync(repository, revision, ct);
        await output.WriteLineAsync($"recipe    {recipeFile} ({recipe.Name}); decide: {recipe.Decide.Metric} {recipe.Decide.Feature.ToString().ToLowerInvariant()}, min-effect {MinEffectText(recipe.Decide)}");
        await output.WriteLineAsync($"commit    {commit.ShortSha} {commit.Subject}");

        var scratch = Path.Combine(Path.GetTempPath(), $"bisector-check-{Environment.ProcessId}-{Guid.NewGuid():N}"[..48]);
        try
        {
            // The run's own cache: a later 'bisector start' reuses this build instead of building the commit again.
            var builder = new Builder(repository, recipe, Path.Combine(resultsDirectory, "cache"), Path.Combine(scratch, "build"));
            var build = await builder.BuildAsync(commit, ct);
            if (!build.Succeeded || build.Artifact is null)
            {
                await output.WriteLineAsync($"build     {build.Status} after {ReportFacts.Duration(build.Duration)}; the log ends:");
                foreach (var line in ProcessFailedException.TailOf(build.Log).Split('\n'))
                    await output.WriteLineAsync("  | " + line);
                await output.WriteLineAsync($"fix       the steps under 'build:' in {recipeFile}, or check another commit with --commit");
                return 1;
            }

            await output.WriteLineAsync($"build     {build.Status} in {ReportFacts.Duration(build.Duration)}; artifacts: {string.Join(", ", recipe.Build.Artifacts)}");
            // The libraries the build found on this machine are part of what is measured (journald with xz compiled in).
            var linked = await LinkedLibraries.ReadAsync(build.Artifact.Directory, ct);
            if (linked is null)
                await output.WriteLineAsync("links     not listed: readelf (binutils) is not installed");
            else
                foreach (var file in linked)
                    await output.WriteLineAsync($"links     {file.File}: {(file.Needed.Count == 0 ? "no shared libraries (static)" : string.Join(", ", file.Needed))}");

            await using var worker = new LocalWorker("check-1", Path.Combine(scratch, "t"));
            var results = new List<TrialResult>();
            for (var i = 0; i < trialCount; i++)
            {
                var clock = Stopwatch.StartNew();
                var result = await worker.RunTrialAsync(new TrialSpec(commit, build.Artifact, recipe, i, $"check-{commit.Sha[..7]}-{i}-{Guid.NewGuid():N}"[..24]), ct);
                results.Add(result);
                await output.WriteLineAsync($"trial {i + 1}   {result.Outcome} in {ReportFacts.Duration(clock.Elapsed)}{(result.Reason is { } why ? ": " + Flat(why) : "")}");
            }

            var ok = results.Where(r => r.Outcome == TrialOutcome.Ok).ToList();
            var perProcess = ok.Sum(r => r.Samples.Count(s => s.Metric is Metrics.VmRss or Metrics.RssAnon or Metrics.RssFile));
            await output.WriteLineAsync(perProcess > 0
                ? $"daemon    started and found behind its wrappers in {ok.Count}/{results.Count} trials: its own /proc status sampled {perProcess} times"
                : $"daemon    not found in any trial: no per-process samples; check 'run.command' in {recipeFile} starts the daemon in the foreground");
            var seen = ok.SelectMany(r => r.Samples).GroupBy(s => s.Metric).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Key} ({g.Count()})").ToList();
            await output.WriteLineAsync($"metrics   {(seen.Count == 0 ? "none" : string.Join(", ", seen))}");
            if (ok.Count < 2)
            {
                await output.WriteLineAsync($"noise     needs at least 2 Ok trials, {ok.Count} ran Ok; fix the failures above first");
                return 1;
            }

            var series = ok.Select(r => Series(r, recipe.Decide.Metric)).Where(s => s.Count > 0).ToList();
            if (series.Count < 2)
            {
                await output.WriteLineAsync($"noise     '{recipe.Decide.Metric}' (decide.metric) was not sampled; list it in 'sampling.metrics' of {recipeFile}");
                return 1;
            }

            var noise = NoiseCheck.Measure(series, recipe.Sampling.Warmup.TotalSeconds);
            await WriteNoiseAsync(recipe, noise, output);
            var path = plotPath ?? Path.Combine(resultsDirectory, "recipe-check", $"{recipe.Name}-{commit.ShortSha}.png");
            WritePlot(recipe, commit, series, path);
            await output.WriteLineAsync($"plot      {Path.GetFullPath(path)}");
            return 0;
        }
        finally
        {
            Scratch.TryDelete(scratch);
        }
    }

    private static async Task WriteNoiseAsync(Recipe recipe, IReadOnlyList<FeatureNoise> noise, TextWriter output)
    {
        var d = recipe.Decide;
        await output.WriteLineAsync($"noise     of {d.Metric} over {noise.Max(n => n.Trials)} trials of one build (SD; suggested min-effect = {NoiseCheck.SpreadsPerMinEffect:0} × SD, rounded up; derived, see docs/recipe-check.md):");
        foreach (var n in noise)
        {
            var scale = FeatureScale.For(d.Metric, n.Feature);
            var rate = n.Feature == FeatureKind.Slope ? "/min" : "";
            var mark = n.Feature == d.Feature ? "  ← decide.feature" : "";
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  {n.Feature.ToString().ToLowerInvariant(),-8} median {scale.Format(n.Median, signed: n.Feature == FeatureKind.Slope),-16} SD {scale.Format(n.Spread),-16} suggested min-effect {ConfigValues.FormatAmount(n.SuggestedMinEffect)}{rate}{mark}"));
        }

        var decided = noise.FirstOrDefault(n => n.Feature == d.Feature);
        if (decided is null)
            return;
        var unit = d.Feature == FeatureKind.Slope ? "/min" : "";
        var suggestion = ConfigValues.FormatAmount(decided.SuggestedMinEffect) + unit;
        await output.WriteLineAsync(d.MinEffect <= 0
            ? $"min-effect 0: a 'no regression' verdict can never be shown and every difference counts; write 'min-effect: {suggestion}' (or the smallest change that matters, if larger)"
            : d.MinEffect >= decided.SuggestedMinEffect
                ? $"min-effect {MinEffectText(d)} is above the noise (the noise supports {suggestion}): good"
                : $"min-effect {MinEffectText(d)} is inside the noise: raise it to {suggestion}, lengthen the window, or expect many more trials per commit");
        if (d.Feature == FeatureKind.Slope && NoiseCheck.SlopeWindowFor(decided, recipe.Sampling.Window, d.MinEffect) is { } longer)
            await output.WriteLineAsync($"window    {ConfigValues.FormatDuration(recipe.Sampling.Window)} is short for min-effect {MinEffectText(d)}: about {ConfigValues.FormatDuration(longer)} brings the slope's noise under it (derived: slope noise ∝ window^-3/2)");
        else
            await output.WriteLineAsync($"window    {ConfigValues.FormatDuration(recipe.Sampling.Window)} after {ConfigValues.FormatDuration(recipe.Sampling.Warmup)} warm-up supports the suggestion above");
    }

    private static void WritePlot(Recipe recipe, Commit commit, IReadOnlyList<TrialSeries> series, string path)
    {
        var scale = FeatureScale.For(recipe.Decide.Metric, FeatureKind.Level);
        var plot = new Plot();
        plot.Font.Set("DejaVu Sans");
        plot.Title($"recipe check: {recipe.Name} at {commit.ShortSha}");
        foreach (var (s, i) in series.Select((s, i) => (s, i)))
        {
            var line = plot.Add.ScatterLine(s.Seconds.ToArray(), s.Values.Select(scale.Scale).ToArray());
            line.LegendText = $"trial {i + 1}";
        }

        var warmup = plot.Add.VerticalLine(recipe.Sampling.Warmup.TotalSeconds);
        warmup.LegendText = "end of warm-up";
        warmup.LinePattern = LinePattern.Dashed;
        plot.XLabel("seconds since the daemon started");
        plot.YLabel($"{recipe.Decide.Metric}{(scale.Unit.Length > 0 ? $" ({scale.Unit})" : "")}");
        plot.ShowLegend(Alignment.UpperRight);
        plot.Add.Annotation($"bisector {ToolInfo.Version}", Alignment.LowerRight);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, 800, 450);
    }

    private static TrialSeries Series(TrialResult result, string metric)
    {
        var samples = result.Samples.Where(s => s.Metric == metric).OrderBy(s => s.Seconds).ToList();
        return new TrialSeries(samples.Select(s => s.Seconds).ToList(), samples.Select(s => s.Value).ToList());
    }

    private static string MinEffectText(DecisionSpec d) =>
        ConfigValues.FormatAmount(d.MinEffect) + (d.Feature == FeatureKind.Slope && d.MinEffect > 0 ? "/min" : "");

    private static string Flat(string text) => text.ReplaceLineEndings(" ").Trim();

    private static async Task<string> GitTopLevelAsync(string directory, CancellationToken ct)
    {
        var result = await Git(directory, ct, "rev-parse", "--show-toplevel");
        return result.Exit == 0 ? result.Out.Trim()
            : throw new UsageException("--repo", $"'{directory}' is not inside a git repository", "Run recipe check inside the repository, or pass --repo");
    }

    private static async Task<Commit> ResolveAsync(string repository, string revision, CancellationToken ct)
    {
        var result = await Git(repository, ct, "log", "-1", "--format=%H%x00%an <%ae>%x00%aI%x00%s", revision, "--");
        var parts = result.Out.TrimEnd('\n').Split('\0');
        if (result.Exit != 0 || parts.Length < 4)
            throw new UsageException("--commit", $"'{revision}' is not a commit of {repository}", "Give a SHA, tag or branch, e.g. --commit HEAD~3");
        return new Commit(parts[0], parts[3], parts[1], DateTimeOffset.Parse(parts[2], CultureInfo.InvariantCulture), []);
    }

    private static async Task<(int Exit, string Out)> Git(string directory, CancellationToken ct, params string[] args)
    {
        var result = await CliWrap.Cli.Wrap("git").WithArguments(args).WithWorkingDirectory(directory)
            .WithValidation(CliWrap.CommandResultValidation.None)
            .ExecuteBufferedAsync(ct);
        return (result.ExitCode, result.StandardOutput);
    }
}
