using System.Runtime.InteropServices;
using Bisector.Runs;

namespace Bisector.Cli;

/// <summary>
/// Ctrl+C / SIGTERM, wired once for every verb. The first signal cancels the command's token: trials stop their
/// daemons and workloads, the run is marked interrupted and can be resumed. A second signal forces: the daemons of the
/// runs in this process are killed at once and the process exits 130; 'bisector resume' or 'bisector clean' removes the
/// rest. System.CommandLine's own handling is switched off because it returns after two seconds whether or not the
/// graceful stop has finished, which would cut clean-up short.
/// </summary>
internal sealed class Interrupts : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _count;

    public Interrupts()
    {
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal));
        }
    }

    public CancellationToken Token => _cancel.Token;

    private void OnSignal(PosixSignalContext context)
    {
        // Never let the runtime terminate the process on its own: both paths below decide how it ends.
        context.Cancel = true;
        if (Interlocked.Increment(ref _count) == 1)
        {
            Console.Error.WriteLine($"{context.Signal}: stopping gracefully (daemons and workloads are being stopped); press Ctrl+C again to force");
            _ = Task.Run(_cancel.Cancel);
            return;
        }

        Console.Error.WriteLine($"{context.Signal} again: forcing — killing this run's daemons now; 'bisector resume' or 'bisector clean' removes what is left");
        RunJanitor.KillActiveNow();
        Building.BuildPriority.KillAllNow();
        Environment.Exit(130);
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _cancel.Dispose();
    }
}
