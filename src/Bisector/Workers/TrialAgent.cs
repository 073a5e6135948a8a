using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bisector.Sampling;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Workers;

/// <summary>What a remote transport hands the far side: the worker's name (cgroup names, messages), the trial with its
/// artifact path as it is there, the directory trials work in (null: the request's own directory), and the heap-counter
/// shim the controller shipped there (null: compiled there when the recipe wants heap counters).</summary>
public sealed record TrialRequest(string Worker, TrialSpec Spec, string? WorkRoot = null, string? HeapShim = null);

/// <summary>
/// The far side of the remote transports: <c>bisector trial-agent</c> runs one trial with the local cgroup sandbox and
/// the one <see cref="TrialLoop"/>, on a host that has no .NET installed (the agent is this program published
/// self-contained as one file, shipped once per host by content hash). Over SSH it streams each tick's samples on its
/// output and ends with the result; in a Slurm job it writes the result into the job directory.
/// </summary>
public static class TrialAgent
{
    public const string RequestFile = "trial.json";
    public const string ResultFile = "result.json";

    // Source-generated: the agent starts once per trial, and reflection-based serialization would JIT its emitted
    // code on every start.
    private static readonly JsonSerializerOptions Json = AgentJson.Default.Options;

    private static readonly SemaphoreSlim PublishGate = new(1, 1);
    private static Agent? _published;

    /// <summary>The published agent: a directory holding only the <c>bisector</c> executable, and its content hash.</summary>
    public sealed record Agent(string Directory, string Executable, string ContentHash, long Bytes);

    /// <summary>
    /// <c>trial-agent FILE</c>: reads the request, deletes it, runs the trial and writes <c>pid PID</c>, then one
    /// <c>s SECONDS METRIC VALUE</c> line per sample as they are taken (one write per tick), then <c>result JSON</c>
    /// (the result without its samples). SIGTERM, SIGHUP or a closed output stop the trial; clean-up always runs.
    /// </summary>
    public static async Task<int> StreamAsync(string requestFile, CancellationToken ct = default)
    {
        var request = Read<TrialRequest>(requestFile, "the trial request");
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
        Write("result " + JsonSerializer.Serialize(result with { Samples = [] }, Json) + "\n");
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
            ? (null, JsonSerializer.Deserialize<TrialResult>(line["result ".Length..], Json))
            : (null, null);
    }

    /// <summary>
    /// <c>trial-agent --job DIR</c>, in a Slurm job: reads DIR/trial.json, runs the trial with its cgroups nested under
    /// the job's own (so the job's --mem still bounds the daemon), writes DIR/result.json.
    /// </summary>
    public static async Task<int> RunJobAsync(string jobDir, CancellationToken ct = default)
    {
        var request = Read<TrialRequest>(Path.Combine(jobDir, RequestFile), "the trial request");
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

    internal static string Serialize(TrialRequest request) => JsonSerializer.Serialize(request, Json);

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

    private static T Read<T>(string path, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) ?? throw new JsonException("empty document");
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new WorkerException("trial-agent", $"cannot read {what} {path}: {e.Message}",
                "the controller writes it just before starting the agent; for Slurm the job directory must be on storage shared with the node (shared=)", e);
        }
    }

    /// <summary>
    /// The agent to ship: <c>$BISECTOR_AGENT</c> if set; this very program when it runs as a published single file;
    /// otherwise this checkout's sources published once (self-contained, single file, linux-x64) into
    /// <c>~/.cache/bisector/agent/VERSION</c>, keyed by this build's module version id.
    /// </summary>
    public static async Task<Agent> EnsurePublishedAsync(Action<string>? log = null, CancellationToken ct = default)
    {
        if (_published is { } known)
        {
            return known;
        }

        await PublishGate.WaitAsync(ct);
        try
        {
            return _published ??= await LocateAsync(log, ct);
        }
        finally
        {
            PublishGate.Release();
        }
    }

    private static async Task<Agent> LocateAsync(Action<string>? log, CancellationToken ct)
    {
        var cache = Path.Combine(Diagnosis.HeapShim.DefaultCacheDirectory, "agent");
        if (System.Environment.GetEnvironmentVariable("BISECTOR_AGENT") is { Length: > 0 } given)
        {
            return File.Exists(given)
                ? Copy(given, cache)
                : throw new WorkerException("trial-agent", $"BISECTOR_AGENT={given} does not exist", "point it at a published bisector or unset it");
        }

        // A single-file build has no bisector.dll beside it: then the running program is the agent.
        if (!File.Exists(Path.Combine(AppContext.BaseDirectory, "bisector.dll")) && System.Environment.ProcessPath is { } self)
        {
            return Copy(self, cache);
        }

        var version = typeof(TrialAgent).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..16];
        var directory = Path.Combine(cache, "build-" + version);
        var executable = Path.Combine(directory, "bisector");
        if (!File.Exists(executable))
        {
            var sources = FindSources() ?? throw new WorkerException("trial-agent",
                $"no trial agent for remote hosts: this build ({AppContext.BaseDirectory}) is not a checkout's and BISECTOR_AGENT is not set",
                "publish one (dotnet publish src/Bisector -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true) and set BISECTOR_AGENT to it");
            log?.Invoke($"publishing the trial agent for remote hosts (self-contained, once per build) into {directory}");
            await PublishAsync(sources, directory, ct);
        }

        return Describe(directory, executable);
    }

    private static Agent Copy(string file, string cache)
    {
        var hash = Hash(file);
        var directory = Path.Combine(cache, hash);
        var executable = Path.Combine(directory, "bisector");
        if (!File.Exists(executable))
        {
            Directory.CreateDirectory(directory);
            var temp = executable + $".{Guid.NewGuid():N}";
            File.Copy(file, temp);
            File.Move(temp, executable, overwrite: true);
        }

        return new Agent(directory, executable, hash, new FileInfo(executable).Length);
    }

    private static Agent Describe(string directory, string executable) =>
        new(directory, executable, Hash(executable), new FileInfo(executable).Length);

    private static string Hash(string file)
    {
        using var stream = File.OpenRead(file);
        return "agent-" + Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
    }

    /// <summary>The checkout this build came from: the first parent of the build directory with src/Bisector/Bisector.csproj.</summary>
    private static string? FindSources()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "src", "Bisector", "Bisector.csproj")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>Publishes from a copy of the sources (its own obj/ and bin/, so a build running in the checkout at the same
    /// time is not disturbed) and moves the single file into place.</summary>
    private static async Task PublishAsync(string checkout, string directory, CancellationToken ct)
    {
        var stage = Directory.CreateTempSubdirectory("bisector-agent-").FullName;
        try
        {
            CopyTree(Path.Combine(checkout, "src", "Bisector"), Path.Combine(stage, "src", "Bisector"));
            foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props", "global.json", "nuget.config", "NuGet.Config", "recipes/demo-daemon.yaml" })
            {
                if (File.Exists(Path.Combine(checkout, file)))
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(stage, file))!);
                    File.Copy(Path.Combine(checkout, file), Path.Combine(stage, file));
                }
            }

            // Warnings are the checkout build's business (it treats them as errors); single-file analysis adds its own.
            string[] args =
            [
                "publish", Path.Combine(stage, "src", "Bisector", "Bisector.csproj"), "-c", "Release", "-r", "linux-x64", "--self-contained",
                "-p:PublishSingleFile=true", "-p:TreatWarningsAsErrors=false", "-p:DebugType=none", "-o", Path.Combine(stage, "out"), "-nologo", "-v", "q",
            ];
            var clock = Stopwatch.StartNew();
            var result = await CliWrap.Cli.Wrap("dotnet").WithArguments(args).WithWorkingDirectory(stage)
                .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(ct);
            if (result.ExitCode != 0 || !File.Exists(Path.Combine(stage, "out", "bisector")))
            {
                throw new ProcessFailedException("dotnet " + string.Join(' ', args), result.ExitCode, stage,
                    string.Join('\n', (result.StandardOutput + result.StandardError).TrimEnd().Split('\n').TakeLast(20)));
            }

            Directory.CreateDirectory(directory);
            var temp = Path.Combine(directory, $".bisector-{Guid.NewGuid():N}");
            File.Move(Path.Combine(stage, "out", "bisector"), temp);
            File.Move(temp, Path.Combine(directory, "bisector"), overwrite: true);
            Trace.WriteLine($"trial agent published in {clock.Elapsed.TotalSeconds:0} s");
        }
        finally
        {
            Directory.Delete(stage, recursive: true);
        }
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith("bin/", StringComparison.Ordinal) || relative.StartsWith("obj/", StringComparison.Ordinal))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, relative))!);
            File.Copy(file, Path.Combine(to, relative));
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
