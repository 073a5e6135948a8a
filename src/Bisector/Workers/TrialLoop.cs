using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Bisector.Recipes;
using Bisector.Sampling;

namespace Bisector.Workers;

/// <summary>
/// How a <see cref="TrialLoop"/> reaches one trial's processes: a local cgroup sandbox, a container, or heaptrack. It
/// starts and stops things and says what it sees; every decision (readiness, which process is the daemon, when to
/// restart the workload, when the window ends, what the outcome is and why) is the loop's.
/// </summary>
internal interface ITrialSandbox
{
    /// <summary>The run directory: <c>$BISECTOR_RUN_DIR</c>, the same path for the daemon and for the loop.</summary>
    string RunDirectory { get; }

    /// <summary>True when the daemon has a root of its own (a private mount namespace, a container), so its ready file
    /// is looked for through <c>/proc/ROOT/root</c>.</summary>
    bool PrivateRoot { get; }

    /// <summary>The heap-counter shim (a path the daemon can open) this sandbox preloads into its daemon, compiled or
    /// shipped on first use; null when this sandbox cannot preload it. Asked only when the recipe wants heap counters.</summary>
    Task<string?> HeapShimAsync(CancellationToken ct);

    /// <summary>The daemon's memory cgroup once known (sampled, and read for OOM kills); null without one.</summary>
    CgroupMemory? Cgroup { get; }

    /// <summary>Starts the recipe's run command with exactly <paramref name="env"/> added to the environment.</summary>
    Task StartDaemonAsync(IReadOnlyDictionary<string, string?> env, CancellationToken ct);

    /// <summary>The top of the daemon's process tree, given the cgroup's members and their parents; null until known.</summary>
    int? FindRoot(IReadOnlyDictionary<int, int?> parents);

    /// <summary>Null while the started daemon runs; its exit otherwise. Throws <see cref="WorkerException"/> when the
    /// sandbox's own plumbing failed (<paramref name="daemonSeen"/>: whether the daemon was ever found).</summary>
    Task<DaemonExit?> DaemonExitAsync(bool daemonSeen, CancellationToken ct);

    /// <summary>Starts (or starts again) the workload in the daemon's namespaces (<paramref name="root"/>).</summary>
    Task StartWorkloadAsync(IReadOnlyDictionary<string, string?> env, int root, CancellationToken ct);

    /// <summary>The last started workload's exit code, or null while it runs.</summary>
    Task<int?> WorkloadExitAsync(CancellationToken ct);

    /// <summary>Processes of the workload the kernel's OOM killer ended, where the workload has a memory cgroup of its
    /// own (0 where it shares the daemon's, whose kills <see cref="Cgroup"/> counts). The workload has no limit of its
    /// own: a kill there means a limit above the trial was reached — a Slurm job's --mem, or the machine's memory.</summary>
    long WorkloadOomKills();

    Task<string> DaemonOutputAsync(CancellationToken ct);

    Task<string> WorkloadOutputAsync(CancellationToken ct);

    /// <summary>Stops the workload, then the daemon (<paramref name="daemonPid"/> first, SIGKILL after run.stop-timeout),
    /// removes what the sandbox created. Returns what could not be removed.</summary>
    Task<IReadOnlyList<string>> CleanUpAsync(int? daemonPid);
}

/// <summary>How the started daemon ended; <paramref name="OomKilled"/> when its engine says the OOM killer ended it.</summary>
internal sealed record DaemonExit(int Code, bool OomKilled = false);

/// <summary>
/// The one trial loop, for every transport: writes the run directory, builds the <c>BISECTOR_*</c> environment, starts
/// the daemon, waits for readiness, settles on the daemon behind its wrappers, (re)starts the workload, samples on an
/// absolute schedule for warm-up + window, and classifies the outcome with its reason. Remote transports run this same
/// loop on the far side (<see cref="TrialAgent"/>).
/// </summary>
internal sealed partial class TrialLoop
{
    /// <summary>Processes between the started one and the daemon: wrappers that exec or fork on their way to the
    /// recipe's command.</summary>
    private static readonly HashSet<string> Shells = ["sh", "dash", "bash", "ash", "busybox", "unshare"];

    private readonly ITrialSandbox _sandbox;
    private readonly TrialSpec _spec;
    private readonly string _worker;
    private readonly Action<List<Sample>, int>? _onSamples;
    private readonly Stopwatch _clock = new();
    private ProcSampler? _sampler;
    private string? _heapFile;
    private int? _root;
    private int? _daemonPid;
    private bool _settled;
    private bool _workloadDone;
    private Dictionary<string, string?>? _workloadEnv;

    private TrialLoop(ITrialSandbox sandbox, TrialSpec spec, string worker, Action<List<Sample>, int>? onSamples)
    {
        _sandbox = sandbox;
        _spec = spec;
        _worker = worker;
        _onSamples = onSamples;
    }

    private List<Sample> Samples { get; } = [];

    private Recipe Recipe => _spec.Recipe;

    /// <summary>Runs one trial in <paramref name="sandbox"/> and cleans up after it, also on cancellation and on a
    /// worker failure. <paramref name="onSamples"/> sees each tick's new samples (list, index of the first new one).</summary>
    public static async Task<TrialResult> RunAsync(ITrialSandbox sandbox, TrialSpec spec, string worker, string host,
        Action<List<Sample>, int>? onSamples = null, CancellationToken ct = default)
    {
        var startedAt = DateTimeOffset.Now;
        var loop = new TrialLoop(sandbox, spec, worker, onSamples);
        TrialOutcome outcome;
        string? reason;
        try
        {
            (outcome, reason) = await loop.RunCoreAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            (outcome, reason) = (TrialOutcome.Cancelled, TrialReasons.Cancelled);
        }
        catch (WorkerException e)
        {
            (outcome, reason) = (TrialOutcome.WorkerFailed, e.Message);
        }
        catch
        {
            // Anything else (a bad run.files path, a bug) still leaves nothing behind before it reaches the caller.
            await loop.CleanUpAsync();
            throw;
        }

        if (await loop.CleanUpAsync() is { } problems)
        {
            reason = (reason is null ? "" : reason + "\n") + problems;
        }

        return new TrialResult(outcome, reason, loop.Samples, startedAt, DateTimeOffset.Now, host);
    }

    /// <summary>Stops and removes everything the trial started; returns what could not be removed, if anything.</summary>
    private async Task<string?> CleanUpAsync()
    {
        _sampler?.Dispose();
        var problems = new List<string>(await _sandbox.CleanUpAsync(_daemonPid));
        TrialCommands.RemoveRunDirectory(_sandbox.RunDirectory, problems);
        return problems.Count == 0 ? null : "clean-up: " + string.Join("; ", problems);
    }

    /// <summary>The sampling interval: the recipe's, or 100 ms.</summary>
    public static TimeSpan Interval(Recipe recipe) =>
        recipe.Sampling.Interval > TimeSpan.Zero ? recipe.Sampling.Interval : TimeSpan.FromMilliseconds(100);

    /// <summary>A name made safe for cgroups, containers and file names.</summary>
    public static string SafeName(string text) => Unsafe().Replace(text, "_");

    /// <summary>Expands $VAR / ${VAR} from the trial environment, for paths Bisector itself checks (the ready file).</summary>
    public static string Expand(string text, IReadOnlyDictionary<string, string?> env) =>
        EnvReference().Replace(text, m =>
        {
            var key = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
            return env.TryGetValue(key, out var value) ? value ?? "" : Environment.GetEnvironmentVariable(key) ?? "";
        });

    /// <summary>The variables every trial command sees: commit-dependent values reach commands only this way.</summary>
    public static Dictionary<string, string?> TrialEnvironment(TrialSpec spec, string runDirectory) => new()
    {
        ["BISECTOR_COMMIT"] = spec.Commit.Sha,
        ["BISECTOR_ARTIFACT"] = spec.Artifact.Directory,
        ["BISECTOR_RUN_DIR"] = runDirectory,
        ["BISECTOR_TRIAL"] = spec.TrialKey,
    };

    /// <summary>The recipe's ready file with the trial's variables expanded, relative paths taken from the artifact.</summary>
    public static string? ReadyFile(TrialSpec spec, IReadOnlyDictionary<string, string?> env) =>
        spec.Recipe.Run.Ready?.File is { } file && Expand(file, env) is var path
            ? Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(spec.Artifact.Directory, path))
            : null;

    private async Task<(TrialOutcome, string?)> RunCoreAsync(CancellationToken ct)
    {
        var env = PrepareRunDirectory();
        var interval = Interval(Recipe);
        var daemonEnv = new Dictionary<string, string?>(env);
        if (Recipe.Sampling.HeapCounters && await _sandbox.HeapShimAsync(ct) is { } shim)
        {
            // The shim publishes as often as we sample, but at most every 100 ms: mallinfo2() walks the free lists
            // under the arena lock (~1 ms on a busy heap, docs/benchmarks-diagnosis.md), so faster would cost the
            // daemon more than 1% CPU. The recipe's own LD_PRELOAD goes before the shim's where the daemon starts.
            _heapFile = Path.Combine(_sandbox.RunDirectory, "heapstats");
            daemonEnv["BISECTOR_HEAP_PRELOAD"] = shim;
            daemonEnv[Diagnosis.HeapShim.FileEnv] = _heapFile;
            daemonEnv[Diagnosis.HeapShim.IntervalEnv] = Math.Max(100, (long)interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in Recipe.Run.Env)
        {
            daemonEnv[key] = value;
        }

        var readyFile = ReadyFile(_spec, env);
        var readyTimeout = Recipe.Run.Ready?.Timeout ?? TimeSpan.FromSeconds(30);
        TimeSpan? readyAt = readyFile is null ? TimeSpan.Zero : null;
        var measured = Recipe.Sampling.Warmup + Recipe.Sampling.Window;

        _clock.Start();
        await _sandbox.StartDaemonAsync(daemonEnv, ct);
        for (var tick = 0L; ; tick++)
        {
            ct.ThrowIfCancellationRequested();
            if (await _sandbox.DaemonExitAsync(_daemonPid is not null, ct) is { } exit)
            {
                return await DaemonEndedAsync(exit, ct);
            }

            Sample(readyAt);
            if (readyAt is null)
            {
                if (_root is { } root && File.Exists(_sandbox.PrivateRoot ? $"/proc/{root}/root{readyFile}" : readyFile))
                {
                    readyAt = _clock.Elapsed;
                }
                else if (_clock.Elapsed >= readyTimeout)
                {
                    return (TrialOutcome.NotReady, TrialReasons.NotReady(readyFile, readyTimeout, await _sandbox.DaemonOutputAsync(ct)));
                }
            }

            if (readyAt is { } ready)
            {
                if (Recipe.Workload is { } workload && _root is { } root && await CheckWorkloadAsync(workload, env, root, ct) is { } failed)
                {
                    return failed;
                }

                if (_clock.Elapsed >= ready + measured)
                {
                    if ((_sandbox.Cgroup?.ReadOomKills() ?? 0) is var kills and > 0)
                        return (TrialOutcome.OutOfMemory, await OomReasonAsync(kills, ct));
                    // A workload that lost a process to the OOM killer did not drive the daemon as the recipe says, even
                    // when it carried on and exited 0 (a Slurm job at its --mem under load: the pipe feeding a shell was
                    // killed, the shell went on): not a trial to compare.
                    if (_sandbox.WorkloadOomKills() is var lost and > 0)
                        return (TrialOutcome.OutOfMemory, TrialReasons.WorkloadOomKilled(lost, _clock.Elapsed, await _sandbox.WorkloadOutputAsync(ct)));
                    return Completeness(Samples, Recipe, ready, interval);
                }
            }

            // Ticks are scheduled on absolute times so a slow tick does not shift every later sample.
            var wait = interval * (tick + 1) - _clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct);
            }
        }
    }

    private Dictionary<string, string?> PrepareRunDirectory()
    {
        var runDirectory = _sandbox.RunDirectory;
        foreach (var tmpfs in Recipe.Run.Isolation.Tmpfs)
        {
            var mountPoint = Path.GetFullPath(tmpfs).TrimEnd('/') + "/";
            if ((runDirectory + "/").StartsWith(mountPoint, StringComparison.Ordinal))
            {
                throw new WorkerException(_worker, $"the run directory {runDirectory} lies under {tmpfs}, which the recipe covers with a private tmpfs",
                    "choose a work root (?root= for SSH hosts) outside run.isolation.tmpfs");
            }
        }

        TrialCommands.WriteRunDirectory(_worker, runDirectory, Recipe);
        return TrialEnvironment(_spec, runDirectory);
    }

    /// <summary>One tick of sampling: settle on the daemon (again, if the settled process is gone), then read it.</summary>
    private void Sample(TimeSpan? readyAt)
    {
        if (_sandbox.Cgroup is not { } cgroup)
        {
            _root ??= _sandbox.FindRoot(new Dictionary<int, int?>());
            return;
        }

        if (_sampler is null)
        {
            // An empty sampling.metrics list means "everything"; the deciding metric is always recorded.
            var metrics = Recipe.Sampling.Metrics.Count == 0 ? [] : new HashSet<string>(Recipe.Sampling.Metrics) { Recipe.Decide.Metric };
            _sampler = new ProcSampler(cgroup.Files, metrics, _heapFile);
        }

        // Without a ready file a trial is ready at once, and a recipe's "mkdir … && cp … && exec daemon" shows a
        // short-lived non-shell child first: settling is then a guess, and a guess that exits is corrected here.
        if (_settled && _daemonPid is { } settledPid && !Posix.IsRunning(settledPid))
        {
            _settled = false;
        }

        if (!_settled)
        {
            ResolveDaemon(cgroup, readyAt);
        }

        if (_daemonPid is not null)
        {
            var before = Samples.Count;
            _sampler.SampleInto(_clock.Elapsed.TotalSeconds, Samples);
            if (Samples.Count > before)
            {
                _onSamples?.Invoke(Samples, before);
            }
        }
    }

    /// <summary>
    /// Finds the daemon: the sandbox's root process, then down through the shells <c>sh -c</c> leaves in between (dash
    /// forks even for the last command) while a shell has exactly one child. Settled for good never before readiness
    /// (until then a wrapper's short-lived child, <c>ip link</c> or <c>mount</c>, looks just like the daemon), and after
    /// it once a non-shell is found, or a second later (the daemon may itself be a script).
    /// </summary>
    private void ResolveDaemon(CgroupMemory cgroup, TimeSpan? readyAt)
    {
        var members = cgroup.ReadProcesses();
        var parents = members.ToDictionary(p => p, Posix.ReadParent);
        _root ??= _sandbox.FindRoot(parents);
        // Until the wrapper has joined the cgroup there is nothing meaningful to sample.
        if (_root is not { } current || !members.Contains(current))
        {
            return;
        }

        while (Shells.Contains(Posix.ReadComm(current) ?? "")
            && parents.Where(kv => kv.Value == current).Select(kv => kv.Key).ToList() is [var only])
        {
            current = only;
        }

        _daemonPid = current;
        _sampler!.Track(current);
        _settled = readyAt is { } ready && (!Shells.Contains(Posix.ReadComm(current) ?? "sh") || _clock.Elapsed > ready + TimeSpan.FromSeconds(1));
    }

    private async Task<(TrialOutcome, string?)?> CheckWorkloadAsync(WorkloadSpec workload, Dictionary<string, string?> env, int root, CancellationToken ct)
    {
        if (_workloadDone)
        {
            return null;
        }

        if (_workloadEnv is not null)
        {
            if (await _sandbox.WorkloadExitAsync(ct) is not { } code)
            {
                return null;
            }

            if (!workload.Restart)
            {
                _workloadDone = true;
                return code == 0
                    ? null
                    : (TrialOutcome.WorkloadFailed, TrialReasons.WorkloadFailed(code, _clock.Elapsed, await _sandbox.WorkloadOutputAsync(ct)));
            }
        }
        else
        {
            _workloadEnv = new Dictionary<string, string?>(env);
            foreach (var (key, value) in workload.Env)
            {
                _workloadEnv[key] = value;
            }
        }

        await _sandbox.StartWorkloadAsync(_workloadEnv, root, ct);
        return null;
    }

    private async Task<(TrialOutcome, string?)> DaemonEndedAsync(DaemonExit exit, CancellationToken ct)
    {
        var code = exit.Code;
        var oomKills = _sandbox.Cgroup?.ReadOomKills() ?? 0;
        // Kernels before 4.13 have no oom_kill counter: a SIGKILLed daemon whose cgroup hit its limit is the same story.
        if (exit.OomKilled || oomKills > 0 || (code == 128 + Posix.SigKill && (_sandbox.Cgroup?.ReadLimitHits() ?? 0) > 0))
        {
            return (TrialOutcome.OutOfMemory, await OomReasonAsync(exit.OomKilled ? Math.Max(1, oomKills) : oomKills, ct));
        }

        return (TrialOutcome.DaemonCrashed, TrialReasons.DaemonCrashed(code, _clock.Elapsed, await _sandbox.DaemonOutputAsync(ct)));
    }

    private async Task<string> OomReasonAsync(long kills, CancellationToken ct)
    {
        var output = await _sandbox.DaemonOutputAsync(ct);
        return TrialReasons.OutOfMemory(kills, Recipe.Run.MemoryLimitBytes, _sandbox.Cgroup?.ReadLimitHits() ?? 0, _clock.Elapsed, output);
    }

    /// <summary>
    /// The outcome of a trial that ran its whole window: <see cref="TrialOutcome.Ok"/> only when the deciding metric
    /// was sampled at least every other interval after warm-up. A starved sampler (a machine far beyond its cores)
    /// or a sampler that lost the daemon yields a series too sparse to describe the window; such a trial must not
    /// count as evidence. <paramref name="ready"/> is when the daemon became ready, on the samples' clock.
    /// </summary>
    public static (TrialOutcome, string?) Completeness(IReadOnlyList<Sample> samples, Recipe recipe, TimeSpan ready, TimeSpan interval)
    {
        var from = (ready + recipe.Sampling.Warmup).TotalSeconds;
        var metric = recipe.Decide.Metric;
        var taken = samples.Count(s => s.Metric == metric && s.Seconds >= from);
        var expected = (int)(recipe.Sampling.Window / interval);
        return taken * 2 < expected
            ? (TrialOutcome.Incomplete, TrialReasons.Incomplete(taken, expected, metric, interval))
            : (TrialOutcome.Ok, null);
    }

    [GeneratedRegex("[^A-Za-z0-9_.-]")]
    private static partial Regex Unsafe();

    [GeneratedRegex(@"\$(?:\{(\w+)\}|(\w+))")]
    private static partial Regex EnvReference();
}

/// <summary>Every outcome's reason text, in one place for every transport (local, container, SSH and Slurm through the
/// trial agent, the boundary profiler).</summary>
internal static class TrialReasons
{
    public const string Cancelled = "cancelled; the daemon, workload, cgroups or containers and run directory were removed";

    public static string NotReady(string? readyFile, TimeSpan timeout, string output) =>
        $"{readyFile} did not appear within {Format(timeout)} (run.ready.timeout); daemon output:\n{output}";

    public static string DaemonCrashed(int code, TimeSpan after, string output) =>
        $"daemon exited with code {code}{(code > 128 ? $" (signal {code - 128})" : "")} after {Format(after)}, before the window ended; output:\n{output}";

    public static string OutOfMemory(long kills, long limitBytes, long limitHits, TimeSpan after, string output) => string.Create(CultureInfo.InvariantCulture,
        $"the OOM killer killed {kills} process(es) in the daemon's cgroup at run.memory-limit {limitBytes} bytes (limit hit {limitHits} times) after {Format(after)}; output:\n{output}");

    public static string WorkloadOomKilled(long kills, TimeSpan after, string output) => string.Create(CultureInfo.InvariantCulture,
        $"the OOM killer killed {kills} of the workload's process(es) by {Format(after)}: a memory limit above the trial (a Slurm job's --mem, or the machine's memory) was reached; output:\n{output}");

    public static string WorkloadFailed(int code, TimeSpan after, string output) =>
        $"workload exited with code {code} after {Format(after)} (workload.restart is false); output:\n{output}";

    public static string Incomplete(int taken, int expected, string metric, TimeSpan interval) => string.Create(CultureInfo.InvariantCulture,
        $"only {taken} of ~{expected} {metric} samples in the window after warm-up: the machine was too busy to sample every {interval.TotalSeconds:0.###} s, or the daemon's process was lost");

    public static string Format(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
}
