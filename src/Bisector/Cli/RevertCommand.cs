using System.CommandLine;
using Bisector.Runs;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector revert [RUN]</c>: the revert proof for a finished run that named a culprit (a run made with
/// <c>--no-revert</c>, or before revert proofs existed, or again after the artifact cache was cleared): the bad end is
/// built with the culprit reverted, measured on the run's workers (or <c>--workers</c>) against the run's own trials of
/// both ends, stored with the run, and the report is rewritten.
/// </summary>
internal static class RevertCommand
{
    public static Command Create()
    {
        var run = CommonOptions.RunId();
        var results = CommonOptions.Results();
        var workers = new Option<string[]>("--workers") { Description = "Workers for the reverted build's trials (default: the run's own)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("revert", "Build the bad end with the named culprit reverted and measure how much of the regression that removes")
        {
            run, results, workers,
        };
        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var resultsDirectory = ResultsLocation.Resolve(parse.GetValue(results));
            await using var store = await ResultsLocation.OpenExistingAsync(resultsDirectory, ct);
            var (stored, recipe, options, outcome, positions) = await CulpritRun.LoadAsync(store, parse.GetValue(run), parse.GetValue(workers) ?? [], "revert", ct);
            var runOptions = options with { ResultsDirectory = resultsDirectory };
            var report = await RunEngine.RunRevertAsync(store, stored.Id, runOptions, recipe, positions, outcome, line => Console.Error.WriteLine(line), ct);
            var path = await ReportAssembler.WriteAsync(store, stored.Id, Path.Combine(resultsDirectory, stored.Id), ct);
            await Console.Out.WriteLineAsync(path);
            if (report is null)
            {
                await Console.Error.WriteLineAsync($"revert: run {stored.Id} has no revert proof to show");
                return 1;
            }

            await Console.Out.WriteLineAsync("revert proof: " + report.Headline);
            return report.Status == Storage.RevertStatus.Built && report.Estimate is not null ? 0 : 1;
        }));
        return command;
    }
}
