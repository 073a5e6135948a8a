using System.CommandLine;
using Bisector.Workers;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector trial-agent FILE</c> / <c>bisector trial-agent --job DIR</c>: the far side of the SSH and Slurm workers
/// (see <see cref="TrialAgent"/>). Hidden: users never call it; the workers ship it and start it.
/// </summary>
internal static class TrialAgentCommand
{
    public static Command Create()
    {
        var request = new Argument<string?>("request") { Description = "A trial request (JSON); samples and the result are streamed on stdout", Arity = ArgumentArity.ZeroOrOne };
        var job = new Option<string?>("--job") { Description = "A Slurm job directory holding trial.json; result.json is written there" };
        var command = new Command("trial-agent", "Run one trial on this host for a remote worker (SSH, Slurm)") { request, job };
        command.Hidden = true;
        command.SetAction((parse, ct) => App.GuardAsync(() => parse.GetValue(job) is { } dir
            ? TrialAgent.RunJobAsync(dir, ct)
            : parse.GetValue(request) is { } file
                ? TrialAgent.StreamAsync(file, ct)
                : throw new UsageException("trial-agent", "give a request file or --job DIR", "it is started by the ssh and slurm workers, not by hand")));
        return command;
    }
}
