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

                var first = workers.Count(w => w is LocalWorker) + 1;
                for (var i = first; i < first + n; i++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"local-{i}");
                    workers.Add(new LocalWorker(name, Path.Combine(workRoot, name)));
                }
            }
            else if (spec.StartsWith("ssh://", StringComparison.Ordinal))
            {
                workers.Add(new SshWorker(SshTarget.Parse(spec)));
            }
            else if (spec.StartsWith("container:", StringComparison.Ordinal))
            {
                var (engine, count) = ParseContainer(spec);
                var first = workers.Count(w => w is ContainerWorker) + 1;
                for (var i = first; i < first + count; i++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"container-{i}");
                    workers.Add(new ContainerWorker(name, engine, Path.Combine(workRoot, name)));
                }
            }
            else if (spec.StartsWith("slurm:", StringComparison.Ordinal))
            {
                var (cluster, count) = ParseSlurm(spec);
                var first = workers.Count(w => w is SlurmWorker) + 1;
                for (var i = first; i < first + count; i++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"slurm-{i}");
                    workers.Add(new SlurmWorker(name, cluster, Path.Combine(workRoot, name)));
                }
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
        var rest = spec["container:".Length..];
        var q = rest.IndexOf('?');
        var query = q >= 0 ? rest[(q + 1)..] : "";
        var endpoint = q >= 0 ? rest[..q] : rest;
        if (!endpoint.StartsWith("unix:///", StringComparison.Ordinal) || !Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new UsageException("--workers", $"'{spec}': the engine endpoint must be a unix socket URL (unix:///path/to/docker.sock)", Example);
        }

        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = eq < 0 ? pair : pair[..eq];
            if (key is not ("image" or "rootfs" or "count" or "host-libs" or "nofile" or "nproc"))
            {
                throw new UsageException("--workers", $"'{spec}': unknown option '{key}'", "use image, rootfs, count, host-libs, nofile or nproc");
            }

            options[key] = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
        }

        if (!options.TryGetValue("image", out var image) || image.Length == 0)
        {
            throw new UsageException("--workers", $"'{spec}': no base image given", Example);
        }

        long Number(string key, long fallback, long max)
        {
            if (!options.TryGetValue(key, out var text))
            {
                return fallback;
            }

            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max
                ? n
                : throw new UsageException("--workers", $"'{spec}': {key}={text} is not a number between 1 and {max}", $"e.g. {key}={fallback}");
        }

        var hostLibs = !options.TryGetValue("host-libs", out var libs) || libs is "" or "true"
            ? true
            : libs == "false" ? false : throw new UsageException("--workers", $"'{spec}': host-libs={libs} is neither true nor false", "write host-libs=false for static builds");

        // Defaults only ever lower limits (always allowed): the process's own hard nofile limit, and 4096 processes.
        var engine = new ContainerEngineSpec(uri, image, options.GetValueOrDefault("rootfs") is { Length: > 0 } rootfs ? Path.GetFullPath(rootfs) : null,
            hostLibs, Number("nofile", Math.Min(OwnHardNoFile(), 1 << 20), 1 << 20), Number("nproc", 4096, 1 << 22));
        return (engine, (int)Number("count", 1, 256));
    }

    /// <summary>
    /// <c>slurm:PARTITION[?count=N][&amp;conf=/etc/slurm/slurm.conf][&amp;extra-mem=MiB][&amp;time=MINUTES][&amp;shared=DIR]</c>.
    /// count is how many jobs may run at once (one worker each); the cluster decides where they run.
    /// </summary>
    private static (SlurmClusterSpec Cluster, int Count) ParseSlurm(string spec)
    {
        const string Example = "write e.g. slurm:debug?count=2&conf=/etc/slurm/slurm.conf";
        var rest = spec["slurm:".Length..];
        var q = rest.IndexOf('?');
        var partition = q >= 0 ? rest[..q] : rest;
        if (partition.Length == 0 || partition.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')))
        {
            throw new UsageException("--workers", $"'{spec}': '{partition}' is not a Slurm partition name", Example);
        }

        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in (q >= 0 ? rest[(q + 1)..] : "").Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = eq < 0 ? pair : pair[..eq];
            if (key is not ("count" or "conf" or "extra-mem" or "time" or "shared"))
            {
                throw new UsageException("--workers", $"'{spec}': unknown option '{key}'", "use count, conf, extra-mem, time or shared");
            }

            options[key] = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
        }

        long Number(string key, long fallback, long max)
        {
            if (!options.TryGetValue(key, out var text))
            {
                return fallback;
            }

            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max
                ? n
                : throw new UsageException("--workers", $"'{spec}': {key}={text} is not a number between 1 and {max}", $"e.g. {key}={fallback}");
        }

        string? FilePath(string key, bool directory)
        {
            if (!options.TryGetValue(key, out var text))
            {
                return null;
            }

            var full = Path.GetFullPath(text);
            return (directory ? Directory.Exists(full) : File.Exists(full)) ? full
                : throw new UsageException("--workers", $"'{spec}': {key}={text} does not exist", directory ? "give an existing shared directory" : "give the path of the cluster's slurm.conf");
        }

        // The job holds the Bisector runner (~100 MiB) and the workload on top of the daemon's run.memory-limit.
        var cluster = new SlurmClusterSpec(partition, FilePath("conf", false), Number("extra-mem", 512, 1 << 20) << 20,
            options.ContainsKey("time") ? TimeSpan.FromMinutes(Number("time", 30, 525_600)) : null, FilePath("shared", true));
        return (cluster, (int)Number("count", 1, 256));
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
