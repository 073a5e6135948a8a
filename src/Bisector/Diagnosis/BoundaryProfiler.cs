using System.Diagnostics;
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
    public static bool Available => Posix.Which("heaptrack") is not null && Posix.Which("heaptrack_print") is not null;

    public static async Task<string> CompareAsync(Recipe recipe, string goodArtifact, string badArtifact, Action<string> log, CancellationToken ct = default)
    {
        var work = Directory.CreateTempSubdirectory("bisector-prof-").FullName;
        try
        {
            log("boundary profile: heaptrack on the last good build");
            var good = BoundaryProfile.Parse(await PrintAsync(await RecordAsync(recipe, goodArtifact, Path.Combine(work, "good"), ct), ct));
            log("boundary profile: heaptrack on the culprit");
            var bad = BoundaryProfile.Parse(await PrintAsync(await RecordAsync(recipe, badArtifact, Path.Combine(work, "bad"), ct), ct));
            if (good.Count == 0 || bad.Count == 0)
                return "(no allocation sites recorded: is run.command a single command heaptrack can start, without a wrapper script?)";
            return BoundaryProfile.Compare(good, bad);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static async Task<string> PrintAsync(string data, CancellationToken ct)
    {
        string[] args = ["-f", data, "-p", "1", "-a", "0", "-T", "1", "-n", "15", "-s", "1"];
        var result = await CliWrap.Cli.Wrap("heaptrack_print").WithArguments(args).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(ct);
        if (result.ExitCode != 0)
            throw new ProcessFailedException("heaptrack_print " + string.Join(' ', args), result.ExitCode, Environment.CurrentDirectory, Tail(result.StandardError));
        return result.StandardOutput;
    }

    /// <summary>Runs one build under heaptrack for warm-up + window with the workload; returns the data file.</summary>
    private static async Task<string> RecordAsync(Recipe recipe, string artifact, string runDir, CancellationToken ct)
    {
        Directory.CreateDirectory(runDir);
        foreach (var (relative, content) in recipe.Run.Files)
        {
            var target = Path.Combine(runDir, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await File.WriteAllTextAsync(target, content, ct);
        }

        var env = new Dictionary<string, string?>
        {
            ["BISECTOR_COMMIT"] = Path.GetFileName(runDir),
            ["BISECTOR_ARTIFACT"] = artifact,
            ["BISECTOR_RUN_DIR"] = runDir,
            ["BISECTOR_TRIAL"] = "profile-" + Path.GetFileName(runDir),
        };
        var output = Path.Combine(runDir, "heaptrack");
        env["BISECTOR_PROFILE_OUTPUT"] = output;
        // heaptrack must start the daemon itself: under a shell its preload records the shell and not what the shell
        // execs. So the shell expands the recipe's command (its $VARIABLES and quoting) with heaptrack in front; this
        // fits a command that is one simple command, as run.command usually is.
        using var heaptrack = Start("sh", ["-c", "exec heaptrack -o \"$BISECTOR_PROFILE_OUTPUT\" " + recipe.Run.Command], artifact, env, recipe.Run.Env);
        Process? workload = null;
        try
        {
            var clock = Stopwatch.StartNew();
            var ready = recipe.Run.Ready?.File is { } file ? LocalWorker.Expand(file, env) : null;
            if (ready is not null && !Path.IsPathRooted(ready))
                ready = Path.Combine(artifact, ready);
            while (ready is not null && !File.Exists(ready))
            {
                if (heaptrack.HasExited || clock.Elapsed > (recipe.Run.Ready?.Timeout ?? TimeSpan.FromSeconds(30)) + TimeSpan.FromSeconds(20))
                    throw new ProcessFailedException($"heaptrack -o {output} {recipe.Run.Command}", heaptrack.HasExited ? heaptrack.ExitCode : -1, artifact,
                        $"{ready} did not appear under heaptrack");
                await Task.Delay(50, ct);
            }

            var end = clock.Elapsed + recipe.Sampling.Warmup + recipe.Sampling.Window;
            while (clock.Elapsed < end && !heaptrack.HasExited)
            {
                if (recipe.Workload is { } w && (workload is null || (workload.HasExited && w.Restart)))
                {
                    workload?.Dispose();
                    workload = Start("sh", ["-c", w.Command], artifact, env, w.Env);
                }

                await Task.Delay(100, ct);
            }
        }
        finally
        {
            if (workload is { HasExited: false })
                workload.Kill(entireProcessTree: true);
            workload?.Dispose();
            await StopDaemonAsync(heaptrack, recipe.Run.StopTimeout);
        }

        return Directory.GetFiles(runDir, "heaptrack.*").FirstOrDefault(f => !f.EndsWith(".pipe", StringComparison.Ordinal))
            ?? throw new ProcessFailedException($"heaptrack -o {output}", heaptrack.ExitCode, artifact, "heaptrack wrote no data file");
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

    private static Process Start(string file, IEnumerable<string> args, string cwd, Dictionary<string, string?> env, IReadOnlyDictionary<string, string> extra)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        foreach (var (k, v) in env)
            info.Environment[k] = v;
        foreach (var (k, v) in extra)
            info.Environment[k] = v;
        var process = Process.Start(info) ?? throw new ProcessFailedException(file, -1, cwd, "could not start");
        // Drained so a chatty daemon can never block on a full pipe.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static string Tail(string text) => string.Join('\n', text.TrimEnd().Split('\n').TakeLast(20));
}
