using System.CommandLine;
using Bisector.Workers;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector slurm-job DIR</c>: what a Slurm trial job runs on its node (see <see cref="SlurmWorker"/>). Hidden: users
/// never call it; the slurm worker writes DIR and submits a script that does.
/// </summary>
internal static class SlurmJobCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("dir") { Description = "Job directory holding trial.json; result.json is written there" };
        var command = new Command("slurm-job", "Run one trial inside a Slurm job (used by the slurm worker)") { directory };
        command.Hidden = true;
        command.SetAction((parse, ct) => App.GuardAsync(() => SlurmJob.RunAsync(parse.GetValue(directory)!, ct)));
        return command;
    }
}
