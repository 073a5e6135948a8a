namespace Bisector;

/// <summary>
/// The one exception type the command boundary catches. Each subclass carries the data a user needs
/// to act on the failure; the message always says what is wrong and how to fix it.
/// </summary>
public abstract class BisectorException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Process exit code the CLI maps this failure to.</summary>
    public abstract int ExitCode { get; }
}

/// <summary>A flag or argument on the command line is wrong.</summary>
public sealed class UsageException(string option, string problem, string fix)
    : BisectorException($"{option}: {problem}. {fix}")
{
    public string Option { get; } = option;
    public override int ExitCode => 2;
}

/// <summary>A configuration or recipe file is wrong; names the file and, when known, the line.</summary>
public sealed class ConfigException(string file, int? line, string problem, string fix)
    : BisectorException(line is { } l ? $"{file}:{l}: {problem}. {fix}" : $"{file}: {problem}. {fix}")
{
    public string File { get; } = file;
    public int? Line { get; } = line;
    public override int ExitCode => 3;
}

/// <summary>Git could not resolve what was asked (unknown ref, empty range, pathspec matching nothing).</summary>
public sealed class GitSelectionException(string problem, string fix)
    : BisectorException($"{problem}. {fix}")
{
    public override int ExitCode => 4;
}

/// <summary>A process Bisector started failed in a way that stops the run (not a per-commit build failure).</summary>
public sealed class ProcessFailedException(string commandLine, int exitCode, string workingDirectory, string stderrTail)
    : BisectorException(
        $"Command failed with exit code {exitCode}: {commandLine}{Environment.NewLine}" +
        $"  in {workingDirectory}{Environment.NewLine}" +
        $"  stderr (tail):{Environment.NewLine}{stderrTail}")
{
    public string CommandLine { get; } = commandLine;
    public int ProcessExitCode { get; } = exitCode;
    public string WorkingDirectory { get; } = workingDirectory;
    public string StderrTail { get; } = stderrTail;
    public override int ExitCode => 5;

    /// <summary>The last <paramref name="lines"/> lines of a process's output, as a failure quotes them.</summary>
    public static string TailOf(string output, int lines = 20) => string.Join('\n', output.TrimEnd().Split('\n').TakeLast(lines));
}

/// <summary>The results database or a run in it is missing or unusable.</summary>
public sealed class StorageException(string problem, string fix, Exception? inner = null)
    : BisectorException($"{problem}. {fix}", inner)
{
    public override int ExitCode => 6;
}

/// <summary>A worker cannot be used (unreachable, cgroup not writable, tool missing).</summary>
public sealed class WorkerException(string worker, string problem, string fix, Exception? inner = null)
    : BisectorException($"worker {worker}: {problem}. {fix}", inner)
{
    public string Worker { get; } = worker;
    public override int ExitCode => 7;
}
