using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Bisector.Recipes;

namespace Bisector.Diagnosis;

public enum ExperimentKind
{
    /// <summary>Another allocator preloaded before the daemon's own (jemalloc, tcmalloc).</summary>
    Allocator,

    /// <summary>One of glibc malloc's tunables pinned through <c>GLIBC_TUNABLES</c>.</summary>
    Tunable,

    /// <summary>The heapstats shim calls <c>malloc_trim(0)</c> once during the window; RSS before vs after says how much
    /// of the memory was free but held.</summary>
    TrimProbe,
}

/// <summary>
/// One controlled change to the daemon's allocator, applied to the same build as a derived recipe: the run's
/// environment gets extra variables and nothing else changes, so a trial under an experiment is an ordinary trial of
/// another recipe (its own hash) and runs on every worker that honours <c>run.env</c>.
/// </summary>
/// <param name="Name">The experiment's name, also the variant its trials are stored under.</param>
/// <param name="Change">What the experiment changes, as the report says it ("under jemalloc").</param>
/// <param name="Library">The preloaded allocator's soname (searched by the dynamic linker on each worker); null otherwise.</param>
/// <param name="Package">The Debian package that provides <paramref name="Library"/>.</param>
public sealed record Experiment(string Name, ExperimentKind Kind, string Change, IReadOnlyDictionary<string, string> Env, string? Library = null, string? Package = null)
{
    public const string TrimAtEnv = "BISECTOR_HEAP_TRIM_AT";

    /// <summary>The trim happens this far into the measured window, so there are samples on both sides of it.</summary>
    public const double TrimAtShare = 0.75;

    // jemalloc keeps freed pages for ~10 s before purging, so its RSS swings by megabytes from trial to trial with
    // the timing of purges (measured on the leak demo: an interval of [−4.8, 1.2] MiB at 8 vs 8 trials). Purging at
    // once makes its RSS follow the memory in use, which is the question the experiment asks.
    public static readonly Experiment Jemalloc = Allocator("jemalloc", "libjemalloc.so.2", "libjemalloc2", ("MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0"));
    public static readonly Experiment Tcmalloc = Allocator("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4");
    public static readonly Experiment MmapThreshold = Tunable("mmap_threshold", 131072);
    public static readonly Experiment TrimThreshold = Tunable("trim_threshold", 131072);
    public static readonly Experiment ArenaMax = Tunable("arena_max", 1);
    public static readonly Experiment Trim = new("trim", ExperimentKind.TrimProbe, "malloc_trim(0) during the window", new Dictionary<string, string>());

    /// <summary>Every experiment, in the order they run and are reported.</summary>
    public static readonly IReadOnlyList<Experiment> All = [Jemalloc, Tcmalloc, MmapThreshold, TrimThreshold, ArenaMax, Trim];

    /// <summary>Experiments by name (<c>--only jemalloc,mmap_threshold,trim</c>).</summary>
    /// <exception cref="UsageException">an unknown name; lists the known ones.</exception>
    public static IReadOnlyList<Experiment> Select(IEnumerable<string> names, string flag)
    {
        var chosen = new List<Experiment>();
        foreach (var name in names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var experiment = All.FirstOrDefault(e => e.Name == name)
                ?? throw new UsageException(flag, $"'{name}' is not an experiment", "use some of: " + string.Join(", ", All.Select(e => e.Name)));
            if (!chosen.Contains(experiment))
                chosen.Add(experiment);
        }

        return chosen.Count == 0 ? All : chosen;
    }

    /// <summary>
    /// The recipe a trial of this experiment runs: the same build and command with this experiment's variables added to
    /// <c>run.env</c> (an allocator goes before a <c>LD_PRELOAD</c> the recipe has; a tunable is appended to its
    /// <c>GLIBC_TUNABLES</c>), heap counters on (they tell whether the allocator really served malloc and when the trim
    /// happened), and a hash of its own so its trials can never be mistaken for the search's.
    /// </summary>
    public Recipe Derive(Recipe recipe)
    {
        var env = new Dictionary<string, string>(recipe.Run.Env);
        foreach (var (key, value) in Env)
        {
            env[key] = !env.TryGetValue(key, out var existing) || existing.Length == 0 ? value
                : key == "LD_PRELOAD" ? value + " " + existing
                : key == "GLIBC_TUNABLES" ? existing + ":" + value
                : key == "MALLOC_CONF" ? existing + "," + value
                : value;
        }

        if (Kind == ExperimentKind.TrimProbe)
        {
            var at = recipe.Sampling.Warmup.TotalSeconds + TrimAtShare * recipe.Sampling.Window.TotalSeconds;
            env[TrimAtEnv] = at.ToString("0.###", CultureInfo.InvariantCulture);
        }

        // The dynamic linker only warns when a preload is missing and runs the daemon without it; the guard turns that
        // into a failed trial whose reason names the package, so a worker without it is reported, never silently used.
        var command = Library is null ? recipe.Run.Command
            : $"if env -u {HeapShim.FileEnv} true 2>&1 | grep -q 'cannot be preloaded'; then " +
              $"echo \"bisector experiment {Name}: {Library} cannot be preloaded on $(uname -n) (apt-get install {Package})\" >&2; exit 127; fi\n" +
              recipe.Run.Command;
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{recipe.Hash}\nexperiment {Name}\n{command}\n" +
            string.Join('\n', env.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value)))));
        return recipe with
        {
            Run = recipe.Run with { Env = env, Command = command },
            Sampling = recipe.Sampling with { HeapCounters = true },
            Hash = hash,
        };
    }

    /// <summary>Why this experiment cannot run on a daemon whose artifacts are all statically linked, or null.</summary>
    public string? BlockedByStaticLinking => Kind == ExperimentKind.Tunable ? null
        : "the daemon is statically linked (no ELF interpreter in its artifacts), so nothing can be preloaded into it";

    private static Experiment Allocator(string name, string library, string package, params (string Key, string Value)[] settings)
    {
        var env = new Dictionary<string, string> { ["LD_PRELOAD"] = library };
        foreach (var (key, value) in settings)
            env[key] = value;
        return new(name, ExperimentKind.Allocator, "under " + name, env, library, package);
    }

    private static Experiment Tunable(string knob, long value)
    {
        var setting = string.Create(CultureInfo.InvariantCulture, $"glibc.malloc.{knob}={value}");
        return new(string.Create(CultureInfo.InvariantCulture, $"{knob}={value}"), ExperimentKind.Tunable, "with " + setting,
            new Dictionary<string, string> { ["GLIBC_TUNABLES"] = setting });
    }
}

/// <summary>Reads ELF headers: whether a build's artifacts can take an <c>LD_PRELOAD</c> at all.</summary>
public static class ElfLinking
{
    /// <summary>
    /// True when the directory holds ELF executables and none of them names an interpreter (PT_INTERP): a statically
    /// linked daemon, which ignores <c>LD_PRELOAD</c>. False when any executable is dynamic, or when there is no ELF file
    /// to judge by (a daemon started from elsewhere): then the experiment runs and the shim's own record tells.
    /// </summary>
    public static bool AllStatic(string directory)
    {
        var executables = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 3 }))
        {
            switch (Inspect(file))
            {
                case ElfKind.Dynamic:
                    return false;
                case ElfKind.Static:
                    executables++;
                    break;
            }
        }

        return executables > 0;
    }

    private enum ElfKind
    {
        NotExecutable,
        Static,
        Dynamic,
    }

    private static ElfKind Inspect(string file)
    {
        try
        {
            using var stream = File.OpenRead(file);
            Span<byte> header = stackalloc byte[64];
            if (stream.Read(header) < 64 || header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F' || header[4] != 2 || header[5] != 1)
                return ElfKind.NotExecutable; // only 64-bit little-endian ELF is judged
            var type = BitConverter.ToUInt16(header[16..]);
            var entry = BitConverter.ToUInt64(header[24..]);
            if (type is not (2 or 3) || entry == 0)
                return ElfKind.NotExecutable;
            var phoff = (long)BitConverter.ToUInt64(header[32..]);
            var phentsize = BitConverter.ToUInt16(header[54..]);
            var phnum = BitConverter.ToUInt16(header[56..]);
            var entryBytes = new byte[phentsize];
            var sawInterp = false;
            for (var i = 0; i < phnum; i++)
            {
                stream.Position = phoff + (long)i * phentsize;
                if (stream.Read(entryBytes) < 4)
                    break;
                if (BitConverter.ToUInt32(entryBytes) == 3) // PT_INTERP
                    sawInterp = true;
            }

            // A shared library (ET_DYN without an interpreter) has an entry too only when it is a static-pie executable;
            // the usual .so next to a daemon is not an executable to judge, so ET_DYN without PT_INTERP counts only by name.
            return sawInterp ? ElfKind.Dynamic
                : type == 2 || !Path.GetFileName(file).Contains(".so", StringComparison.Ordinal) ? ElfKind.Static
                : ElfKind.NotExecutable;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ElfKind.NotExecutable;
        }
    }
}
