using System.CommandLine;

namespace Bisector.Cli;

/// <summary><c>bisector export [RUN] --csv [FILE]</c>: every raw sample of a run as CSV.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var results = CommonOptions.Results();
        var run = CommonOptions.RunId();
        var csv = new Option<string?>("--csv") { Description = "Write CSV to this file ('-' or omitted: standard output)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("export", "Export every raw sample of a run as CSV") { run, results, csv };
        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            await using var store = await ResultsLocation.OpenExistingAsync(ResultsLocation.Resolve(parse.GetValue(results)), ct);
            var row = await store.GetRunAsync(parse.GetValue(run), ct)
                ?? throw new StorageException("no such run", "List runs with 'bisector status --list'");
            var target = parse.GetValue(csv);
            if (string.IsNullOrEmpty(target) || target == "-")
            {
                await store.ExportCsvAsync(row.Id, Console.Out, ct);
            }
            else
            {
                await using var writer = new StreamWriter(target);
                await store.ExportCsvAsync(row.Id, writer, ct);
                await Console.Error.WriteLineAsync($"wrote {Path.GetFullPath(target)}");
            }

            return 0;
        }));
        return command;
    }
}
