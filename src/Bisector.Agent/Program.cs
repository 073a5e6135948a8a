using System.Reflection;
using System.Runtime.InteropServices;
using Bisector.Workers;

namespace Bisector.Agent;

/// <summary>
/// <c>bisector-agent trial-agent FILE</c> / <c>bisector-agent trial-agent --job DIR</c> / <c>bisector-agent --version</c>:
/// the far side of the SSH and Slurm workers (see <see cref="TrialAgent"/>). Users never call it; the workers ship it
/// and start it. No command-line library: three fixed forms, and every type pulled in costs start-up and size.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        using var stop = new CancellationTokenSource();
        // The controller sends SIGTERM to cancel a trial: stop it and clean up (never let the runtime exit first).
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        void Cancel(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        try
        {
            return args switch
            {
                ["--version"] => Version(),
                ["trial-agent", "--job", var dir] => await TrialAgent.RunJobAsync(dir, stop.Token),
                ["trial-agent", var file] when !file.StartsWith('-') => await TrialAgent.StreamAsync(file, stop.Token),
                _ => throw new UsageException("trial-agent", $"unknown arguments '{string.Join(' ', args)}'; expected 'trial-agent FILE', 'trial-agent --job DIR' or '--version'",
                    "it is started by the ssh and slurm workers, not by hand"),
            };
        }
        catch (BisectorException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return e.ExitCode;
        }
    }

    private static int Version()
    {
        Console.WriteLine(typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0");
        return 0;
    }
}
