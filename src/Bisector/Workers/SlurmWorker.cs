using System.Globalization;
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
/// Runs each trial as one Slurm batch job. The job runs the trial agent (<c>bisector-agent trial-agent --job DIR</c>, see
/// <see cref="TrialAgent"/>, a native program copied once per content hash to the shared directory, so nodes need
/// no .NET): the same trial loop and cgroup sandbox as a local worker, with the daemon's cgroup nested under the job's
/// own so Slurm's <c>--mem</c> still bounds everything. Trial spec in and samples
/// out travel as JSON files in a job directory on storage shared by the submit host and the nodes. Slurm's final job
/// state is mapped onto <see cref="TrialOutcome"/>; the job's MaxRSS (sstat, while it runs) is kept as a cross-check.
/// Parallelism is the cluster's: each worker has at most one job in flight, <c>count=N</c> gives N workers.
/// </summary>
public sealed partial class SlurmWorker(string name, SlurmClusterSpec cluster, string workRoot) : IWorker
{
    private const string ScriptFile = "job.sh";
    private const string OutputFile = "job.out";

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

        var agent = await ShipAgentAsync(ct);
        findings.Add($"jobs run: {agent} trial-agent --job DIR (the native trial agent on the shared directory)");
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
            var shim = spec.Recipe.Sampling.HeapCounters ? await ShipHeapShimAsync(ct) : null;
            WriteJobFiles(jobDir, spec, unique, await ShipAgentAsync(ct), shim);
            var jobId = await SubmitAsync(jobDir, spec, ct);
            host = $"{Environment.MachineName} [slurm job {jobId}, partition {Cluster.Partition}]/{Name}";
            var end = await WaitAsync(jobId, ct);
            host = $"{end.Node ?? Environment.MachineName} [slurm job {jobId}, partition {Cluster.Partition}]/{Name}";
            var inner = TrialAgent.ReadResult(jobDir);
            var (outcome, reason) = MapState(end.State, end.ExitCode, inner, Tail(Path.Combine(jobDir, OutputFile)));
            reason = CrossCheck(reason, end.MaxRssBytes, inner?.Samples);
            return new TrialResult(outcome, reason, inner?.Samples ?? [], startedAt, DateTimeOffset.Now, host);
        }
        catch (WorkerException e)
        {
            return new TrialResult(TrialOutcome.WorkerFailed, e.Message, [], startedAt, DateTimeOffset.Now, host);
        }
        finally
        {
            Scratch.TryDelete(jobDir);
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

    private void WriteJobFiles(string jobDir, TrialSpec spec, string unique, string agent, string? shim)
    {
        try
        {
            Directory.CreateDirectory(jobDir);
            File.WriteAllText(Path.Combine(jobDir, TrialAgent.RequestFile), TrialAgent.Serialize(new TrialRequest(Name, spec, HeapShim: shim)));
            var script = $"#!/bin/sh\n# Bisector trial {unique}\nexec {ShellQuote.Join([agent, "trial-agent", "--job", jobDir])}\n";
            File.WriteAllText(Path.Combine(jobDir, ScriptFile), script);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WorkerException(Name, $"cannot write the job directory {jobDir}: {e.Message}", "check shared= (or the work root) is writable", e);
        }
    }

    /// <summary>Puts the trial agent on the shared directory once per content hash; returns its path there.</summary>
    private async Task<string> ShipAgentAsync(CancellationToken ct)
    {
        var agent = await TrialAgent.EnsurePublishedAsync(ct: ct);
        return Ship(agent.Executable, Path.Combine(WorkRoot, agent.ContentHash, TrialAgent.ExecutableName), "the trial agent");
    }

    /// <summary>The heap-counter shim, compiled here and copied once per source hash to the shared directory, so nodes
    /// need no gcc and a job's trial records the same heap counters (and trim probe) as a local trial.</summary>
    private async Task<string> ShipHeapShimAsync(CancellationToken ct)
    {
        var shim = await Diagnosis.HeapShim.EnsureBuiltAsync(Name, ct: ct);
        return Ship(shim, Path.Combine(WorkRoot, Path.GetFileName(shim)), "the heap-counter shim");
    }

    private string Ship(string source, string target, string what)
    {
        try
        {
            if (!File.Exists(target))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var temp = $"{target}.{Guid.NewGuid():N}";
                File.Copy(source, temp);
                File.Move(temp, target, overwrite: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WorkerException(Name, $"cannot copy {what} to {target}: {e.Message}", "check shared= (or the work root) is writable and has free space", e);
        }

        return target;
    }

    private async Task<string> SubmitAsync(string jobDir, TrialSpec spec, CancellationToken ct)
    {
        var memMiB = (spec.Recipe.Run.MemoryLimitBytes + Cluster.ExtraMemoryBytes + (1L << 20) - 1) >> 20;
        var time = Cluster.TimeLimit ?? DefaultTimeLimit(spec);
        string[] args =
        [
            "--parsable", $"--partition={Cluster.Partition}", $"--job-name=bisector-{TrialLoop.SafeName(spec.TrialKey)}",
            string.Create(CultureInfo.InvariantCulture, $"--mem={memMiB}M"),
            string.Create(CultureInfo.InvariantCulture, $"--time={(int)Math.Ceiling(time.TotalMinutes)}"),
            "--nodes=1", "--ntasks=1", $"--chdir={jobDir}", $"--output={Path.Combine(jobDir, OutputFile)}",
            Path.Combine(jobDir, ScriptFile),
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
            return ProcessFailedException.TailOf(File.Exists(path) ? File.ReadAllText(path) : path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    [GeneratedRegex(@"^\d+(_\d+)?$")]
    private static partial Regex JobId();
}
