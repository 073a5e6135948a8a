using System.Globalization;

namespace Bisector.Sampling;

public enum CgroupVersion
{
    V1,
    V2,
}

/// <summary>The files a sampler reads for one memory cgroup, and the <c>memory.stat</c> key of its anonymous memory.</summary>
public sealed record CgroupFiles(string UsageFile, string StatFile, string AnonStatKey);

/// <summary>
/// One memory cgroup created for a trial (v1 under <c>/sys/fs/cgroup/memory/bisector</c>, v2 under
/// <c>/sys/fs/cgroup/bisector</c>): limits, membership, OOM counters and removal. File access only; the parsing is in
/// <see cref="MemoryParsers"/>.
/// </summary>
public sealed class CgroupMemory
{
    public const string DefaultMount = "/sys/fs/cgroup";

    private CgroupMemory(CgroupVersion version, string path)
    {
        Version = version;
        Path = path;
    }

    public CgroupVersion Version { get; }

    public string Path { get; }

    /// <summary>Writing a PID here moves that process (and its future children) into the cgroup.</summary>
    public string ProcsFile => System.IO.Path.Combine(Path, "cgroup.procs");

    public CgroupFiles Files => Version == CgroupVersion.V1
        ? new CgroupFiles(System.IO.Path.Combine(Path, "memory.usage_in_bytes"), System.IO.Path.Combine(Path, "memory.stat"), "rss")
        : new CgroupFiles(System.IO.Path.Combine(Path, "memory.current"), System.IO.Path.Combine(Path, "memory.stat"), "anon");

    /// <summary>cgroup v2 ("unified") when the mount root itself lists controllers; otherwise the v1 memory hierarchy.</summary>
    public static CgroupVersion DetectVersion(string mount = DefaultMount) =>
        File.Exists(System.IO.Path.Combine(mount, "cgroup.controllers")) ? CgroupVersion.V2 : CgroupVersion.V1;

    /// <summary>The directory Bisector creates its trial cgroups in.</summary>
    public static string ParentPath(CgroupVersion version, string mount = DefaultMount) => version == CgroupVersion.V1
        ? System.IO.Path.Combine(mount, "memory", "bisector")
        : System.IO.Path.Combine(mount, "bisector");

    /// <summary>
    /// The memory cgroup a running process already belongs to (a container engine's <c>docker/&lt;id&gt;</c> or
    /// <c>libpod_parent/libpod-&lt;id&gt;</c>), read from <c>/proc/PID/cgroup</c>; null when the process is gone.
    /// </summary>
    public static CgroupMemory? OfProcess(int pid, string mount = DefaultMount)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{pid}/cgroup");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var version = DetectVersion(mount);
        foreach (var parts in lines.Select(l => l.Split(':', 3)).Where(p => p.Length == 3))
        {
            // v1: "4:memory:/docker/<id>"; v2: "0::/system.slice/docker-<id>.scope".
            var relative = parts[2].TrimStart('/');
            if (version == CgroupVersion.V1 && parts[1].Split(',').Contains("memory"))
            {
                return new CgroupMemory(version, System.IO.Path.Combine(mount, "memory", relative));
            }

            if (version == CgroupVersion.V2 && parts[0] == "0")
            {
                return new CgroupMemory(version, System.IO.Path.Combine(mount, relative));
            }
        }

        return null;
    }

    /// <summary>Creates <c>bisector/&lt;name&gt;</c> and, when <paramref name="limitBytes"/> is given, limits memory and
    /// disables swap for it so the limit really bounds the daemon. <paramref name="parentPath"/> nests it elsewhere
    /// instead, e.g. under a Slurm job's own cgroup so the job's limit still covers the daemon.</summary>
    /// <exception cref="WorkerException">The cgroup hierarchy is not writable or lacks the memory controller.</exception>
    public static CgroupMemory Create(string worker, string name, long? limitBytes, string mount = DefaultMount, string? parentPath = null)
    {
        var version = DetectVersion(mount);
        var parent = parentPath ?? ParentPath(version, mount);
        var path = System.IO.Path.Combine(parent, name);
        try
        {
            if (version == CgroupVersion.V1 && !Directory.Exists(System.IO.Path.Combine(mount, "memory")))
            {
                throw new WorkerException(worker, $"no cgroup v1 memory hierarchy at {mount}/memory and no cgroup v2 at {mount}",
                    "mount the memory controller (mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory) or boot with cgroup v2");
            }

            Directory.CreateDirectory(parent);
            if (version == CgroupVersion.V2)
            {
                // v2 only offers memory.* files in a child when every ancestor delegates the controller.
                File.WriteAllText(System.IO.Path.Combine(mount, "cgroup.subtree_control"), "+memory");
                File.WriteAllText(System.IO.Path.Combine(parent, "cgroup.subtree_control"), "+memory");
            }

            Directory.CreateDirectory(path);
            var cgroup = new CgroupMemory(version, path);
            if (limitBytes is { } limit)
            {
                cgroup.SetLimit(limit);
            }

            return cgroup;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WorkerException(worker, $"cannot create memory cgroup {path}: {e.Message}",
                "run Bisector as root (or delegate a writable cgroup subtree) on a kernel with the memory controller", e);
        }
    }

    private void SetLimit(long limit)
    {
        var text = limit.ToString(CultureInfo.InvariantCulture);
        if (Version == CgroupVersion.V1)
        {
            // memsw must stay >= the memory limit, so it is written second; equal values mean "no swap".
            File.WriteAllText(System.IO.Path.Combine(Path, "memory.limit_in_bytes"), text);
            var memsw = System.IO.Path.Combine(Path, "memory.memsw.limit_in_bytes");
            if (File.Exists(memsw))
            {
                File.WriteAllText(memsw, text);
            }
        }
        else
        {
            File.WriteAllText(System.IO.Path.Combine(Path, "memory.max"), text);
            var swap = System.IO.Path.Combine(Path, "memory.swap.max");
            if (File.Exists(swap))
            {
                File.WriteAllText(swap, "0");
            }
        }
    }

    /// <summary>PIDs currently in the cgroup (empty when the cgroup is gone).</summary>
    public IReadOnlyList<int> ReadProcesses()
    {
        try
        {
            return File.ReadAllLines(ProcsFile)
                .Where(l => l.Length > 0)
                .Select(l => int.Parse(l, NumberStyles.None, CultureInfo.InvariantCulture))
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>This cgroup and its ancestors below the hierarchy's root, innermost first: a limit set on an ancestor
    /// (a Slurm job's) is hit, and counted, there rather than here.</summary>
    public IReadOnlyList<CgroupMemory> SelfAndAncestors(string mount = DefaultMount)
    {
        var root = Version == CgroupVersion.V1 ? System.IO.Path.Combine(mount, "memory") : mount;
        var chain = new List<CgroupMemory>();
        for (var dir = Path.TrimEnd('/'); dir.StartsWith(root + "/", StringComparison.Ordinal); dir = System.IO.Path.GetDirectoryName(dir)!)
        {
            chain.Add(new CgroupMemory(Version, dir));
        }

        return chain;
    }

    /// <summary>How many processes the kernel's OOM killer killed in this cgroup (v1 <c>memory.oom_control</c>,
    /// v2 <c>memory.events</c>).</summary>
    public long ReadOomKills() => ReadKeyed(Version == CgroupVersion.V1 ? "memory.oom_control" : "memory.events", "oom_kill"u8);

    /// <summary>How often usage hit the limit (v1 <c>memory.failcnt</c>, v2 <c>memory.events</c> <c>max</c>).</summary>
    public long ReadLimitHits()
    {
        if (Version == CgroupVersion.V2)
        {
            return ReadKeyed("memory.events", "max"u8);
        }

        var bytes = TryReadAll(System.IO.Path.Combine(Path, "memory.failcnt"));
        return MemoryParsers.TryParseSingle(bytes, out var value) ? value : 0;
    }

    private long ReadKeyed(string file, ReadOnlySpan<byte> key)
    {
        var bytes = TryReadAll(System.IO.Path.Combine(Path, file));
        return MemoryParsers.TryParseKeyed(bytes, key, out var value) ? value : 0;
    }

    private static byte[] TryReadAll(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Removes the cgroup once its processes are gone. The kernel refuses (EBUSY) while a dying task is still
    /// being torn down, so removal is retried until <paramref name="wait"/> runs out.</summary>
    public async Task<bool> TryRemoveAsync(TimeSpan wait, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                if (!Directory.Exists(Path))
                {
                    return true;
                }

                // A cgroup directory is removed with rmdir even though it lists files; recursive delete would fail.
                Directory.Delete(Path, recursive: false);
                return true;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, ct);
            }
            catch (IOException)
            {
                return false;
            }
        }
    }
}
