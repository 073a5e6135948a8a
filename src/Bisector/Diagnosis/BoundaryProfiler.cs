using System.Diagnostics;
using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Workers;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Diagnosis;

/// <summary>
/// Boundary profiling: runs the last good build and the culprit once each under heaptrack (recipe command, workload
/// and window as in a trial) and compares their allocation sites. Runs on this machine without the worker's cgroup and
/// namespaces — heaptrack's own bookkeeping would distort a memory limit anyway — so it is for explanation, never for
/// the verdict. Stacks have function names when the recipe's build keeps symbols (-g, frame pointers).
/// </summary>
public static class BoundaryProfiler
{
    private const string WorkerName = "boundary-profile";

    public static bool Available => Posix.Which("heaptrack") is not null && Posix.Which("heaptrack_print") is not null;

    public static async Task<string> CompareAsync(Recipe recipe, string goodArtifact, string badArtifact, Action<string> log, CancellationToken ct = default)
    {
        var work = Directory.CreateTempSubdirectory("bisector-prof-").FullName;
        try
        {
            log("boundary profile: heaptrack on the last good build");
            var good = BoundaryProfile.Parse(await PrintAsync(await RecordAsync(recipe, goodArtifact, work, "good", ct), ct));
            log("boundary profile: heaptrack on the culprit");
            var bad = BoundaryProfile.Parse(await PrintAsync(await RecordAsync(recipe, badArtifact, work, "bad", ct), ct));
            if (good.Count == 0 || bad.Count == 0)
                return "(no allocation sites recorded: is run.command a single command heaptrack can start, without a wrapper script?)";
            return BoundaryProfile.Compare(good, bad);
        }
        finally
        {
            Scratch.TryDelete(work);
        }
    }

    private static async Task<string> PrintAsync(string data, CancellationToken ct)
    {
        string[] args = ["-f", data, "-p", "1", "-a", "0", "-T", "1", "-n", "15", "-s", "1"];
        var result = await CliWrap.Cli.Wrap("heaptrack_print").WithArguments(args).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(ct);
        if (result.ExitCode != 0)
            throw new ProcessFailedException("heaptrack_print " + string.Join(' ', args), result.ExitCode, Environment.CurrentDirectory, ProcessFailedException.TailOf(result.StandardError));
        return result.StandardOutput;
    }

    /// <summary>Runs one build under heaptrack for warm-up + window with the workload, through the same trial loop as
    /// every worker (readiness, workload restarts, the window); returns the data file.</summary>
    private static async Task<string> RecordAsync(Recipe recipe, string artifact, string work, string side, CancellationToken ct)
    {
        var output = Path.Combine(work, side + ".heaptrack");
        // heaptrack slows start-up: the daemon gets 20 s more to become ready than in a trial.
        var profiled = recipe with { Run = recipe.Run with { Ready = recipe.Run.Ready is { } r ? r with { Timeout = r.Timeout + TimeSpan.FromSeconds(20) } : null } };
        var spec = new TrialSpec(new Commit(side, side, "", DateTimeOffset.UnixEpoch, []), new Artifact(side, recipe.Hash, artifact, side), profiled, 0, "profile-" + side);
        var result = await TrialLoop.RunAsync(new HeaptrackSandbox(spec, Path.Combine(work, side), output), spec, WorkerName, Environment.MachineName, ct: ct);
        if (result.Outcome is TrialOutcome.NotReady or TrialOutcome.WorkerFailed or TrialOutcome.Cancelled)
        {
            ct.ThrowIfCancellationRequested();
            throw new ProcessFailedException($"heaptrack -o {output} {recipe.Run.Command}", -1, artifact, result.Reason ?? result.Outcome.ToString());
        }

        return Directory.GetFiles(work, side + ".heaptrack.*").FirstOrDefault(f => !f.EndsWith(".pipe", StringComparison.Ordinal))
            ?? throw new ProcessFailedException($"heaptrack -o {output}", -1, artifact, "heaptrack wrote no data file; " + result.Reason);
    }

    /// <summary>The daemon under heaptrack on this machine, without cgroup or namespaces (nothing is sampled: the trial
    /// loop only paces readiness, workload and window).</summary>
    private sealed class HeaptrackSandbox(TrialSpec spec, string runDirectory, string output) : ITrialSandbox
    {
        private readonly OutputTail _daemonOutput = new();
        private readonly OutputTail _workloadOutput = new();
        private Process? _heaptrack;
        private Process? _workload;

        public string RunDirectory => runDirectory;

        public bool PrivateRoot => false;

        public Task<string?> HeapShimAsync(CancellationToken ct) => Task.FromResult<string?>(null);

        public Sampling.CgroupMemory? Cgroup => null;

        public Task StartDaemonAsync(IReadOnlyDictionary<string, string?> env, CancellationToken ct)
        {
            // heaptrack must start the daemon itself: under a shell its preload records the shell and not what the shell
            // execs. So the shell expands the recipe's command (its $VARIABLES and quoting) with heaptrack in front; this
            // fits a command that is one simple command, as run.command usually is.
            var withOutput = new Dictionary<string, string?>(env) { ["BISECTOR_PROFILE_OUTPUT"] = output };
            _heaptrack = Start(["-c", "exec heaptrack -o \"$BISECTOR_PROFILE_OUTPUT\" " + spec.Recipe.Run.Command], withOutput, _daemonOutput);
            return Task.CompletedTask;
        }

        public int? FindRoot(IReadOnlyDictionary<int, int?> parents) => _heaptrack?.Id;

        public Task<DaemonExit?> DaemonExitAsync(bool daemonSeen, CancellationToken ct) =>
            Task.FromResult(_heaptrack!.HasExited ? new DaemonExit(_heaptrack.ExitCode) : null);

        public Task StartWorkloadAsync(IReadOnlyDictionary<string, string?> env, int root, CancellationToken ct)
        {
            _workload?.Dispose();
            _workload = Start(["-c", spec.Recipe.Workload!.Command], env, _workloadOutput);
            return Task.CompletedTask;
        }

        public Task<int?> WorkloadExitAsync(CancellationToken ct) => Task.FromResult(_workload!.HasExited ? _workload.ExitCode : (int?)null);

        // No cgroups here: heaptrack profiles one run of the daemon on this host, outside any limit.
        public long WorkloadOomKills() => 0;

        public Task<string> DaemonOutputAsync(CancellationToken ct) => Task.FromResult(_daemonOutput.ToString());

        public Task<string> WorkloadOutputAsync(CancellationToken ct) => Task.FromResult(_workloadOutput.ToString());

        public async Task<IReadOnlyList<string>> CleanUpAsync(int? daemonPid)
        {
            if (_workload is { HasExited: false })
            {
                _workload.Kill(entireProcessTree: true);
            }

            _workload?.Dispose();
            if (_heaptrack is not null)
            {
                await StopDaemonAsync(_heaptrack, spec.Recipe.Run.StopTimeout);
                _heaptrack.Dispose();
            }

            return [];
        }

        private Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?> env, OutputTail tail) =>
            Posix.StartShell(WorkerName, spec.Artifact.Directory, args, env, tail).Process;
    }

    /// <summary>SIGTERM to the profiled daemon (heaptrack's child that is neither its interpreter nor its compressor), then wait for heaptrack
    /// to finish writing; SIGKILL to what is left of our process tree after the grace period.</summary>
    private static async Task StopDaemonAsync(Process heaptrack, TimeSpan grace)
    {
        // heaptrack's other children are its interpreter and the compressor writing the data file.
        foreach (var pid in Children(heaptrack.Id).Where(p => Posix.ReadComm(p) is { } c && !c.StartsWith("heaptrack", StringComparison.Ordinal)
                     && c is not ("zstd" or "gzip" or "bzip2" or "xz")))
            Posix.Kill(pid, Posix.SigTerm);
        using var wait = new CancellationTokenSource(grace + TimeSpan.FromSeconds(60));
        try
        {
            await heaptrack.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            heaptrack.Kill(entireProcessTree: true);
        }
    }

    private static IEnumerable<int> Children(int parent) =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && Posix.ReadParent(pid) == parent)
            .ToList();
}
