using System.CommandLine;
using Bisector.Runs;
using Bisector.Storage;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector clean [RUN]</c>: removes what dead runs left behind (daemons, cgroups, worktrees, temporary folders),
/// found by run id. Runs another live process owns are never touched. Stored results are never deleted.
/// </summary>
internal static class CleanCommand
{
    public static Command Create()
    {
        var results = CommonOptions.Results();
        var run = new Argument<string?>("run") { Description = "Run id or a unique prefix of it (default: every run not owned by a live process)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("clean", "Remove leftovers (daemons, cgroups, worktrees, temp folders) of runs whose process died; results are kept") { run, results };
        command.SetAction((parse, ct) => App.GuardAsync(() => ExecuteAsync(ResultsLocation.Resolve(parse.GetValue(results)), parse.GetValue(run), Console.Out, ct)));
        return command;
    }

    public static async Task<int> ExecuteAsync(string resultsDirectory, string? runId, TextWriter output, CancellationToken ct = default)
    {
        await using var store = await ResultsLocation.OpenExistingAsync(resultsDirectory, ct);
        IReadOnlyList<RunRow> runs = runId is null
            ? await store.ListRunsAsync(ct)
            : [await store.GetRunAsync(runId, ct) ?? throw new StorageException($"no run '{runId}' in {store.Path}", "List runs with 'bisector status --list'")];
        foreach (var run in runs)
        {
            if (runId is null && await store.GetOwnerAsync(run.Id, ct) is { } owner && RunJanitor.IsAlive(owner))
            {
                await output.WriteLineAsync($"run {run.Id}: skipped, process {owner.Pid} is running it");
                continue;
            }

            var cleanup = await RunJanitor.CleanAsync(store, run, ct);
            if (cleanup.FoundAnything || runId is not null)
            {
                await output.WriteLineAsync(cleanup.Describe());
            }
        }

        return 0;
    }
}
