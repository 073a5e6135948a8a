using System.CommandLine;
using Bisector.Diagnosis;
using Bisector.Runs;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector diagnose [RUN]</c>: diagnosis by experiment for a finished run that named a culprit — the culprit and its
/// good neighbour (from the artifact cache) run again under other allocators, glibc tunables and a trim probe, on the
/// run's workers or <c>--workers</c>; the trials are stored with the run and the report is rewritten.
/// </summary>
internal static class DiagnoseCommand
{
    public static Command Create()
    {
        var run = CommonOptions.RunId();
        var results = CommonOptions.Results();
        var workers = new Option<string[]>("--workers") { Description = "Workers for the experiments (default: the run's own)", AllowMultipleArgumentsPerToken = true };
        var only = new Option<string[]>("--only")
        {
            Description = "Experiments to run, comma-separated: " + string.Join(", ", Experiment.All.Select(e => e.Name)) + " (default: all)",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("diagnose", "Run the culprit and its good neighbour under other allocators, glibc tunables and a trim probe, and say what changed")
        {
            run, results, workers, only,
        };
        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var experiments = Experiment.Select(parse.GetValue(only) ?? [], "--only");
            var resultsDirectory = ResultsLocation.Resolve(parse.GetValue(results));
            await using var store = await ResultsLocation.OpenExistingAsync(resultsDirectory, ct);
            var (stored, recipe, runOptions, outcome, positions) = await CulpritRun.LoadAsync(store, parse.GetValue(run), parse.GetValue(workers) ?? [], "diagnose", ct);
            var report = await RunEngine.RunExperimentsAsync(store, stored.Id, runOptions, recipe, positions, outcome, experiments,
                line => Console.Error.WriteLine(line), ct);
            var path = await ReportAssembler.WriteAsync(store, stored.Id, Path.Combine(resultsDirectory, stored.Id), ct);
            if (report is null)
            {
                await Console.Error.WriteLineAsync($"diagnose: run {stored.Id} has no measured good neighbour of its culprit, so there is nothing to compare");
                return 1;
            }

            await Console.Out.WriteLineAsync(report.Describe());
            await Console.Out.WriteLineAsync(path);
            return 0;
        }));
        return command;
    }
}
