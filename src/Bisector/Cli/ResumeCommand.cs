using System.CommandLine;
using Bisector.Runs;

namespace Bisector.Cli;

/// <summary><c>bisector resume [RUN]</c>: continues an interrupted run, re-doing only unfinished work.</summary>
internal static class ResumeCommand
{
    public static Command Create()
    {
        var results = CommonOptions.Results();
        var run = CommonOptions.RunId();
        var json = CommonOptions.Json();
        var command = new Command("resume", "Continue an interrupted run from the database; completed builds and trials are kept") { run, results, json };
        command.SetAction((parse, ct) => App.GuardAsync(async () =>
        {
            var summary = await Progress.RunAsync(progress =>
                new RunEngine(progress.Note, progress).ResumeAsync(ResultsLocation.Resolve(parse.GetValue(results)), parse.GetValue(run), ct));
            return await StartCommand.PrintAsync(summary, Console.Out, parse.GetValue(json), ct);
        }));
        return command;
    }
}
