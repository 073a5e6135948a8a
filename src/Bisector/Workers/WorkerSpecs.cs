using System.Globalization;

namespace Bisector.Workers;

/// <summary>Turns <c>--workers</c> / <c>bisect.yaml workers:</c> entries into worker instances.</summary>
public static class WorkerSpecs
{
    /// <summary>
    /// <c>local:N</c> → N <see cref="LocalWorker"/>s named <c>local-1</c>..<c>local-N</c>, each with its own directory under
    /// <paramref name="workRoot"/>; <c>ssh://user@host[:port][?identity=…&amp;known-hosts=…&amp;tofu=1&amp;root=…]</c> → an
    /// <see cref="SshWorker"/> (see <see cref="SshTarget"/>); <c>container:…</c> → <see cref="ContainerWorker"/>s;
    /// <c>slurm:…</c> → <see cref="SlurmWorker"/>s. Other schemes are rejected with a <see cref="UsageException"/> naming <c>--workers</c>.
    /// </summary>
    public static IReadOnlyList<IWorker> Parse(IEnumerable<string> specs, string workRoot)
    {
        var workers = new List<IWorker>();
        foreach (var raw in specs)
        {
            var spec = raw.Trim();
            if (spec.StartsWith("local:", StringComparison.Ordinal) || spec == "local")
            {
                var count = spec == "local" ? "1" : spec["local:".Length..];
                if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > 256)
                {
                    throw new UsageException("--workers", $"'{spec}' has an invalid worker count", "write local:N with N between 1 and 256, e.g. local:2");
                }

                AddNumbered("local", n, (name, dir) => new LocalWorker(name, dir));
            }
            else if (spec.StartsWith("ssh://", StringComparison.Ordinal))
            {
                workers.Add(new SshWorker(SshTarget.Parse(spec)));
            }
            else if (spec.StartsWith("container:", StringComparison.Ordinal))
            {
                var (engine, count) = ParseContainer(spec);
                AddNumbered("container", count, (name, dir) => new ContainerWorker(name, engine, dir));
            }
            else if (spec.StartsWith("slurm:", StringComparison.Ordinal))
            {
                var (cluster, count) = ParseSlurm(spec);
                AddNumbered("slurm", count, (name, dir) => new SlurmWorker(name, cluster, dir));
            }
            else
            {
                throw new UsageException("--workers", $"'{spec}' is not a known worker spec",
                    "use local:N, ssh://user@host[:port], container:unix:///run/docker.sock?image=NAME or slurm:PARTITION");
            }
        }

        if (workers.Count == 0)
        {
            throw new UsageException("--workers", "no workers given", "pass at least one, e.g. --workers local:2");
        }

        return workers;

        // Names continue across specs of one kind (local:1 twice gives local-1 and local-2), each with its own directory.
        void AddNumbered(string kind, int count, Func<string, string, IWorker> create)
        {
            var first = workers.Count(w => w.Name.StartsWith(kind + "-", StringComparison.Ordinal)) + 1;
            for (var i = first; i < first + count; i++)
            {
                var name = string.Create(CultureInfo.InvariantCulture, $"{kind}-{i}");
                workers.Add(create(name, Path.Combine(workRoot, name)));
            }
        }
    }

    /// <summary>
    /// The name and kind of every worker <paramref name="specs"/> make, as <see cref="Parse"/> names them; nothing is
    /// started. Null when the specs no longer parse here (a database read on another machine, a rootfs since moved).
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, WorkerKind>?> RosterAsync(IEnumerable<string> specs)
    {
        IReadOnlyList<IWorker> workers;
        try
        {
            workers = Parse(specs, Path.GetTempPath());
        }
        catch (UsageException)
        {
            return null;
        }

        var roster = new Dictionary<string, WorkerKind>();
        foreach (var w in workers)
        {
            roster[w.Name] = w.Kind;
            await w.DisposeAsync();
        }

        return roster;
    }

    /// <summary>
    /// <c>container:unix:///run/docker.sock?image=NAME[&amp;rootfs=TAR][&amp;count=N][&amp;host-libs=false][&amp;nofile=N][&amp;nproc=N]</c>.
    /// The engine and image belong to the worker, not the recipe, so one recipe runs unchanged on local and container workers.
    /// </summary>
    private static (ContainerEngineSpec Engine, int Count) ParseContainer(string spec)
    {
        const string Example = "write e.g. container:unix:///run/docker.sock?image=bisector-base&rootfs=/srv/busybox-rootfs.tar";
        var (endpoint, query) = SpecOptions.Split(spec["container:".Length..]);
        if (!endpoint.StartsWith("unix:///", StringComparison.Ordinal) || !Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new UsageException("--workers", $"'{spec}': the engine endpoint must be a unix socket URL (unix:///path/to/docker.sock)", Example);
        }

        var options = SpecOptions.Parse(spec, query, "image", "rootfs", "count", "host-libs", "nofile", "nproc");
        if (options.Text("image") is not { Length: > 0 } image)
        {
            throw options.Error("no base image given", Example);
        }

        var hostLibs = options.Text("host-libs") switch
        {
            null or "" or "true" => true,
            "false" => false,
            var libs => throw options.Error($"host-libs={libs} is neither true nor false", "write host-libs=false for static builds"),
        };

        // Defaults only ever lower limits (always allowed): the process's own hard nofile limit, and 4096 processes.
        var engine = new ContainerEngineSpec(uri, image, options.Text("rootfs") is { Length: > 0 } rootfs ? Path.GetFullPath(rootfs) : null,
            hostLibs, options.Number("nofile", Math.Min(OwnHardNoFile(), 1 << 20), 1 << 20), options.Number("nproc", 4096, 1 << 22));
        return (engine, (int)options.Number("count", 1, 256));
    }

    /// <summary>
    /// <c>slurm:PARTITION[?count=N][&amp;conf=/etc/slurm/slurm.conf][&amp;extra-mem=MiB][&amp;time=MINUTES][&amp;shared=DIR]</c>.
    /// count is how many jobs may run at once (one worker each); the cluster decides where they run.
    /// </summary>
    private static (SlurmClusterSpec Cluster, int Count) ParseSlurm(string spec)
    {
        var (partition, query) = SpecOptions.Split(spec["slurm:".Length..]);
        if (partition.Length == 0 || partition.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')))
        {
            throw new UsageException("--workers", $"'{spec}': '{partition}' is not a Slurm partition name", "write e.g. slurm:debug?count=2&conf=/etc/slurm/slurm.conf");
        }

        var options = SpecOptions.Parse(spec, query, "count", "conf", "extra-mem", "time", "shared");
        string? FilePath(string key, bool directory)
        {
            if (options.Text(key) is not { } text)
            {
                return null;
            }

            var full = Path.GetFullPath(text);
            return (directory ? Directory.Exists(full) : File.Exists(full)) ? full
                : throw options.Error($"{key}={text} does not exist", directory ? "give an existing shared directory" : "give the path of the cluster's slurm.conf");
        }

        // The job holds the Bisector runner (~100 MiB) and the workload on top of the daemon's run.memory-limit.
        var cluster = new SlurmClusterSpec(partition, FilePath("conf", false), options.Number("extra-mem", 512, 1 << 20) << 20,
            options.Has("time") ? TimeSpan.FromMinutes(options.Number("time", 30, 525_600)) : null, FilePath("shared", true));
        return (cluster, (int)options.Number("count", 1, 256));
    }

    private static long OwnHardNoFile()
    {
        try
        {
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var fields = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields is { Length: >= 5 } && long.TryParse(fields[4], NumberStyles.None, CultureInfo.InvariantCulture, out var hard) ? hard : 1024;
        }
        catch (IOException)
        {
            return 1024;
        }
    }
}
