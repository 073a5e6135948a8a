using Bisector.Reporting;
using Spectre.Console;

namespace Bisector.Cli;

/// <summary>Long work draws live progress bars on standard error when it is a terminal, plain lines otherwise, so
/// standard output keeps only the verdict for scripts.</summary>
internal static class Progress
{
    public static Task<T> RunAsync<T>(Func<RunProgress, Task<T>> work) =>
        RunProgress.RunAsync(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }), work);
}
