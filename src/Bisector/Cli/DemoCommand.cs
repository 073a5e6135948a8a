using System.CommandLine;
using Bisector.Demo;
using Bisector.Runs;
using Bisector.Search;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector demo</c>: generates a repository of a small C daemon with a known memory regression, bisects it with
/// the real pipeline (git, gcc, cgroups, SQLite, report) and checks the verdict against the known culprit.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var directory = new Option<string?>("--dir") { Description = "Empty or new folder for the demo repository (default: a new temporary folder)" };
        var scenario = new Option<string>("--scenario") { Description = "fragmentation (default: realloc-shrink heap fragmentation), leak, static-table, fix (the fragmentation is already in v1.0 and a later commit fixes it: bisected with --find-fix), two-changes (a 16 MiB level step, then later a leak: both must be reported, the step as the answer), or tangled (the fragmentation, and a later commit edits the culprit's lines, so its revert conflicts)", DefaultValueFactory = _ => "fragmentation" };
        var strategy = new Option<string>("--strategy") { Description = "bisect, kary or exhaustive", DefaultValueFactory = _ => "bisect" };
        var workers = new Option<string[]>("--workers") { Description = "Workers (default local:2)", AllowMultipleArgumentsPerToken = true };
        var results = CommonOptions.Results();
        var experiments = new Option<bool>("--experiments")
        {
            Description = "After the verdict, run the culprit and its good neighbour again under other allocators, glibc tunables and a trim probe",
        };
        var noRevert = CommonOptions.NoRevert();
        var termOld = new Option<string?>(Reporting.Terms.OldFlag) { Description = "Word for the old end's state, as git bisect --term-old (default good, or broken for --scenario fix); give --term-new too" };
        var termNew = new Option<string?>(Reporting.Terms.NewFlag) { Description = "Word for the new end's state, as git bisect --term-new (default bad, or fixed for --scenario fix); give --term-old too" };
        var command = new Command("demo", "Generate a demo repository with a known regression (or fix), bisect it, and print the verdict and report path")
        {
            directory, scenario, strategy, workers, results, experiments, noRevert, termOld, termNew,
        };
        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var kind = parse.GetValue(scenario)!.Replace("-", string.Empty, StringComparison.Ordinal);
            if (!Enum.TryParse<DemoScenario>(kind, ignoreCase: true, out var chosen) || int.TryParse(kind, out _))
            {
                throw new UsageException("--scenario", $"'{parse.GetValue(scenario)}' is not a demo scenario", "Use fragmentation, leak, static-table, fix, two-changes or tangled");
            }

            // Checked before anything is generated, so a bad term costs nothing.
            Reporting.Terms.Resolve(chosen == DemoScenario.Fix, parse.GetValue(termOld), parse.GetValue(termNew));
            var folder = parse.GetValue(directory) ?? Directory.CreateTempSubdirectory("bisector-demo-").FullName;
            var summary = await Progress.RunAsync(progress => RunAsync(
                folder, chosen, parse.GetValue(strategy)!, parse.GetValue(workers) ?? [], ResultsLocation.Resolve(parse.GetValue(results)), progress.Note, progress,
                parse.GetValue(experiments), !parse.GetValue(noRevert), parse.GetValue(termOld), parse.GetValue(termNew), ct));
            return await ReportAsync(summary.Demo, summary.Run, Console.Out);
        }));
        return command;
    }

    public static async Task<(DemoRepository Demo, RunSummary Run)> RunAsync(
        string folder, DemoScenario scenario, string strategy, IReadOnlyList<string> workers, string resultsDirectory, Action<string> log,
        Reporting.RunProgress? progress = null, bool experiments = false, bool revert = true, string? termOld = null, string? termNew = null, CancellationToken ct = default)
    {
        log($"generating the demo repository ({scenario}) in {folder}");
        var demo = await DemoRepository.CreateAsync(folder, scenario, ct);
        var recipe = await WriteRecipeAsync(demo.Path, ct);
        // The fix scenario's recipe is the regression recipe: --find-fix turns the search round, as a user would.
        var findFix = scenario == DemoScenario.Fix;
        var settings = new StartCommand.Settings(
            $"{demo.GoodRef}..{demo.BadRef}", [.. demo.Paths], recipe, [.. workers.DefaultIfEmpty("local:2")], strategy,
            null, null, null, null, null, null, resultsDirectory, demo.Path, null, false, false, false)
        { FindFix = findFix, TermOld = termOld, TermNew = termNew };
        string[] words = [.. findFix ? [Reporting.Terms.FindFixFlag] : Array.Empty<string>(),
            .. termOld is null || termNew is null ? Array.Empty<string>() : [Reporting.Terms.OldFlag, termOld, Reporting.Terms.NewFlag, termNew]];
        var command = ToolInfo.ReproduceCommand(["start", settings.Range, "--paths", .. demo.Paths, "--recipe", recipe, "--repo", demo.Path, "--strategy", strategy, .. words]);
        // The demo shows everything Bisector can explain, so it profiles the boundary whenever heaptrack is here.
        var resolved = StartCommand.Resolve(settings, command);
        var run = await new RunEngine(log, progress).StartAsync(
            resolved with { Options = resolved.Options with { ProfileBoundary = Diagnosis.BoundaryProfiler.Available, Experiments = experiments, NoRevert = !revert } }, ct);
        return (demo, run);
    }

    /// <summary>The demo recipe ships inside the tool, so the demo needs no checkout of this repository. Every
    /// scenario uses it as it is; the fix scenario's run adds --find-fix.</summary>
    internal static async Task<string> WriteRecipeAsync(string repository, CancellationToken ct = default)
    {
        var path = Path.Combine(repository, "recipes", "demo-daemon.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, RecipeText(), ct);
        return path;
    }

    /// <summary>The shipped demo recipe.</summary>
    internal static string RecipeText()
    {
        using var resource = typeof(DemoCommand).Assembly.GetManifestResourceStream("Bisector.Demo.demo-daemon.yaml")
            ?? throw new InvalidOperationException("the embedded demo recipe is missing from the build");
        return new StreamReader(resource).ReadToEnd();
    }

    /// <summary>What <c>bisector demo</c> prints after the run, and its exit code.</summary>
    internal static async Task<int> ReportAsync(DemoRepository demo, RunSummary run, TextWriter output)
    {
        var exit = await StartCommand.PrintAsync(run, output);
        if (run.Diagnosis is { } diagnosis)
        {
            await output.WriteLineAsync($"diagnosis: {diagnosis}");
        }

        if (run.Experiments is { } experiments)
        {
            await output.WriteLineAsync($"diagnosis by experiment: {experiments}");
        }

        var outcome = run.Outcome;
        var known = $"the known {run.Terms.Answer} is {demo.CulpritSha[..10]} \"{demo.CulpritSubject}\"";
        // The answer is the first change (the scan may find one before the commit the search named).
        var answer = run.Model?.Changes?.Answer?.Position ?? (outcome is { Status: SearchStatus.Found, Culprit: { } p } ? p : null);
        var named = answer is { } a ? run.Line[a].Sha : null;
        var reported = run.Model?.Changes?.Changes.Select(c => run.Line[c.Position].Sha).ToHashSet() ?? [];
        var missed = demo.FurtherChangeShas.Where(sha => !reported.Contains(sha)).ToList();
        foreach (var sha in missed)
        {
            await output.WriteLineAsync($"demo: the known further change {sha[..10]} was not reported in 'Changes in this range'");
        }

        if (named == demo.CulpritSha && missed.Count == 0)
        {
            await output.WriteLineAsync($"demo: correct — {known}" +
                (demo.FurtherChangeShas.Count > 0 ? $", and the further change{(demo.FurtherChangeShas.Count > 1 ? "s" : "")} {string.Join(", ", demo.FurtherChangeShas.Select(sha => sha[..10]))} {(demo.FurtherChangeShas.Count > 1 ? "were" : "was")} reported too" : ""));
            return exit;
        }

        await output.WriteLineAsync($"demo: WRONG — {known}");
        return 1;
    }
}
