using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Git;

/// <summary>
/// The one place Bisector starts git: argv only (never shell text), stdout and stderr buffered, the exit code left
/// to the caller, which knows whether a failure is the user's range, the user's pathspec or a broken repository.
/// </summary>
internal static class GitCli
{
    public static async Task<BufferedCommandResult> TryRunAsync(string workingDir, IReadOnlyList<string> args, CancellationToken ct = default)
    {
        // A folder that is gone (a moved checkout, a stored run read elsewhere) is a failed git call like any other,
        // answered as git's own `-C` would, not an exception from process start.
        if (!Directory.Exists(workingDir))
        {
            var now = DateTimeOffset.UtcNow;
            return new BufferedCommandResult(128, now, now, "", $"fatal: cannot change to '{workingDir}': No such file or directory");
        }

        return await Git(workingDir, args).ExecuteBufferedAsync(ct);
    }

    /// <summary>
    /// Runs <c>git FROM… | git TO…</c> (the bytes piped unchanged, as a shell pipe would) and returns the second
    /// command's result; a failure of the first is reported as the second's, with the first's stderr.
    /// </summary>
    public static async Task<BufferedCommandResult> TryPipeAsync(string workingDir, IReadOnlyList<string> from, IReadOnlyList<string> to, CancellationToken ct = default)
    {
        var firstErrors = new System.Text.StringBuilder();
        var result = await (Git(workingDir, from).WithStandardErrorPipe(PipeTarget.ToStringBuilder(firstErrors)) | Git(workingDir, to))
            .ExecuteBufferedAsync(ct);
        return firstErrors.Length == 0 || result.ExitCode == 0
            ? result
            : new BufferedCommandResult(result.ExitCode, result.StartTime, result.ExitTime, result.StandardOutput, firstErrors + result.StandardError);
    }

    private static Command Git(string workingDir, IReadOnlyList<string> args) =>
        CliWrap.Cli.Wrap("git")
            .WithArguments(args)
            .WithWorkingDirectory(workingDir)
            // No prompt for credentials or editors: a walk that waits on a terminal would hang a run.
            .WithEnvironmentVariables(e => e.Set("GIT_TERMINAL_PROMPT", "0").Set("GIT_OPTIONAL_LOCKS", "0"))
            .WithValidation(CommandResultValidation.None);

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
