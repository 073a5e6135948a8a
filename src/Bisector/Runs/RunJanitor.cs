using System.Collections.Concurrent;
using System.Globalization;
using Bisector.Git;
using Bisector.Sampling;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Runs;

/// <summary>What a clean-up found and removed, to print and to check in tests.</summary>
public sealed record Cleanup(
    string RunId,
    IReadOnlyList<int> KilledProcesses,
    IReadOnlyList<string> RemovedCgroups,
    IReadOnlyList<string> RemovedWorktrees,
    IReadOnlyList<string> RemovedDirectories,
    IReadOnlyList<InFlightRow> InFlight,
    IReadOnlyList<string> Problems)
{
    public bool FoundAnything => KilledProcesses.Count + RemovedCgroups.Count + RemovedWorktrees.Count + RemovedDirectories.Count + InFlight.Count > 0;

    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture,
            $"run {RunId}: {InFlight.Count} unfinished build(s)/trial(s) discarded, {KilledProcesses.Count} process(es) killed, {RemovedCgroups.Count} cgroup(s), {RemovedWorktrees.Count} worktree(s) and {RemovedDirectories.Count} folder(s) removed")
        + (Problems.Count == 0 ? string.Empty : "; not removed: " + string.Join("; ", Problems));
}

/// <summary>
/// Finds and removes what an orchestrator that died (kill -9, power loss, a forced second Ctrl+C) left behind: daemons
/// and workloads in their memory cgroups, build processes, git worktrees and the run's temporary folder. Everything is
/// found by the run's unique id — cgroups are named <c>WORKER-RUNID-POSITION-INDEX-GUID</c>, the temporary folder is
/// <c>/tmp/bisector-RUNID</c> — so another run, or anything else on the machine, is never touched.
/// </summary>
public static class RunJanitor
{
    // Runs this process is executing now; a forced stop kills their daemons before the process exits.
    private static readonly ConcurrentDictionary<string, byte> Active = new();

    public static string WorkRoot(string runId) => Path.Combine(Path.GetTempPath(), $"bisector-{runId}");

    internal static void Register(string runId) => Active[runId] = 0;

    internal static void Unregister(string runId) => Active.TryRemove(runId, out _);

    /// <summary>This process as a run owner: PID plus its start time, so a later process reusing the PID is not taken for it.</summary>
    public static RunOwnerRow Me(string runId) =>
        new(runId, Environment.MachineName, Environment.ProcessId, ProcessStart(Environment.ProcessId) ?? "?", WorkRoot(runId), ResultsStore.Iso(DateTimeOffset.UtcNow));

    /// <summary>True when the recorded owner is a live process on this host other than this one.</summary>
    public static bool IsAlive(RunOwnerRow owner) =>
        owner.Host == Environment.MachineName && owner.Pid != Environment.ProcessId
        && ProcessStart((int)owner.Pid) is { } start && start == owner.PidStart;

    /// <summary>For a forced stop: SIGKILL every process in the cgroups of the runs this process executes. No waiting.</summary>
    public static void KillActiveNow()
    {
        foreach (var runId in Active.Keys)
        {
            foreach (var cgroup in Cgroups(runId))
            {
                foreach (var pid in ReadPids(Path.Combine(cgroup, "cgroup.procs")))
                {
                    Posix.Kill(pid, Posix.SigKill);
                }
            }
        }
    }

    /// <summary>Refuses to touch a run another live process still owns, then removes its leftovers.</summary>
    public static async Task<Cleanup> CleanAsync(ResultsStore store, RunRow run, CancellationToken ct = default)
    {
        if (await store.GetOwnerAsync(run.Id, ct) is { } owner && IsAlive(owner))
        {
            throw new StorageException(
                $"run {run.Id} is still being executed by process {owner.Pid} on {owner.Host} (since {owner.ClaimedAt})",
                $"Wait for it to end, or stop it with Ctrl+C (kill -INT {owner.Pid}) first; two processes must never run one run");
        }

        var inFlight = await store.GetInFlightAsync(run.Id, ct);
        var cleanup = await RemoveLeftoversAsync(run.Id, run.RepoPath, ct);
        await store.RemoveInFlightAsync(run.Id, "build", null, ct);
        await store.RemoveInFlightAsync(run.Id, "trial", null, ct);
        return cleanup with { InFlight = inFlight };
    }

    /// <summary>Kills and removes everything named after <paramref name="runId"/>; safe to call when nothing is left.</summary>
    public static async Task<Cleanup> RemoveLeftoversAsync(string runId, string repositoryPath, CancellationToken ct = default)
    {
        var killed = new List<int>();
        var cgroups = new List<string>();
        var worktrees = new List<string>();
        var directories = new List<string>();
        var problems = new List<string>();
        var workRoot = WorkRoot(runId);

        // Daemons and workloads: everything in the run's cgroups. SIGTERM first so a daemon can flush, then SIGKILL.
        var groups = Cgroups(runId).ToList();
        foreach (var signal in new[] { Posix.SigTerm, Posix.SigKill })
        {
            foreach (var pid in groups.SelectMany(g => ReadPids(Path.Combine(g, "cgroup.procs"))))
            {
                if (Posix.Kill(pid, signal) && !killed.Contains(pid))
                {
                    killed.Add(pid);
                }
            }

            await WaitAsync(() => groups.All(g => ReadPids(Path.Combine(g, "cgroup.procs")).Count == 0), TimeSpan.FromSeconds(2), ct);
        }

        // Builds (make, gcc, recipe steps) run in worktrees under the run's folder: found by their working directory.
        foreach (var pid in ProcessesUnder(workRoot))
        {
            if (Posix.Kill(pid, Posix.SigKill))
            {
                killed.Add(pid);
            }
        }

        foreach (var group in groups)
        {
            if (await RemoveCgroupAsync(group, ct))
            {
                cgroups.Add(group);
            }
            else
            {
                problems.Add($"cgroup {group} still has processes");
            }
        }

        var (trees, treeProblems) = await GitWorktree.RemoveAllUnderAsync(repositoryPath, workRoot, ct);
        worktrees.AddRange(trees);
        problems.AddRange(treeProblems);

        if (Directory.Exists(workRoot))
        {
            try
            {
                Directory.Delete(workRoot, recursive: true);
                directories.Add(workRoot);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{workRoot}: {e.Message}");
            }
        }

        return new Cleanup(runId, killed, cgroups, worktrees, directories, [], problems);
    }

    /// <summary>The run's cgroups: trial keys start with the run id, and the worker name comes before them.</summary>
    public static IEnumerable<string> Cgroups(string runId)
    {
        var parent = CgroupMemory.ParentPath(CgroupMemory.DetectVersion());
        if (!Directory.Exists(parent))
        {
            return [];
        }

        var marker = "-" + TrialLoop.SafeName(runId) + "-";
        return Directory.EnumerateDirectories(parent).Where(d => Path.GetFileName(d).Contains(marker, StringComparison.Ordinal)).ToList();
    }

    private static IEnumerable<int> ProcessesUnder(string root)
    {
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            string? cwd = null;
            try
            {
                cwd = new DirectoryInfo(Path.Combine(entry, "cwd")).LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or a kernel thread.
            }

            if (cwd is not null && (cwd == root || cwd.StartsWith(root + "/", StringComparison.Ordinal)))
            {
                yield return pid;
            }
        }
    }

    private static async Task<bool> RemoveCgroupAsync(string path, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            try
            {
                if (!Directory.Exists(path))
                {
                    return true;
                }

                foreach (var pid in ReadPids(Path.Combine(path, "cgroup.procs")))
                {
                    Posix.Kill(pid, Posix.SigKill);
                }

                Directory.Delete(path, recursive: false);
                return true;
            }
            catch (IOException)
            {
                // EBUSY until the last member has been reaped.
                await Task.Delay(100, ct);
            }
        }

        return false;
    }

    private static List<int> ReadPids(string procsFile)
    {
        try
        {
            return [.. File.ReadAllLines(procsFile).Where(l => l.Length > 0).Select(l => int.Parse(l, CultureInfo.InvariantCulture))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static async Task WaitAsync(Func<bool> done, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, ct);
        }
    }

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null when the process is gone.</summary>
    internal static string? ProcessStart(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[19];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
