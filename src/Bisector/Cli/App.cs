using System.CommandLine;

namespace Bisector.Cli;

/// <summary>The command line: one class per verb, each with its own options, validation and execution.</summary>
public static class App
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Bisector: find the commit that made a daemon's memory regress, with statistics you can defend.")
        {
            DemoCommand.Create(),
            InitCommand.Create(),
            RecipeCommand.Create(),
            StartCommand.Create(),
            ResumeCommand.Create(),
            StatusCommand.Create(),
            ReportCommand.Create(),
            DiagnoseCommand.Create(),
            ExportCommand.Create(),
            WorkersCommand.Create(),
            BenchCommand.Create(),
            CleanCommand.Create(),
        };
        using var interrupts = new Interrupts();
        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, interrupts.Token);
    }

    /// <summary>The one place failures become exit codes: typed errors print their message, never a stack trace.</summary>
    internal static async Task<int> GuardAsync(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (BisectorException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("stopped: the run was cancelled; what was measured is kept (bisector resume continues it)");
            return 130;
        }
    }
}
