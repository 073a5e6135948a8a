using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Bisector.Sampling;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Workers;

/// <summary>
/// A Slurm cluster as a worker backend.
/// </summary>
/// <param name="Partition">Partition every trial job is submitted to.</param>
/// <param name="Conf">slurm.conf for the client commands (SLURM_CONF); null uses the cluster's default.</param>
/// <param name="ExtraMemoryBytes">Added to the recipe's memory limit for the job's <c>--mem</c>: the job also holds the
/// Bisector runner and the workload, which the recipe's limit does not cover.</param>
/// <param name="TimeLimit">The job's <c>--time</c>; null derives it from the recipe's ready timeout, warm-up, window and stop timeout.</param>
/// <param name="SharedDirectory">Where job directories go; must be the same path on the submit host and the nodes.
/// Null uses the worker's work root.</param>
public sealed record SlurmClusterSpec(string Partition, string? Conf, long ExtraMemoryBytes, TimeSpan? TimeLimit, string? SharedDirectory);

/// <summary>
/// Runs each trial as one Slurm batch job. The job runs Bisector itself (<c>bisector slurm-job DIR</c>, see
/// <see cref="SlurmJob"/>): the same local trial code (cgroup, namespaces, /proc sampling) on the node, with the
/// daemon's cgroup nested under the job's own so Slurm's <c>--mem</c> still bounds everything. Trial spec in and samples
/// out travel as JSON files in a job directory on storage shared by the submit host and the nodes. Slurm's final job
/// state is mapped onto <see cref="TrialOutcome"/>; the job's MaxRSS (sstat, while it runs) is kept as a cross-check.
/// Parallelism is the cluster's: each worker has at most one job in flight, <c>count=N</c> gives N workers.
/// </summary>
public sealed partial class SlurmWorker(string name, SlurmClusterSpec cluster, string workRoot) : IWorker
{
    private static readonly string[] TerminalStates =
        ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"];

    public string Name { get; } = name;

    public WorkerKind Kind => WorkerKind.Slurm;

    public SlurmClusterSpec Cluster { get; } = cluster;

    public string WorkRoot { get; } = Path.GetFullPath(cluster.SharedDirectory ?? workRoot);

    /// <summary>How often the job's state is polled.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    public async Task<WorkerCheck> CheckAsync(CancellationToken ct = default)
    {
        var findings = new List<string>();
        var ok = true;
        foreach (var tool in new[] { "sbatch", "scontrol", "scancel", "sinfo" })
        {
            if (Posix.Which(tool) is null)
            {
                ok = false;
                findings.Add($"{tool}: not found on PATH; install the Slurm client commands (apt-get install slurm-client)");
            }
        }

        if (!ok)
        {
            return new WorkerCheck(Name, false, findings);
        }

        var sinfo = await Slurm("sinfo").WithArguments(["-h", "-p", Cluster.Partition, "-o", "%a %D %t"]).ExecuteBufferedAsync(ct);
        if (sinfo.ExitCode != 0 || sinfo.StandardOutput.Trim().Length == 0)
        {
            ok = false;
            findings.Add($"partition {Cluster.Partition}: sinfo found nothing (exit code {sinfo.ExitCode}): {sinfo.StandardError.Trim()}; " +
                "check slurmctld is up, the partition exists and conf= points at its slurm.conf");
        }
        else
        {
            findings.Add($"partition {Cluster.Partition}: {string.Join("; ", sinfo.StandardOutput.Trim().Split('\n'))} (avail, nodes, state)");
        }

        var (program, args) = SlurmJob.ToolCommand();
        findings.Add($"jobs run: {program} {string.Join(' ', args)} slurm-job DIR (must exist at this path on the nodes)");
        return new WorkerCheck(Name, ok, findings);
    }

    public async Task<TrialResult> RunTrialAsync(TrialSpec spec, CancellationToken ct = default)
    {
        var startedAt = DateTimeOffset.Now;
        // Short: the daemon's run directory (and sockets in it, 107 bytes at most) lives below the job directory.
        var unique = Guid.NewGuid().ToString("N")[..12];
        var jobDir = Path.Combine(WorkRoot, unique);
        var host = $"{Environment.MachineName} [slurm partition {Cluster.Partition}]/{Name}";
        try
        {
            WriteJobFiles(jobDir, spec, unique);
            var jobId = await SubmitAsync(jobDir, spec, ct);
            host = $"{Environment.MachineName} [slurm job {jobId}, partition {Cluster.Partition}]/{Name}";
            var end = await WaitAsync(jobId, ct);
            host = $"{end.Node ?? Environment.MachineName} [slurm job {jobId}, partition {Cluster.Partition}]/{Name}";
            var inner = SlurmJob.ReadResult(jobDir);
            var (outcome, reason) = MapState(end.State, end.ExitCode, inner, Tail(Path.Combine(jobDir, SlurmJob.OutputFile)));
            reason = CrossCheck(reason, end.MaxRssBytes, inner?.Samples);
            return new TrialResult(outcome, reason, inner?.Samples ?? [], startedAt, DateTimeOffset.Now, host);
        }
        catch (WorkerException e)
        {
            return new TrialResult(TrialOutcome.WorkerFailed, e.Message, [], startedAt, DateTimeOffset.Now, host);
        }
        finally
        {
            TryDelete(jobDir);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Slurm's final job state → trial outcome. A job that completed reports what the trial on the node found; Slurm's own
    /// verdicts (its memory limit, the node, the time limit, a cancel) override it because the runner may have died mid-trial.
    /// </summary>
    internal static (TrialOutcome Outcome, string? Reason) MapState(string state, string exitCode, TrialResult? inner, string outputTail)
    {
        string Said(string what) => inner?.Reason is { } r ? $"{what}; the trial on the node reported: {r}" : $"{what}; job output:\n{outputTail}";
        return state switch
        {
            "COMPLETED" when inner is not null => (inner.Outcome, inner.Reason),
            "COMPLETED" => (TrialOutcome.WorkerFailed, $"slurm job completed but wrote no result file; job output:\n{outputTail}"),
            "OUT_OF_MEMORY" => (TrialOutcome.OutOfMemory, Said("slurm killed the job at its --mem limit (OUT_OF_MEMORY)")),
            "CANCELLED" => (TrialOutcome.Cancelled, Said("the slurm job was cancelled (scancel or an administrator)")),
            "TIMEOUT" or "DEADLINE" => (TrialOutcome.WorkerFailed, Said($"the slurm job hit its time limit ({state}); raise time= in the worker spec")),
            "NODE_FAIL" or "BOOT_FAIL" or "PREEMPTED" => (TrialOutcome.WorkerFailed, Said($"the slurm node failed the job ({state})")),
            "FAILED" when inner is not null => (inner.Outcome, inner.Reason),
            "FAILED" => (TrialOutcome.WorkerFailed, $"slurm job failed (exit code {exitCode}) before writing a result; job output:\n{outputTail}"),
            _ => inner is not null ? (inner.Outcome, inner.Reason) : (TrialOutcome.WorkerFailed, $"slurm job ended in state {state} without a result; job output:\n{outputTail}"),
        };
    }

    /// <summary>Slurm's MaxRSS covers the whole job (runner, daemon, workload), so it bounds the daemon's own peak from above.</summary>
    internal static string? CrossCheck(string? reason, long? maxRss, IReadOnlyList<Sample>? samples)
    {
        if (maxRss is not { } jobRss)
        {
            return reason;
        }

        var peak = samples?.Where(s => s.Metric == Metrics.VmRss).Select(s => s.Value).DefaultIfEmpty().Max() ?? 0;
        var note = string.Create(CultureInfo.InvariantCulture, $"slurm MaxRSS of the job {jobRss >> 10} KiB, daemon peak vm_rss {(long)peak >> 10} KiB");
        // jobacct_gather polls (JobAcctGatherFrequency), so its MaxRSS can miss a short peak; only a large gap is worth a word.
        if (peak > jobRss * 1.5 && jobRss > 0)
        {
            note += " (inconsistent: the job's MaxRSS should include the daemon; check JobAcctGatherFrequency)";
        }

        return reason is null ? note : $"{reason}\n{note}";
    }

    private void WriteJobFiles(string jobDir, TrialSpec spec, string unique)
    {
        try
        {
            Directory.CreateDirectory(jobDir);
            SlurmJob.WriteRequest(jobDir, new SlurmJobRequest(Name, spec));
            var (program, args) = SlurmJob.ToolCommand();
            var script = new StringBuilder("#!/bin/sh\n# Bisector trial ").Append(unique).Append('\n').Append("exec ").Append(Quote(program));
            foreach (var arg in args.Append("slurm-job").Append(jobDir))
            {
                script.Append(' ').Append(Quote(arg));
            }

            File.WriteAllText(Path.Combine(jobDir, SlurmJob.ScriptFile), script.Append('\n').ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WorkerException(Name, $"cannot write the job directory {jobDir}: {e.Message}", "check shared= (or the work root) is writable", e);
        }
    }

    private async Task<string> SubmitAsync(string jobDir, TrialSpec spec, CancellationToken ct)
    {
        var memMiB = (spec.Recipe.Run.MemoryLimitBytes + Cluster.ExtraMemoryBytes + (1L << 20) - 1) >> 20;
        var time = Cluster.TimeLimit ?? DefaultTimeLimit(spec);
        string[] args =
        [
            "--parsable", $"--partition={Cluster.Partition}", $"--job-name=bisector-{LocalWorker.Sanitize(spec.TrialKey)}",
            string.Create(CultureInfo.InvariantCulture, $"--mem={memMiB}M"),
            string.Create(CultureInfo.InvariantCulture, $"--time={(int)Math.Ceiling(time.TotalMinutes)}"),
            "--nodes=1", "--ntasks=1", $"--chdir={jobDir}", $"--output={Path.Combine(jobDir, SlurmJob.OutputFile)}",
            Path.Combine(jobDir, SlurmJob.ScriptFile),
        ];
        var result = await Slurm("sbatch").WithArguments(args).ExecuteBufferedAsync(ct);
        var id = result.StandardOutput.Trim().Split(';')[0];
        if (result.ExitCode != 0 || !JobId().IsMatch(id))
        {
            throw new WorkerException(Name,
                $"sbatch {string.Join(' ', args)} failed (exit code {result.ExitCode}, in {Directory.GetCurrentDirectory()}): {Tail(result.StandardError)}",
                "check the partition exists and can grant the memory (run.memory-limit + extra-mem) and time");
        }

        return id;
    }

    private static TimeSpan DefaultTimeLimit(TrialSpec spec) =>
        (spec.Recipe.Run.Ready?.Timeout ?? TimeSpan.Zero) + spec.Recipe.Sampling.Warmup + spec.Recipe.Sampling.Window
        + spec.Recipe.Run.StopTimeout + TimeSpan.FromMinutes(5);

    private sealed record JobEnd(string State, string ExitCode, string? Node, long? MaxRssBytes);

    private async Task<JobEnd> WaitAsync(string jobId, CancellationToken ct)
    {
        long? maxRss = null;
        string? node = null;
        var lastRssPoll = DateTimeOffset.MinValue;
        try
        {
            while (true)
            {
                var show = await Slurm("scontrol").WithArguments(["show", "job", "-o", jobId]).ExecuteBufferedAsync(ct);
                if (show.ExitCode != 0)
                {
                    // Purged from slurmctld's memory (MinJobAge) between polls: the result file alone must tell.
                    if (show.StandardError.Contains("Invalid job id", StringComparison.Ordinal))
                    {
                        return new JobEnd("UNKNOWN", "?", node, maxRss);
                    }

                    throw new WorkerException(Name, $"scontrol show job {jobId} failed (exit code {show.ExitCode}): {Tail(show.StandardError)}",
                        "check slurmctld is reachable from this host");
                }

                var state = Field(show.StandardOutput, "JobState") ?? "UNKNOWN";
                node = Field(show.StandardOutput, "BatchHost") is { Length: > 0 } batchHost and not "(null)" ? batchHost : node;
                if (TerminalStates.Contains(state))
                {
                    return new JobEnd(state, Field(show.StandardOutput, "ExitCode") ?? "?", node, maxRss);
                }

                if (state == "RUNNING" && DateTimeOffset.Now - lastRssPoll > TimeSpan.FromSeconds(2))
                {
                    lastRssPoll = DateTimeOffset.Now;
                    maxRss = await MaxRssAsync(jobId, ct) is { } rss ? Math.Max(rss, maxRss ?? 0) : maxRss;
                }

                await Task.Delay(PollInterval, ct);
            }
        }
        catch (OperationCanceledException)
        {
            await CancelAsync(jobId);
            throw;
        }
    }

    /// <summary>The batch step's MaxRSS from sstat; null without job accounting (JobAcctGatherType=jobacct_gather/none).</summary>
    private async Task<long?> MaxRssAsync(string jobId, CancellationToken ct)
    {
        var result = await Slurm("sstat").WithArguments(["-n", "-P", "-j", $"{jobId}.batch", "--format=MaxRSS"]).ExecuteBufferedAsync(ct);
        return result.ExitCode == 0 ? ParseSize(result.StandardOutput.Trim().Split('\n')[0]) : null;
    }

    /// <summary>Slurm sizes: a number with an optional K/M/G/T suffix (binary), e.g. <c>35500K</c>.</summary>
    internal static long? ParseSize(string text)
    {
        text = text.Trim();
        if (text.Length == 0)
        {
            return null;
        }

        var shift = char.ToUpperInvariant(text[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        var number = shift == 0 ? text : text[..^1];
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? (long)(value * (1L << shift)) : null;
    }

    /// <summary>scancel, then wait (bounded) until the job has ended, so its daemon is gone before the trial returns.</summary>
    private async Task CancelAsync(string jobId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await Slurm("scancel").WithArguments([jobId]).ExecuteBufferedAsync(timeout.Token);
            while (!timeout.IsCancellationRequested)
            {
                var show = await Slurm("scontrol").WithArguments(["show", "job", "-o", jobId]).ExecuteBufferedAsync(timeout.Token);
                if (show.ExitCode != 0 || TerminalStates.Contains(Field(show.StandardOutput, "JobState") ?? ""))
                {
                    return;
                }

                await Task.Delay(PollInterval, timeout.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Slurm keeps killing the job on its own (KillWait); nothing more this process can do.
        }
    }

    private Command Slurm(string tool)
    {
        var command = CliWrap.Cli.Wrap(tool).WithValidation(CommandResultValidation.None);
        return Cluster.Conf is { } conf ? command.WithEnvironmentVariables(env => env.Set("SLURM_CONF", conf)) : command;
    }

    private static string? Field(string line, string key) =>
        Regex.Match(line, $@"(?:^|\s){key}=(\S*)") is { Success: true } m ? m.Groups[1].Value : null;

    private static string Tail(string path)
    {
        try
        {
            return File.Exists(path) ? TailText(File.ReadAllText(path)) : TailText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string TailText(string text) => string.Join('\n', text.TrimEnd().Split('\n').TakeLast(20));

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for 'bisector clean'; the trial's result does not depend on it.
        }
    }

    [GeneratedRegex(@"^\d+(_\d+)?$")]
    private static partial Regex JobId();
}

/// <summary>What the submit side hands a job: the worker's name (for messages and cgroup names) and the trial.</summary>
public sealed record SlurmJobRequest(string Worker, TrialSpec Spec);

/// <summary>
/// The job side of <see cref="SlurmWorker"/>: reads the request from the job directory, runs the trial with the local
/// trial code (its cgroups nested under the job's own), and writes the result (samples included) back as JSON.
/// </summary>
public static class SlurmJob
{
    public const string RequestFile = "trial.json";
    public const string ResultFile = "result.json";
    public const string ScriptFile = "job.sh";
    public const string OutputFile = "job.out";

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public static async Task<int> RunAsync(string jobDir, CancellationToken ct = default)
    {
        var path = Path.Combine(jobDir, RequestFile);
        SlurmJobRequest request;
        try
        {
            request = JsonSerializer.Deserialize<SlurmJobRequest>(await File.ReadAllTextAsync(path, ct), Json)
                ?? throw new JsonException("empty document");
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new WorkerException("slurm-job", $"cannot read the trial request {path}: {e.Message}",
                "the job directory must be on storage shared by the submit host and the node (shared= in the worker spec)", e);
        }

        // Under Slurm's task/cgroup the job has its own memory cgroup; nesting the trial's cgroups there keeps the job's
        // --mem in force over the daemon. Without it (task/none) the job sits in the root cgroup: use Bisector's default.
        var own = CgroupMemory.OfProcess(Environment.ProcessId);
        var jobChain = own?.SelfAndAncestors() ?? [];
        await using var worker = new LocalWorker(request.Worker, jobDir) { CgroupParent = jobChain.Count > 0 ? own!.Path : null };
        var hitsBefore = LimitHits(jobChain);
        var result = await worker.RunTrialAsync(request.Spec, ct);

        // Slurm (22.05, cgroup v1) only notices OOM kills in the job's own cgroup, not in the trial's cgroups nested in it,
        // so a process killed because the job's --mem was reached is recognised here: the job's limit was hit meanwhile.
        var hits = LimitHits(jobChain) - hitsBefore;
        if (hits > 0 && result.Outcome is TrialOutcome.WorkloadFailed or TrialOutcome.DaemonCrashed)
        {
            result = result with
            {
                Outcome = TrialOutcome.OutOfMemory,
                Reason = string.Create(CultureInfo.InvariantCulture,
                    $"the job's Slurm memory limit (--mem = run.memory-limit + extra-mem) was hit {hits} times and a process was killed; raise extra-mem in the worker spec. The trial reported: {result.Reason}"),
            };
        }

        var temp = Path.Combine(jobDir, ResultFile + ".tmp");
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(result, Json), CancellationToken.None);
        File.Move(temp, Path.Combine(jobDir, ResultFile), overwrite: true);
        return 0;
    }

    /// <summary>
    /// How often the job's cgroups (Slurm puts the --mem limit on <c>job_N</c>, an ancestor) reached their limit: v1
    /// <c>memory.failcnt</c> (v2 <c>max</c> events), plus 1 when a v1 peak usage reached its limit, because the
    /// failure counter was seen to stay 0 here (22.05) even after the kernel OOM-killed with <c>oom_memcg=job_N</c>.
    /// </summary>
    private static long LimitHits(IReadOnlyList<CgroupMemory> chain) => chain.Sum(c =>
    {
        long Read(string file) => File.Exists(Path.Combine(c.Path, file))
            && long.TryParse(File.ReadAllText(Path.Combine(c.Path, file)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
        var limit = Read("memory.limit_in_bytes");
        var peakReached = limit > 0 && limit < long.MaxValue / 2 && Read("memory.max_usage_in_bytes") >= limit - (64L << 10);
        return c.ReadLimitHits() + (peakReached ? 1 : 0);
    });

    internal static void WriteRequest(string jobDir, SlurmJobRequest request) =>
        File.WriteAllText(Path.Combine(jobDir, RequestFile), JsonSerializer.Serialize(request, Json));

    internal static TrialResult? ReadResult(string jobDir)
    {
        var path = Path.Combine(jobDir, ResultFile);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<TrialResult>(File.ReadAllText(path), Json) : null;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// How a job starts this very build of Bisector: <c>dotnet bisector.dll</c> with the running dotnet host (also when
    /// the caller is a test host). Both paths must be valid on the nodes, i.e. on shared storage.
    /// </summary>
    public static (string Program, IReadOnlyList<string> Args) ToolCommand()
    {
        var dll = typeof(SlurmJob).Assembly.Location;
        var process = Environment.ProcessPath;
        var dotnet = process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? process
            : Posix.Which("dotnet") ?? "dotnet";
        return (dotnet, [dll]);
    }
}
