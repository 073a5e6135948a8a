using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Git;

/// <summary>
/// The one place Bisector starts git: argv only (never shell text), stdout and stderr buffered, the exit code left
/// to the caller, which knows whether a failure is the user's range, the user's pathspec or a broken repository.
/// </summary>
internal static class GitCli
{
    public static async Task<BufferedCommandResult> TryRunAsync(string workingDir, IReadOnlyList<string> args, CancellationToken ct = default) =>
        await CliWrap.Cli.Wrap("git")
            .WithArguments(args)
            .WithWorkingDirectory(workingDir)
            // No prompt for credentials or editors: a walk that waits on a terminal would hang a run.
            .WithEnvironmentVariables(e => e.Set("GIT_TERMINAL_PROMPT", "0").Set("GIT_OPTIONAL_LOCKS", "0"))
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(ct);

    /// <summary>Runs git and returns its stdout; a non-zero exit is a <see cref="ProcessFailedException"/>.</summary>
    public static async Task<string> RunAsync(string workingDir, IReadOnlyList<string> args, CancellationToken ct = default)
    {
        var result = await TryRunAsync(workingDir, args, ct);
        if (result.ExitCode != 0)
            throw new ProcessFailedException("git " + string.Join(' ', args), result.ExitCode, workingDir, StderrTail(result));
        return result.StandardOutput;
    }

    /// <summary>The last lines of git's stderr, without git's "fatal: " prefixes.</summary>
    public static string StderrTail(BufferedCommandResult result, int lines = 10) =>
        string.Join(Environment.NewLine, result.StandardError
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.StartsWith("fatal: ", StringComparison.Ordinal) ? l["fatal: ".Length..] : l)
            .TakeLast(lines));
}
