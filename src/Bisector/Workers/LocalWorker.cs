using System.Diagnostics;
using System.Globalization;
using Bisector.Recipes;
using Bisector.Sampling;

namespace Bisector.Workers;

/// <summary>
/// Runs trials on this machine: the daemon in its own memory cgroup (limited by the recipe) and private namespaces,
/// the workload in the same namespaces but a separate cgroup so its memory does not count, sampled from /proc and
/// the cgroup. Everything a trial creates (run directory, cgroups, processes) is removed when it ends, also on
/// cancellation.
/// </summary>
public sealed class LocalWorker(string name, string workRoot) : IWorker
{
    public string Name { get; } = name;

    public WorkerKind Kind => WorkerKind.Local;

    public string WorkRoot { get; } = Path.GetFullPath(workRoot);

    /// <summary>How long the workload gets to exit after SIGTERM before it is killed.</summary>
    public TimeSpan WorkloadStopTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Where trial cgroups are created instead of <c>bisector/</c> (a Slurm job nests them under its own cgroup).</summary>
    public string? CgroupParent { get; init; }

    /// <summary>A heap-counter shim the controller built and shipped (the trial agent on an SSH host or a Slurm node,
    /// which need no gcc); null compiles it on this machine on first use.</summary>
    public string? HeapShimLibrary { get; init; }

    private string Host => $"{Environment.MachineName}/{Name}";

    public async Task<WorkerCheck> CheckAsync(CancellationToken ct = default)
    {
        var findings = new List<string>();
        var ok = true;
        foreach (var tool in new[] { "unshare", "nsenter", "mount", "setsid" })
        {
            if (Posix.Which(tool) is { } path)
            {
                findings.Add($"{tool}: {path}");
            }
            else
            {
                ok = false;
                findings.Add($"{tool}: not found on PATH; install util-linux (apt-get install util-linux mount)");
            }
        }

        var version = CgroupMemory.DetectVersion();
        try
        {
            var probe = CgroupMemory.Create(Name, $"{TrialLoop.SafeName(Name)}-check-{Guid.NewGuid():N}", 64L << 20);
            findings.Add($"cgroup {version}: {CgroupMemory.ParentPath(version)} writable");
            if (!await probe.TryRemoveAsync(TimeSpan.FromSeconds(2), ct))
            {
                findings.Add($"cgroup {probe.Path}: created but could not be removed");
            }
        }
        catch (WorkerException e)
        {
            ok = false;
            findings.Add(e.Message);
        }

        try
        {
            Directory.CreateDirectory(WorkRoot);
            var free = new DriveInfo(WorkRoot).AvailableFreeSpace;
            var freeMiB = free >> 20;
            findings.Add(string.Create(CultureInfo.InvariantCulture, $"disk: {freeMiB} MiB free in {WorkRoot}"));
            if (free < 256L << 20)
            {
                ok = false;
                findings.Add($"disk: less than 256 MiB free in {WorkRoot}; free space or choose another work root");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ok = false;
            findings.Add($"work root {WorkRoot}: not usable ({e.Message}); choose a writable directory");
        }

        return new WorkerCheck(Name, ok, findings);
    }

    public Task<TrialResult> RunTrialAsync(TrialSpec spec, CancellationToken ct = default) => RunTrialAsync(spec, null, ct);

    /// <summary>Runs one trial; <paramref name="onSamples"/> sees each tick's new samples (the trial agent streams them).</summary>
    internal async Task<TrialResult> RunTrialAsync(TrialSpec spec, Action<List<Sample>, int>? onSamples, CancellationToken ct)
    {
        var unique = $"{TrialLoop.SafeName(Name)}-{TrialLoop.SafeName(spec.TrialKey)}-{Guid.NewGuid():N}";
        if (unique.Length > 100)
        {
            unique = $"{TrialLoop.SafeName(Name)}-{Guid.NewGuid():N}";
        }

        return await TrialLoop.RunAsync(new CgroupSandbox(this, spec, unique), spec, Name, Host, onSamples, ct);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>This machine's sandbox: the daemon in its own memory cgroup (limited by the recipe) and namespaces, the
    /// workload in a second cgroup inside the daemon's namespaces; both started through <see cref="TrialCommands"/>.</summary>
    private sealed class CgroupSandbox(LocalWorker worker, TrialSpec spec, string unique) : ITrialSandbox
    {
        private readonly OutputTail _daemonOutput = new();
        private readonly OutputTail _workloadOutput = new();
        private readonly List<Process> _workloads = [];
        private Task _daemonOutputEnded = Task.CompletedTask;
        private Task _workloadOutputEnded = Task.CompletedTask;
        private Process? _daemon;
        private CgroupMemory? _workloadCgroup;

        // Kept short: recipes put unix sockets in the run directory, and sun_path holds only 107 bytes.
        public string RunDirectory { get; } = Path.Combine(worker.WorkRoot, "runs", unique[^12..]);

        public bool PrivateRoot => TrialCommands.MountNamespace(Isolation);

        public async Task<string?> HeapShimAsync(CancellationToken ct) =>
            worker.HeapShimLibrary ?? await Diagnosis.HeapShim.EnsureBuiltAsync(worker.Name, ct: ct);

        public CgroupMemory? Cgroup { get; private set; }

        private IsolationSpec Isolation => spec.Recipe.Run.Isolation;

        public Task StartDaemonAsync(IReadOnlyDictionary<string, string?> env, CancellationToken ct)
        {
            Cgroup = CgroupMemory.Create(worker.Name, unique, spec.Recipe.Run.MemoryLimitBytes, parentPath: worker.CgroupParent);
            _workloadCgroup = spec.Recipe.Workload is null ? null : CgroupMemory.Create(worker.Name, unique + "-workload", null, parentPath: worker.CgroupParent);
            (_daemon, _daemonOutputEnded) = Start(TrialCommands.Daemon(Cgroup.ProcsFile, Isolation, spec.Recipe.Run.Command), env, _daemonOutput);
            return Task.CompletedTask;
        }

        // Without a PID namespace every wrapper exec's, so the started process already is the daemon's shell; with one
        // (unshare --fork) it is the cgroup member whose parent is the started process.
        public int? FindRoot(IReadOnlyDictionary<int, int?> parents) =>
            !Isolation.Pid ? _daemon!.Id
            : parents.FirstOrDefault(kv => kv.Value == _daemon!.Id).Key is var child and > 0 ? child : null;

        public async Task<DaemonExit?> DaemonExitAsync(bool daemonSeen, CancellationToken ct)
        {
            if (!_daemon!.HasExited)
            {
                return null;
            }

            await OutputTail.SettleAsync(_daemonOutputEnded);
            var code = _daemon.ExitCode;
            if (code == TrialCommands.PlumbingFailed || (!daemonSeen && _daemonOutput.ToString().Contains("unshare: ", StringComparison.Ordinal)))
            {
                throw new WorkerException(worker.Name, $"could not start the daemon in its cgroup and namespaces (exit code {code}):\n{_daemonOutput}",
                    "check unshare/mount work on this host (root, kernel namespaces enabled)");
            }

            return new DaemonExit(code);
        }

        public long WorkloadOomKills() => _workloadCgroup?.ReadOomKills() ?? 0;

        public Task StartWorkloadAsync(IReadOnlyDictionary<string, string?> env, int root, CancellationToken ct)
        {
            var args = TrialCommands.Workload(_workloadCgroup!.ProcsFile, Isolation, root.ToString(CultureInfo.InvariantCulture), spec.Artifact.Directory, spec.Recipe.Workload!.Command);
            var (process, ended) = Start(args, env, _workloadOutput);
            _workloads.Add(process);
            _workloadOutputEnded = ended;
            return Task.CompletedTask;
        }

        public async Task<int?> WorkloadExitAsync(CancellationToken ct)
        {
            var running = _workloads[^1];
            if (!running.HasExited)
            {
                return null;
            }

            await OutputTail.SettleAsync(_workloadOutputEnded);
            if (running.ExitCode == TrialCommands.PlumbingFailed)
            {
                throw new WorkerException(worker.Name, $"could not place the workload in its cgroup or the daemon's namespaces:\n{_workloadOutput}",
                    "check nsenter is installed and the cgroup hierarchy is writable");
            }

            return running.ExitCode;
        }

        public Task<string> DaemonOutputAsync(CancellationToken ct) => Task.FromResult(_daemonOutput.ToString());

        public Task<string> WorkloadOutputAsync(CancellationToken ct) => Task.FromResult(_workloadOutput.ToString());

        private (Process, Task OutputEnded) Start(List<string> args, IReadOnlyDictionary<string, string?> env, OutputTail tail) =>
            Posix.StartShell(worker.Name, spec.Artifact.Directory, args, env, tail);

        public async Task<IReadOnlyList<string>> CleanUpAsync(int? daemonPid)
        {
            var problems = new List<string>();
            if (_workloadCgroup is not null)
            {
                await StopGroupAsync(_workloadCgroup, null, worker.WorkloadStopTimeout);
            }

            if (Cgroup is not null)
            {
                await StopGroupAsync(Cgroup, daemonPid, spec.Recipe.Run.StopTimeout);
            }

            foreach (var process in _workloads.Append(_daemon).OfType<Process>())
            {
                if (!process.HasExited)
                {
                    // Not in a cgroup only if joining failed before exec; it is ours, so kill it by PID.
                    Posix.Kill(process.Id, Posix.SigKill);
                }

                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await process.WaitForExitAsync(wait.Token);
                }
                catch (OperationCanceledException)
                {
                    problems.Add($"process {process.Id} did not exit");
                }

                process.Dispose();
            }

            foreach (var cgroup in new[] { _workloadCgroup, Cgroup }.OfType<CgroupMemory>())
            {
                if (!await cgroup.TryRemoveAsync(TimeSpan.FromSeconds(5)))
                {
                    problems.Add($"cgroup {cgroup.Path} could not be removed");
                }
            }

            return problems;
        }

        private static async Task StopGroupAsync(CgroupMemory cgroup, int? mainPid, TimeSpan grace)
        {
            var members = cgroup.ReadProcesses();
            if (members.Count == 0)
            {
                return;
            }

            if (mainPid is { } pid && members.Contains(pid))
            {
                Posix.Kill(pid, Posix.SigTerm);
            }
            else
            {
                foreach (var member in members)
                {
                    Posix.Kill(member, Posix.SigTerm);
                }
            }

            if (await WaitEmptyAsync(cgroup, grace))
            {
                return;
            }

            // Killing repeatedly covers processes forked between reading cgroup.procs and signalling.
            for (var round = 0; round < 50; round++)
            {
                foreach (var member in cgroup.ReadProcesses())
                {
                    Posix.Kill(member, Posix.SigKill);
                }

                if (await WaitEmptyAsync(cgroup, TimeSpan.FromMilliseconds(100)))
                {
                    return;
                }
            }
        }

        private static async Task<bool> WaitEmptyAsync(CgroupMemory cgroup, TimeSpan timeout)
        {
            var deadline = Stopwatch.StartNew();
            while (cgroup.ReadProcesses().Count > 0)
            {
                if (deadline.Elapsed >= timeout)
                {
                    return false;
                }

                await Task.Delay(20);
            }

            return true;
        }
    }
}
