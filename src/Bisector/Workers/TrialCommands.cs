using System.Text;
using Bisector.Recipes;
using Bisector.Sampling;

namespace Bisector.Workers;

/// <summary>
/// The command lines that put a daemon and its workload into their cgroups and namespaces (the local cgroup sandbox,
/// on this machine or, through the trial agent, on a remote one). Values always travel as argv words, never pasted
/// into script text.
/// </summary>
internal static class TrialCommands
{
    /// <summary>Exit code the wrappers use when the worker's own plumbing (cgroup join, tmpfs mount) failed, so that is
    /// not mistaken for a daemon crash.</summary>
    public const int PlumbingFailed = 125;

    // The wrapper joins the cgroup before exec'ing, so the daemon is inside it from its first instruction.
    // Values arrive as argv ($1 = cgroup.procs, rest = the command), never pasted into this text.
    private const string JoinCgroupScript = "echo $$ > \"$1\" || exit 125; shift; exec \"$@\"";

    // The heap-counter shim comes after the recipe's own LD_PRELOAD: an allocator preloaded there (jemalloc, tcmalloc)
    // must bind malloc() first, or the shim's wrappers would hand every call to glibc and the allocator would be loaded
    // but unused. Then the recipe's command ($c) runs.
    private const string PreloadShimThenRun =
        "if [ -n \"$BISECTOR_HEAP_PRELOAD\" ]; then LD_PRELOAD=\"${LD_PRELOAD:+$LD_PRELOAD }$BISECTOR_HEAP_PRELOAD\"; export LD_PRELOAD; fi; " +
        "unset BISECTOR_HEAP_PRELOAD; exec sh -c \"$c\"";

    // Runs inside the new namespaces: $1 = the recipe's command, $2 = "net" to bring loopback up, rest = tmpfs paths.
    // The shim is preloaded only from here on, so ip and mount never load it.
    private const string InsideScript =
        "c=$1; n=$2; shift 2; " +
        "if [ \"$n\" = net ] && command -v ip >/dev/null 2>&1; then ip link set lo up || exit 125; fi; " +
        "for p do mount -t tmpfs -o mode=0755 bisector-tmpfs \"$p\" || exit 125; done; " + PreloadShimThenRun;

    public static bool MountNamespace(IsolationSpec isolation) => isolation.Mount || isolation.Tmpfs.Count > 0;

    public static bool AnyNamespace(IsolationSpec isolation) => MountNamespace(isolation) || isolation.Pid || isolation.Network;

    /// <summary>The arguments to <c>sh</c> that start the daemon: join <paramref name="procsFile"/>, unshare, mount
    /// the tmpfs paths, run <paramref name="command"/>.</summary>
    public static List<string> Daemon(string procsFile, IsolationSpec isolation, string command)
    {
        var args = new List<string> { "-c", JoinCgroupScript, "bisector-daemon", procsFile };
        if (AnyNamespace(isolation))
        {
            args.Add("unshare");
            if (MountNamespace(isolation))
            {
                args.AddRange(["--mount", "--propagation", "private"]);
            }

            if (isolation.Network)
            {
                args.Add("--net");
            }

            if (isolation.Pid)
            {
                // --fork: the daemon's shell becomes PID 1 of the new namespace; --mount-proc gives it a /proc to match.
                args.AddRange(["--pid", "--fork"]);
                args.Add(MountNamespace(isolation) ? "--mount-proc" : "--kill-child");
            }

            args.Add("--");
        }

        args.AddRange(["sh", "-c", InsideScript, "bisector-inside", command, isolation.Network ? "net" : "-"]);
        if (MountNamespace(isolation))
        {
            args.AddRange(isolation.Tmpfs);
        }

        return args;
    }

    /// <summary>The command of a container's daemon (the engine made its namespaces and mounts): the heap-counter shim
    /// preloaded exactly as in the local sandbox, then <paramref name="command"/>.</summary>
    public static List<string> ContainerDaemon(string command) => ["sh", "-c", "c=$1; " + PreloadShimThenRun, "bisector-inside", command];

    /// <summary>The arguments to <c>sh</c> that start the workload: join <paramref name="procsFile"/>, enter the
    /// namespaces of <paramref name="rootPid"/> (the daemon's namespace root), run <paramref name="command"/>.</summary>
    public static List<string> Workload(string procsFile, IsolationSpec isolation, string rootPid, string artifactDirectory, string command)
    {
        var args = new List<string> { "-c", JoinCgroupScript, "bisector-workload", procsFile };
        if (AnyNamespace(isolation))
        {
            args.AddRange(["nsenter", "--target", rootPid]);
            if (MountNamespace(isolation))
            {
                // Entering a mount namespace resets the cwd to its root, so the artifact directory is set again.
                args.AddRange(["--mount", $"--wd={artifactDirectory}"]);
            }

            if (isolation.Network)
            {
                args.Add("--net");
            }

            if (isolation.Pid)
            {
                args.Add("--pid");
            }

            args.Add("--");
        }

        args.AddRange(["sh", "-c", command]);
        return args;
    }

    /// <summary>Creates a trial's run directory and writes the recipe's <c>run.files</c> into it (never outside it).</summary>
    public static void WriteRunDirectory(string worker, string runDirectory, Recipes.Recipe recipe)
    {
        try
        {
            Directory.CreateDirectory(runDirectory);
            foreach (var (relative, content) in recipe.Run.Files)
            {
                var target = Path.GetFullPath(Path.Combine(runDirectory, relative));
                if (Path.IsPathRooted(relative) || !target.StartsWith(runDirectory + "/", StringComparison.Ordinal))
                {
                    throw new ConfigException(recipe.SourceFile, null, $"run.files: '{relative}' is not inside $BISECTOR_RUN_DIR",
                        "use a relative path without '..'");
                }

                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.WriteAllText(target, content);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WorkerException(worker, $"cannot prepare run directory {runDirectory}: {e.Message}", "check the work root is writable and has free space", e);
        }
    }

    /// <summary>Removes a trial's run directory; what cannot be removed is added to <paramref name="problems"/>.</summary>
    public static void RemoveRunDirectory(string? runDirectory, List<string> problems)
    {
        if (runDirectory is null || !Directory.Exists(runDirectory))
        {
            return;
        }

        try
        {
            Directory.Delete(runDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add($"run directory {runDirectory} could not be removed: {e.Message}");
        }
    }
}

/// <summary>Quoting for POSIX shells, for the few places a command line must be text (an SSH exec request).</summary>
public static class ShellQuote
{
    /// <summary>One word, single-quoted: every character is literal, and an embedded <c>'</c> becomes <c>'\''</c>.
    /// NUL cannot be passed in argv or the environment at all, so it is rejected rather than silently cut.</summary>
    public static string Quote(string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("a shell word cannot contain NUL", nameof(value));
        }

        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>Words joined with spaces, each quoted, except exact matches of <paramref name="raw"/> keys, which are
    /// replaced by their (trusted, controller-written) shell expansion such as <c>"$procs"</c>.</summary>
    public static string Join(IEnumerable<string> words, IReadOnlyDictionary<string, string>? raw = null)
    {
        var text = new StringBuilder();
        foreach (var word in words)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            text.Append(raw is not null && raw.TryGetValue(word, out var expansion) ? expansion : Quote(word));
        }

        return text.ToString();
    }
}
