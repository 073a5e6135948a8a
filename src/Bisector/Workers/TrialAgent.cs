using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bisector.Sampling;

namespace Bisector.Workers;

/// <summary>What a remote transport hands the far side: the worker's name (cgroup names, messages), the trial with its
/// artifact path as it is there, the directory trials work in (null: the request's own directory), and the heap-counter
/// shim the controller shipped there (null: compiled there when the recipe wants heap counters).</summary>
public sealed record TrialRequest(string Worker, TrialSpec Spec, string? WorkRoot = null, string? HeapShim = null);

/// <summary>
/// The far side of the remote transports: <c>bisector-agent trial-agent</c> runs one trial with the local cgroup
/// sandbox and the one <see cref="TrialLoop"/>, on a host that has no .NET installed. The agent is its own small
/// program (src/Bisector.Agent: these sources compiled ahead of time to one native file, no runtime to start or JIT),
/// shipped once per host by content hash. Over SSH it streams each tick's samples on its output and ends with the
/// result; in a Slurm job it writes the result into the job directory.
/// </summary>
public static partial class TrialAgent
{
    public const string RequestFile = "trial.json";
    public const string ResultFile = "result.json";

    /// <summary>The agent's file name, on this machine and on every host it is shipped to.</summary>
    public const string ExecutableName = "bisector-agent";

    /// <summary>
    /// <c>trial-agent FILE</c>: reads the request, deletes it, runs the trial and writes <c>pid PID</c>, then one
    /// <c>s SECONDS METRIC VALUE</c> line per sample as they are taken (one write per tick), then <c>result JSON</c>
    /// (the result without its samples). SIGTERM, SIGHUP or a closed output stop the trial; clean-up always runs.
    /// </summary>
    public static async Task<int> StreamAsync(string requestFile, CancellationToken ct = default)
    {
        var request = ReadRequest(requestFile);
        TryDelete(requestFile);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // SSH sends SIGHUP when the session ends; the controller sends SIGTERM to cancel. Either way: stop and clean up.
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        await using var output = Console.OpenStandardOutput();
        var line = new StringBuilder();
        void Write(string text)
        {
            try
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                output.Write(bytes);
                output.Flush();
            }
            catch (IOException)
            {
                // The controller is gone (EPIPE): stop the trial; clean-up still runs.
                stop.Cancel();
            }
        }

        Write($"pid {Environment.ProcessId}\n");
        await using var worker = new LocalWorker(request.Worker, request.WorkRoot ?? Path.GetDirectoryName(Path.GetFullPath(requestFile))!)
        {
            HeapShimLibrary = request.HeapShim,
        };
        var result = await worker.RunTrialAsync(request.Spec, (samples, from) =>
        {
            line.Clear();
            for (var i = from; i < samples.Count; i++)
            {
                var s = samples[i];
                line.Append(CultureInfo.InvariantCulture, $"s {s.Seconds:0.###} {s.Metric} {s.Value:R}\n");
            }

            Write(line.ToString());
        }, stop.Token);
        Write("result " + JsonSerializer.Serialize(result with { Samples = [] }, AgentJson.Default.TrialResult) + "\n");
        return 0;
    }

    /// <summary>Parses one line of <see cref="StreamAsync"/>'s output into <paramref name="samples"/>; returns the pid
    /// or the result when the line carries one. Every sample is kept: the far side's sampler already recorded exactly
    /// what a local trial records (the recipe's metrics and, with heap counters, the shim's).</summary>
    internal static (int? Pid, TrialResult? Result) ReadLine(string line, List<Sample> samples)
    {
        if (line.StartsWith("s ", StringComparison.Ordinal))
        {
            var f = line.Split(' ');
            if (f.Length == 4 && double.TryParse(f[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
                && double.TryParse(f[3], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                samples.Add(new Sample(seconds, f[2], value));
            }

            return (null, null);
        }

        if (line.StartsWith("pid ", StringComparison.Ordinal) && int.TryParse(line[4..], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return (pid, null);
        }

        return line.StartsWith("result ", StringComparison.Ordinal)
            ? (null, JsonSerializer.Deserialize(line["result ".Length..], AgentJson.Default.TrialResult))
            : (null, null);
    }

    /// <summary>
    /// <c>trial-agent --job DIR</c>, in a Slurm job: reads DIR/trial.json, runs the trial with its cgroups nested under
    /// the job's own (so the job's --mem still bounds the daemon), writes DIR/result.json.
    /// </summary>
    public static async Task<int> RunJobAsync(string jobDir, CancellationToken ct = default)
    {
        var request = ReadRequest(Path.Combine(jobDir, RequestFile));
        // Under Slurm's task/cgroup the job has its own memory cgroup; nesting the trial's cgroups there keeps the job's
        // --mem in force over the daemon. Without it (task/none) the job sits in the root cgroup: use Bisector's default.
        var own = CgroupMemory.OfProcess(Environment.ProcessId);
        var jobChain = own?.SelfAndAncestors() ?? [];
        await using var worker = new LocalWorker(request.Worker, jobDir)
        {
            CgroupParent = jobChain.Count > 0 ? own!.Path : null,
            HeapShimLibrary = request.HeapShim,
        };
        var hitsBefore = LimitHits(jobChain);
        var result = await worker.RunTrialAsync(request.Spec, ct);

        // Slurm (22.05, cgroup v1) only notices OOM kills in the job's own cgroup, not in the trial's cgroups nested in it,
        // so a process killed because the job's --mem was reached is recognised here: the job's limit was hit meanwhile.
        var hits = LimitHits(jobChain) - hitsBefore;
        if (hits > 0 && result.Outcome is TrialOutcome.WorkloadFailed or TrialOutcome.DaemonCrashed or TrialOutcome.OutOfMemory)
        {
            result = result with
            {
                Outcome = TrialOutcome.OutOfMemory,
                Reason = string.Create(CultureInfo.InvariantCulture,
                    $"the job's Slurm memory limit (--mem = run.memory-limit + extra-mem) was hit {hits} times and a process was killed; raise extra-mem in the worker spec. The trial reported: {result.Reason}"),
            };
        }

        var temp = Path.Combine(jobDir, ResultFile + ".tmp");
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(result, AgentJson.Default.TrialResult), CancellationToken.None);
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

    internal static string Serialize(TrialRequest request) => JsonSerializer.Serialize(request, AgentJson.Default.TrialRequest);

    internal static TrialResult? ReadResult(string jobDir)
    {
        var path = Path.Combine(jobDir, ResultFile);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), AgentJson.Default.TrialResult) : null;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    private static TrialRequest ReadRequest(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), AgentJson.Default.TrialRequest) ?? throw new JsonException("empty document");
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new WorkerException("trial-agent", $"cannot read the trial request {path}: {e.Message}",
                "the controller writes it just before starting the agent; for Slurm the job directory must be on storage shared with the node (shared=)", e);
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left in the runs directory; harmless, and 'bisector clean' on the host removes it.
        }
    }
}

[JsonSourceGenerationOptions(NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, UseStringEnumConverter = true)]
[JsonSerializable(typeof(TrialRequest))]
[JsonSerializable(typeof(TrialResult))]
internal sealed partial class AgentJson : JsonSerializerContext;
