using System.CommandLine;
using Bisector.Runs;

namespace Bisector.Cli;

/// <summary><c>bisector report [RUN]</c>: (re)writes a run's report from the database — finished, interrupted, or copied
/// from another machine — and prints its path.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var results = CommonOptions.Results();
        var run = CommonOptions.RunId();
        var output = new Option<string?>("--output") { Description = "Folder to write the report into (default: <results>/<run-id>/)" };
        var rediagnose = new Option<bool>("--rediagnose")
        {
            Description = "Classify the culprit's memory effect again with this version (from the stored trials; nothing is re-run) before writing",
        };
        var json = CommonOptions.Json();
        var command = new Command("report", "Write the report of a run and print its path") { run, results, output, rediagnose, json };
        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var resultsDirectory = ResultsLocation.Resolve(parse.GetValue(results));
            await using var store = await ResultsLocation.OpenExistingAsync(resultsDirectory, ct);
            var row = await store.GetRunAsync(parse.GetValue(run), ct)
                ?? throw new StorageException("no such run", "List runs with 'bisector status --list'");
            if (parse.GetValue(rediagnose))
            {
                var diagnosis = await ReportAssembler.RediagnoseAsync(store, row.Id, line => Console.Error.WriteLine(line), ct);
                var terms = ReportAssembler.TermsOf(row);
                await Console.Error.WriteLineAsync(diagnosis is null
                    ? $"report: run {row.Id} named no single {terms.Answer}, so there is nothing to diagnose"
                    : $"diagnosis: {terms.Speak(diagnosis.Headline)}");
            }
            var directory = parse.GetValue(output) ?? Path.Combine(resultsDirectory, row.Id);
            var (path, model) = await ReportAssembler.WriteWithModelAsync(store, row.Id, directory, ct);
            await Console.Out.WriteLineAsync(parse.GetValue(json) ? RunResultJson.Render(model, directory) : path);
            return 0;
        }));
        return command;
    }
}
