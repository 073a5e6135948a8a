using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Bisector.Recipes;
using Bisector.Sampling;

namespace Bisector.Workers;

/// <summary>
/// Runs trials on this machine: the daemon in its own memory cgroup (limited by the recipe) and private namespaces,
/// the workload in the same namespaces but a separate cgroup so its memory does not count, sampled from /proc and
/// the cgroup. Everything a trial creates (run directory, cgroups, processes) is removed when it ends, also on
/// cancellation.
/// </summary>
public sealed partial class LocalWorker(string name, string workRoot) : IWorker
{
    public string Name { get; } = name;

    public WorkerKind Kind => WorkerKind.Local;

    public string WorkRoot { get; } = Path.GetFullPath(workRoot);

    /// <summary>How long the workload gets to exit after SIGTERM before it is killed.</summary>
    public TimeSpan WorkloadStopTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Where trial cgroups are created instead of <c>bisector/</c> (a Slurm job nests them under its own cgroup).</summary>
    public string? CgroupParent { get; init; }

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
            var probe = CgroupMemory.Create(Name, $"{Sanitize(Name)}-check-{Guid.NewGuid():N}", 64L << 20);
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

    public async Task<TrialResult> RunTrialAsync(TrialSpec spec, CancellationToken ct = default)
    {
        var startedAt = DateTimeOffset.Now;
        var unique = $"{Sanitize(Name)}-{Sanitize(spec.TrialKey)}-{Guid.NewGuid():N}";
        if (unique.Length > 100)
        {
            unique = $"{Sanitize(Name)}-{Guid.NewGuid():N}";
        }

        var trial = new Trial(this, spec, unique);
        try
        {
            var (outcome, reason) = await trial.RunAsync(ct);
            var leftovers = await trial.CleanUpAsync();
            if (leftovers is not null)
            {
                reason = reason is null ? leftovers : $"{reason}\n{leftovers}";
            }

            return new TrialResult(outcome, reason, trial.Samples, startedAt, DateTimeOffset.Now, Host);
        }
        catch (WorkerException e)
        {
            await trial.CleanUpAsync();
            return new TrialResult(TrialOutcome.WorkerFailed, e.Message, trial.Samples, startedAt, DateTimeOffset.Now, Host);
        }
        catch
        {
            await trial.CleanUpAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    internal static string Sanitize(string text) => SafeName().Replace(text, "_");

    [GeneratedRegex("[^A-Za-z0-9_.-]")]
    private static partial Regex SafeName();

    [GeneratedRegex(@"\$(?:\{(\w+)\}|(\w+))")]
    private static partial Regex EnvReference();

    /// <summary>Expands $VAR / ${VAR} from the trial environment, for paths Bisector itself checks (the ready file).</summary>
    internal static string Expand(string text, IReadOnlyDictionary<string, string?> env) =>
        EnvReference().Replace(text, m =>
        {
            var key = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
            return env.TryGetValue(key, out var value) ? value ?? "" : Environment.GetEnvironmentVariable(key) ?? "";
        });

    /// <summary>One trial's state; everything it starts is recorded here so clean-up can find it.</summary>
    private sealed class Trial(LocalWorker worker, TrialSpec spec, string unique)
    {
        private readonly OutputTail _daemonOutput = new();
        private readonly OutputTail _workloadOutput = new();
        private readonly List<Process> _workloads = [];
        private readonly Stopwatch _clock = new();
        private Process? _daemon;
        private CgroupMemory? _daemonCgroup;
        private CgroupMemory? _workloadCgroup;
        private string? _runDir;
        private int? _rootPid;
        private int? _daemonPid;
        private bool _daemonSettled;
        private bool _cleaned;

        public List<Sample> Samples { get; } = [];

        private Recipe Recipe => spec.Recipe;

        private IsolationSpec Isolation => Recipe.Run.Isolation;

        private bool MountNamespace => TrialCommands.MountNamespace(Isolation);

        public async Task<(TrialOutcome, string?)> RunAsync(CancellationToken ct)
        {
            try
            {
                return await RunCoreAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return (TrialOutcome.Cancelled, "cancelled; the daemon, workload, cgroups and run directory were removed");
            }
        }

        private async Task<(TrialOutcome, string?)> RunCoreAsync(CancellationToken ct)
        {
            var env = PrepareRunDirectory();
            var interval = Recipe.Sampling.Interval > TimeSpan.Zero ? Recipe.Sampling.Interval : TimeSpan.FromMilliseconds(100);
            var daemonEnv = new Dictionary<string, string?>(env);
            string? heapFile = null;
            if (Recipe.Sampling.HeapCounters)
            {
                // The shim publishes as often as we sample, but at most every 100 ms: mallinfo2() walks the free
                // lists under the arena lock (~1 ms on a busy heap, docs/benchmarks-diagnosis.md), so faster would
                // cost the daemon more than 1% CPU.
                heapFile = Path.Combine(_runDir!, "heapstats");
                daemonEnv["BISECTOR_HEAP_PRELOAD"] = await Diagnosis.HeapShim.EnsureBuiltAsync(worker.Name, ct: ct);
                daemonEnv[Diagnosis.HeapShim.FileEnv] = heapFile;
                daemonEnv[Diagnosis.HeapShim.IntervalEnv] = Math.Max(100, (long)interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            }

            _daemonCgroup = CgroupMemory.Create(worker.Name, unique, Recipe.Run.MemoryLimitBytes, parentPath: worker.CgroupParent);
            _workloadCgroup = Recipe.Workload is null ? null : CgroupMemory.Create(worker.Name, unique + "-workload", null, parentPath: worker.CgroupParent);

            // An empty sampling.metrics list means "everything"; the deciding metric is always recorded.
            var metrics = Recipe.Sampling.Metrics.Count == 0 ? [] : new HashSet<string>(Recipe.Sampling.Metrics) { Recipe.Decide.Metric };
            using var sampler = new ProcSampler(_daemonCgroup.Files, metrics, heapFile);

            _clock.Start();
            _daemon = StartDaemon(daemonEnv);

            var readyFile = Recipe.Run.Ready?.File is { } file ? ResolveReadyPath(Expand(file, env)) : null;
            var readyTimeout = Recipe.Run.Ready?.Timeout ?? TimeSpan.FromSeconds(30);
            TimeSpan? readyAt = readyFile is null ? TimeSpan.Zero : null;
            var measured = Recipe.Sampling.Warmup + Recipe.Sampling.Window;

            for (var tick = 0L; ; tick++)
            {
                ct.ThrowIfCancellationRequested();
                if (_daemon.HasExited)
                {
                    return DaemonEnded();
                }

                if (TrialCommands.SettledProcessGone(_daemonSettled, _daemonPid))
                {
                    _daemonSettled = false;
                }

                if (!_daemonSettled)
                {
                    ResolveDaemon(sampler, readyAt);
                }

                if (_daemonPid is not null)
                {
                    sampler.SampleInto(_clock.Elapsed.TotalSeconds, Samples);
                }

                if (readyAt is null)
                {
                    if (_rootPid is { } root && File.Exists(MountNamespace ? $"/proc/{root}/root{readyFile}" : readyFile))
                    {
                        readyAt = _clock.Elapsed;
                    }
                    else if (_clock.Elapsed >= readyTimeout)
                    {
                        return (TrialOutcome.NotReady,
                            $"{readyFile} did not appear within {Format(readyTimeout)} (run.ready.timeout); daemon output:\n{_daemonOutput}");
                    }
                }

                if (readyAt is { } ready)
                {
                    if (Recipe.Workload is { } workload && _rootPid is { } root && CheckWorkload(workload, env, root) is { } failed)
                    {
                        return failed;
                    }

                    if (_clock.Elapsed >= ready + measured)
                    {
                        return Finished(ready, interval);
                    }
                }

                // Ticks are scheduled on absolute times so a slow tick does not shift every later sample.
                var next = interval * (tick + 1);
                var wait = next - _clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, ct);
                }
            }
        }

        private Dictionary<string, string?> PrepareRunDirectory()
        {
            // Kept short: recipes put unix sockets in the run directory, and sun_path holds only 107 bytes.
            _runDir = Path.Combine(worker.WorkRoot, "runs", unique[^12..]);
            foreach (var tmpfs in Isolation.Tmpfs)
            {
                var mountPoint = Path.GetFullPath(tmpfs).TrimEnd('/') + "/";
                if ((_runDir + "/").StartsWith(mountPoint, StringComparison.Ordinal))
                {
                    throw new WorkerException(worker.Name, $"work root {worker.WorkRoot} lies under {tmpfs}, which the recipe covers with a private tmpfs",
                        "choose a work root outside run.isolation.tmpfs");
                }
            }

            TrialCommands.WriteRunDirectory(worker.Name, _runDir, Recipe);
            return TrialCommands.Environment(spec, _runDir);
        }

        private Process StartDaemon(Dictionary<string, string?> env)
        {
            var args = TrialCommands.Daemon(_daemonCgroup!.ProcsFile, Isolation, Recipe.Run.Command);
            var process = Start(args, env, Recipe.Run.Env, _daemonOutput);
            if (!Isolation.Pid)
            {
                // Without --fork every wrapper exec's, so the started process already is the daemon's shell.
                _rootPid = process.Id;
            }

            return process;
        }

        private Process Start(List<string> args, Dictionary<string, string?> env, IReadOnlyDictionary<string, string> extra, OutputTail tail)
        {
            // setsid: a session of its own, so a Ctrl+C in the terminal reaches Bisector (which stops the trial and
            // records it as Cancelled) and not the daemon or workload directly. A .NET child is never a process group
            // leader, so setsid execs sh in place: the PID stays the one started here.
            var info = new ProcessStartInfo("setsid")
            {
                WorkingDirectory = spec.Artifact.Directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            info.ArgumentList.Add("sh");
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            foreach (var (key, value) in env)
            {
                info.Environment[key] = value;
            }

            foreach (var (key, value) in extra)
            {
                info.Environment[key] = value;
            }

            try
            {
                var process = Process.Start(info) ?? throw new WorkerException(worker.Name, "sh did not start", "check /bin/sh exists");
                process.StandardInput.Close();
                tail.Attach(process);
                return process;
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new WorkerException(worker.Name, $"cannot start sh in {spec.Artifact.Directory}: {e.Message}",
                    "check the artifact directory exists and /bin/sh is present", e);
            }
        }

        /// <summary>
        /// Finds the daemon's host PID: the namespace's first process (child of unshare when a PID namespace is used),
        /// then down through the shells that <c>sh -c</c> leaves in between (dash forks even for the last command).
        /// </summary>
        private void ResolveDaemon(ProcSampler sampler, TimeSpan? readyAt)
        {
            var members = _daemonCgroup!.ReadProcesses();
            var parents = members.ToDictionary(p => p, Posix.ReadParent);
            _rootPid ??= members.FirstOrDefault(p => parents[p] == _daemon!.Id) is var child and > 0 ? child : null;
            // Until the wrapper has joined the cgroup there is nothing meaningful to sample.
            if (_rootPid is not { } current || !members.Contains(current))
            {
                return;
            }

            while (TrialCommands.Shells.Contains(Posix.ReadComm(current) ?? "")
                && parents.Where(kv => kv.Value == current).Select(kv => kv.Key).ToList() is [var only])
            {
                current = only;
            }

            _daemonPid = current;
            sampler.Track(current);

            _daemonSettled = TrialCommands.DaemonSettled(Posix.ReadComm(current), readyAt, _clock.Elapsed);
        }

        private string ResolveReadyPath(string path) =>
            Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(spec.Artifact.Directory, path));

        private (TrialOutcome, string?)? CheckWorkload(WorkloadSpec workload, Dictionary<string, string?> env, int root)
        {
            var running = _workloads.Count > 0 ? _workloads[^1] : null;
            if (running is { HasExited: false })
            {
                return null;
            }

            if (running is not null)
            {
                // Bounded: a background child may hold the output pipe open until clean-up kills it.
                running.WaitForExit(1000);
                if (running.ExitCode == TrialCommands.PlumbingFailed)
                {
                    throw new WorkerException(worker.Name, $"could not place the workload in its cgroup or the daemon's namespaces:\n{_workloadOutput}",
                        "check nsenter is installed and the cgroup hierarchy is writable");
                }

                if (!workload.Restart)
                {
                    return running.ExitCode == 0
                        ? null
                        : (TrialOutcome.WorkloadFailed,
                            $"workload exited with code {running.ExitCode} after {Format(_clock.Elapsed)} (workload.restart is false); output:\n{_workloadOutput}");
                }
            }

            var args = TrialCommands.Workload(_workloadCgroup!.ProcsFile, Isolation, root.ToString(CultureInfo.InvariantCulture), spec.Artifact.Directory, workload.Command);
            _workloads.Add(Start(args, env, workload.Env, _workloadOutput));
            return null;
        }

        private (TrialOutcome, string?) DaemonEnded()
        {
            _daemon!.WaitForExit(1000);
            var code = _daemon.ExitCode;
            var oomKills = _daemonCgroup!.ReadOomKills();

            // Kernels before 4.13 have no oom_kill counter: a SIGKILLed daemon whose cgroup hit its limit is the same story.
            if (oomKills > 0 || (code == 128 + Posix.SigKill && _daemonCgroup.ReadLimitHits() > 0))
            {
                return (TrialOutcome.OutOfMemory, OomReason(oomKills));
            }

            if (code == TrialCommands.PlumbingFailed || (_daemonPid is null && _daemonOutput.ToString().Contains("unshare: ", StringComparison.Ordinal)))
            {
                throw new WorkerException(worker.Name, $"could not start the daemon in its cgroup and namespaces (exit code {code}):\n{_daemonOutput}",
                    "check unshare/mount work here (root, kernel namespaces enabled)");
            }

            var signal = code > 128 ? $" (signal {code - 128})" : "";
            return (TrialOutcome.DaemonCrashed,
                $"daemon exited with code {code}{signal} after {Format(_clock.Elapsed)}, before the window ended; output:\n{_daemonOutput}");
        }

        private (TrialOutcome, string?) Finished(TimeSpan ready, TimeSpan interval)
        {
            var oomKills = _daemonCgroup!.ReadOomKills();
            if (oomKills > 0)
            {
                return (TrialOutcome.OutOfMemory, OomReason(oomKills));
            }

            return TrialCommands.Completeness(Samples, Recipe, ready, interval);
        }

        private string OomReason(long kills) => string.Create(CultureInfo.InvariantCulture,
            $"the OOM killer killed {kills} process(es) in the daemon's cgroup at run.memory-limit {Recipe.Run.MemoryLimitBytes} bytes " +
            $"(limit hit {_daemonCgroup!.ReadLimitHits()} times) after {Format(_clock.Elapsed)}; output:\n{_daemonOutput}");

        /// <summary>Stops the workload, then the daemon (SIGTERM, SIGKILL after run.stop-timeout), waits for both
        /// cgroups to empty and removes them and the run directory. Returns what could not be removed, if anything.</summary>
        public async Task<string?> CleanUpAsync()
        {
            if (_cleaned)
            {
                return null;
            }

            _cleaned = true;
            var problems = new List<string>();
            if (_workloadCgroup is not null)
            {
                await StopGroupAsync(_workloadCgroup, null, worker.WorkloadStopTimeout);
            }

            if (_daemonCgroup is not null)
            {
                await StopGroupAsync(_daemonCgroup, _daemonPid, Recipe.Run.StopTimeout);
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

            foreach (var cgroup in new[] { _workloadCgroup, _daemonCgroup }.OfType<CgroupMemory>())
            {
                if (!await cgroup.TryRemoveAsync(TimeSpan.FromSeconds(5)))
                {
                    problems.Add($"cgroup {cgroup.Path} could not be removed");
                }
            }

            TrialCommands.RemoveRunDirectory(_runDir, problems);

            return problems.Count == 0 ? null : "clean-up: " + string.Join("; ", problems);
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

        private static string Format(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
    }
}
