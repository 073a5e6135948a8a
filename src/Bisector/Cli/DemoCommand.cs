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
        var scenario = new Option<string>("--scenario") { Description = "fragmentation (default: realloc-shrink heap fragmentation), leak, static-table, fix (the fragmentation is in the good release and a later commit fixes it: decide.direction decrease), or two-changes (a 16 MiB level step, then later a leak: both must be reported, the step as the answer)", DefaultValueFactory = _ => "fragmentation" };
        var strategy = new Option<string>("--strategy") { Description = "bisect, kary or exhaustive", DefaultValueFactory = _ => "bisect" };
        var workers = new Option<string[]>("--workers") { Description = "Workers (default local:2)", AllowMultipleArgumentsPerToken = true };
        var results = CommonOptions.Results();
        var experiments = new Option<bool>("--experiments")
        {
            Description = "After the verdict, run the culprit and its good neighbour again under other allocators, glibc tunables and a trim probe",
        };
        var command = new Command("demo", "Generate a demo repository with a known regression, bisect it, and print the verdict and report path")
        {
            directory, scenario, strategy, workers, results, experiments,
        };
        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var kind = parse.GetValue(scenario)!.Replace("-", string.Empty, StringComparison.Ordinal);
            if (!Enum.TryParse<DemoScenario>(kind, ignoreCase: true, out var chosen) || int.TryParse(kind, out _))
            {
                throw new UsageException("--scenario", $"'{parse.GetValue(scenario)}' is not a demo scenario", "Use fragmentation, leak, static-table, fix or two-changes");
            }

            var folder = parse.GetValue(directory) ?? Directory.CreateTempSubdirectory("bisector-demo-").FullName;
            var summary = await Progress.RunAsync(progress => RunAsync(
                folder, chosen, parse.GetValue(strategy)!, parse.GetValue(workers) ?? [], ResultsLocation.Resolve(parse.GetValue(results)), progress.Note, progress,
                parse.GetValue(experiments), ct));
            return await ReportAsync(summary.Demo, summary.Run, Console.Out);
        }));
        return command;
    }

    public static async Task<(DemoRepository Demo, RunSummary Run)> RunAsync(
        string folder, DemoScenario scenario, string strategy, IReadOnlyList<string> workers, string resultsDirectory, Action<string> log,
        Reporting.RunProgress? progress = null, bool experiments = false, CancellationToken ct = default)
    {
        log($"generating the demo repository ({scenario}) in {folder}");
        var demo = await DemoRepository.CreateAsync(folder, scenario, ct);
        var recipe = await WriteRecipeAsync(demo.Path, scenario, ct);
        var settings = new StartCommand.Settings(
            $"{demo.GoodRef}..{demo.BadRef}", [.. demo.Paths], recipe, [.. workers.DefaultIfEmpty("local:2")], strategy,
            null, null, null, null, null, null, resultsDirectory, demo.Path, null, false, false, false);
        var command = ToolInfo.ReproduceCommand(["start", settings.Range, "--paths", .. demo.Paths, "--recipe", recipe, "--repo", demo.Path, "--strategy", strategy]);
        // The demo shows everything Bisector can explain, so it profiles the boundary whenever heaptrack is here.
        var resolved = StartCommand.Resolve(settings, command);
        var run = await new RunEngine(log, progress).StartAsync(
            resolved with { Options = resolved.Options with { ProfileBoundary = Diagnosis.BoundaryProfiler.Available, Experiments = experiments } }, ct);
        return (demo, run);
    }

    /// <summary>The demo recipe ships inside the tool, so the demo needs no checkout of this repository.</summary>
    internal static async Task<string> WriteRecipeAsync(string repository, DemoScenario scenario = DemoScenario.Fragmentation, CancellationToken ct = default)
    {
        var path = Path.Combine(repository, "recipes", "demo-daemon.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, RecipeText(scenario), ct);
        return path;
    }

    /// <summary>The shipped demo recipe; for <see cref="DemoScenario.Fix"/> it looks for a decrease, since the known
    /// commit lowers memory.</summary>
    internal static string RecipeText(DemoScenario scenario)
    {
        using var resource = typeof(DemoCommand).Assembly.GetManifestResourceStream("Bisector.Demo.demo-daemon.yaml")
            ?? throw new InvalidOperationException("the embedded demo recipe is missing from the build");
        var yaml = new StreamReader(resource).ReadToEnd();
        const string Increase = "  direction: increase\n";
        if (scenario != DemoScenario.Fix)
            return yaml;
        var at = yaml.IndexOf(Increase, StringComparison.Ordinal);
        if (at < 0 || yaml.IndexOf(Increase, at + 1, StringComparison.Ordinal) >= 0)
            throw new InvalidOperationException("the embedded demo recipe must hold 'direction: increase' exactly once");
        return string.Concat(yaml.AsSpan(0, at), "  direction: decrease     # the fix scenario: the known commit lowers memory\n", yaml.AsSpan(at + Increase.Length));
    }

    private static async Task<int> ReportAsync(DemoRepository demo, RunSummary run, TextWriter output)
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
            await output.WriteLineAsync($"demo: correct — the known culprit is {demo.CulpritSha[..10]} \"{demo.CulpritSubject}\"" +
                (demo.FurtherChangeShas.Count > 0 ? $", and the further change{(demo.FurtherChangeShas.Count > 1 ? "s" : "")} {string.Join(", ", demo.FurtherChangeShas.Select(sha => sha[..10]))} {(demo.FurtherChangeShas.Count > 1 ? "were" : "was")} reported too" : ""));
            return exit;
        }

        await output.WriteLineAsync($"demo: WRONG — the known culprit is {demo.CulpritSha[..10]} \"{demo.CulpritSubject}\"");
        return 1;
    }
}
