using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Bisector.Sampling;
using Bisector.Statistics;

namespace Bisector.Recipes;

/// <summary>
/// Loads a recipe YAML file into a validated <see cref="Recipe"/>. Every problem becomes a <see cref="ConfigException"/>
/// naming the file, the line and the fix; nothing else escapes, whatever the input.
/// </summary>
public static partial class RecipeLoader
{
    // Defaults live here, public, so the CLI can show them and the README can be checked against them.
    public static readonly TimeSpan DefaultBuildTimeout = TimeSpan.FromMinutes(30);
    public static readonly TimeSpan DefaultReadyTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan DefaultWarmup = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(10);
    public const long DefaultMemoryLimitBytes = 1L << 30;
    public const int DefaultRepeats = 3;
    public const int DefaultMaxTrials = 12;
    public static readonly IReadOnlyList<string> DefaultMetrics = [Metrics.RssAnon, Metrics.VmRss, Metrics.CgroupUsage];

    /// <summary>Metric names a sampler knows; <c>heap_*</c> names are also allowed when heap counters are on.</summary>
    public static readonly IReadOnlyList<string> KnownMetrics =
        [Metrics.RssAnon, Metrics.VmRss, Metrics.RssFile, Metrics.VmData, Metrics.CgroupUsage, Metrics.CgroupRss];

    /// <summary>Environment variables Bisector sets itself; a recipe may not override them.</summary>
    public static readonly IReadOnlyList<string> ReservedEnvironment =
        ["BISECTOR_COMMIT", "BISECTOR_SRC", "BISECTOR_ARTIFACT", "BISECTOR_RUN_DIR", "BISECTOR_TRIAL"];

    internal const long MaxPatchBytes = 16L * 1024 * 1024;
    internal const int MaxSamplesPerTrial = 1_000_000;

    private static readonly string[] RootKeys = ["name", "description", "build", "run", "workload", "sampling", "decide", "trials"];
    private static readonly string[] BuildKeys = ["mode", "prepare", "patches", "steps", "artifacts", "env", "timeout", "sparse-exclude"];
    private static readonly string[] RunKeys = ["command", "env", "files", "ready", "memory-limit", "isolation", "stop-timeout"];
    private static readonly string[] ReadyKeys = ["file", "timeout"];
    private static readonly string[] IsolationKeys = ["mount", "pid", "network", "tmpfs"];
    private static readonly string[] WorkloadKeys = ["command", "env", "restart"];
    private static readonly string[] SamplingKeys = ["interval", "warmup", "window", "metrics", "heap-counters"];
    private static readonly string[] DecideKeys = ["metric", "feature", "direction", "min-effect"];
    private static readonly string[] TrialsKeys = ["repeats", "max"];

    private static readonly (string Path, string[] Keys)[] Sections =
    [
        ("build", BuildKeys), ("run", RunKeys), ("run.ready", ReadyKeys), ("run.isolation", IsolationKeys),
        ("workload", WorkloadKeys), ("sampling", SamplingKeys), ("decide", DecideKeys), ("trials", TrialsKeys),
    ];

    /// <summary>Every key a recipe may contain, dotted ("run.isolation.tmpfs"); the README is checked against it.</summary>
    internal static IEnumerable<string> QualifiedKeys() =>
        RootKeys.Concat(Sections.SelectMany(section => section.Keys.Select(key => $"{section.Path}.{key}")));

    // Where each key lives, so "memory-limit under build" can say "belongs under 'run'".
    private static readonly IReadOnlyDictionary<string, string> KeyHome = BuildKeyHome();

    /// <summary>Loads and validates the recipe at <paramref name="path"/>; patch paths are resolved relative to it.</summary>
    public static Recipe Load(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ConfigException("(recipe)", null, "no recipe path was given", "pass --recipe <file.yaml> or set 'recipe:' in bisect.yaml");
        var fullPath = System.IO.Path.GetFullPath(path);
        var text = YamlTree.ReadFile(fullPath, path);
        return Parse(text, path, System.IO.Path.GetDirectoryName(fullPath)!, fullPath);
    }

    /// <summary>Validates recipe text; <paramref name="fileName"/> is used in messages and as <see cref="Recipe.SourceFile"/>,
    /// <paramref name="baseDirectory"/> resolves patch paths.</summary>
    public static Recipe Parse(string yaml, string fileName, string baseDirectory) =>
        Parse(yaml, fileName, baseDirectory, fileName);

    private static Recipe Parse(string yaml, string file, string baseDirectory, string sourceFile)
    {
        var root = ConfigSection.Root(file, YamlTree.Parse(yaml, file), RootKeys, KeyHome,
            "a recipe needs at least 'name', 'build.steps', 'build.artifacts', 'run.command' and 'decide.metric' (see recipes/README.md)");

        var name = root.RequiredString("name", "add 'name: <short-name>' (letters, digits, '.', '_', '-')");
        if (!NameSyntax().IsMatch(name))
            throw root.Error("name", $"'name: {ConfigSection.Shorten(name)}' is not a valid name",
                "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names folders and report titles)");
        var description = root.String("description")?.Trim() ?? "";

        var (build, patchDigests) = ReadBuild(root.RequiredSection("build", BuildKeys, KeyHome), baseDirectory);
        var run = ReadRun(root.RequiredSection("run", RunKeys, KeyHome));
        var workload = ReadWorkload(root.Section("workload", WorkloadKeys, KeyHome));
        var sampling = ReadSampling(root.Section("sampling", SamplingKeys, KeyHome), file);
        var decide = ReadDecide(root.RequiredSection("decide", DecideKeys, KeyHome), sampling);
        var trials = ReadTrials(root.Section("trials", TrialsKeys, KeyHome));

        var recipe = new Recipe(name, description, build, run, workload, sampling, decide, trials, sourceFile, "");
        return recipe with { Hash = RecipeHash.Compute(recipe, patchDigests) };
    }

    private static (BuildSpec Build, IReadOnlyList<string> PatchDigests) ReadBuild(ConfigSection s, string baseDirectory)
    {
        var mode = s.Choice("mode", ["worktree", "incremental"]) switch
        {
            "incremental" => BuildMode.Incremental,
            _ => BuildMode.Worktree,
        };

        var prepare = s.StringList("prepare") ?? [];
        var steps = s.StringList("steps") ?? throw s.Missing("steps", "add 'steps:' with the shell commands that build the tree, e.g. '- make -j2'");
        if (steps.Count == 0)
            throw s.Error("steps", "'build.steps' is empty", "list at least one build command, e.g. '- make -j2'");

        var artifacts = s.StringItems("artifacts") ?? throw s.Missing("artifacts", "add 'artifacts:' listing the built files to keep, e.g. '- mydaemon'");
        if (artifacts.Count == 0)
            throw s.Error("artifacts", "'build.artifacts' is empty", "list the built files the run needs, e.g. '- mydaemon'");
        foreach (var (artifact, line) in artifacts)
            RequireRelativePath(s.File, line, "build.artifacts", artifact, "relative to the source tree");

        var patches = new List<string>();
        var digests = new List<string>();
        foreach (var (patch, line) in s.StringItems("patches") ?? [])
        {
            var (path, digest) = ReadPatch(s.File, line, patch, baseDirectory);
            patches.Add(path);
            digests.Add(digest);
        }

        var sparseExclude = s.StringItems("sparse-exclude") ?? [];
        foreach (var (path, line) in sparseExclude)
            RequireRelativePath(s.File, line, "build.sparse-exclude", path, "relative to the repository root");

        var env = ReadEnv(s, "env");
        var timeout = s.Duration("timeout", TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)) ?? DefaultBuildTimeout;
        return (new BuildSpec(mode, prepare, patches, steps, artifacts.Select(a => a.Value).ToArray(), env, timeout)
        {
            SparseExclude = sparseExclude.Select(p => p.Value).ToArray(),
        }, digests);
    }

    private static (string Path, string Digest) ReadPatch(string file, int line, string patch, string baseDirectory)
    {
        var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, patch));
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
                throw new ConfigException(file, line, $"patch file '{patch}' does not exist (looked for {path})",
                    "patch paths are relative to the recipe file; fix the path or add the file");
            if (info.Length > MaxPatchBytes)
                throw new ConfigException(file, line, $"patch file '{patch}' is larger than {MaxPatchBytes / (1024 * 1024)} MiB",
                    "a patch applied before every build should be a small fix-up");
            // The patch's content, not its path, is what changes a build: it goes into the recipe hash.
            using var stream = info.OpenRead();
            return (path, Convert.ToHexStringLower(SHA256.HashData(stream)));
        }
        catch (IOException ex)
        {
            throw new ConfigException(file, line, $"patch file '{patch}' cannot be read: {ex.Message}", "check the file's permissions");
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ConfigException(file, line, $"patch file '{patch}' cannot be read: {ex.Message}", "check the file's permissions");
        }
    }

    private static RunSpec ReadRun(ConfigSection s)
    {
        var command = s.RequiredString("command", "add 'command:' with the shell command that starts the daemon in the foreground");
        var env = ReadEnv(s, "env");

        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (path, content, line) in s.StringMap("files", maxItems: 100) ?? [])
        {
            RequireRelativePath(s.File, line, "run.files", path, "relative to $BISECTOR_RUN_DIR");
            files[path] = content;
        }

        ReadySpec? ready = null;
        if (s.Node("ready") is not null)
        {
            var r = s.Section("ready", ReadyKeys, KeyHome)!;
            var readyFile = r.String("file");
            if (readyFile is not null && string.IsNullOrWhiteSpace(readyFile))
                throw r.Error("file", "'run.ready.file' is empty", "give the path of a socket or pid file, or remove the key to wait for the warm-up");
            ready = new ReadySpec(readyFile, r.Duration("timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)) ?? DefaultReadyTimeout);
        }

        var memoryLimit = s.Size("memory-limit", 1L << 20, ConfigValues.MaxSizeBytes) ?? DefaultMemoryLimitBytes;
        var isolation = ReadIsolation(s);
        var stopTimeout = s.Duration("stop-timeout", TimeSpan.Zero, TimeSpan.FromMinutes(10)) ?? DefaultStopTimeout;
        return new RunSpec(command, env, files, ready, memoryLimit, isolation, stopTimeout);
    }

    private static IsolationSpec ReadIsolation(ConfigSection run)
    {
        // 'isolation: false' is shorthand for all off (a remote host that cannot unshare); 'true' for the defaults.
        if (run.Node("isolation") is YamlScalar)
        {
            var on = run.Bool("isolation")!.Value;
            return new IsolationSpec(on, on, on, []);
        }

        var s = run.Section("isolation", IsolationKeys, KeyHome);
        if (s is null)
            return new IsolationSpec(true, true, true, []);

        var tmpfs = new List<string>();
        foreach (var (path, line) in s.StringItems("tmpfs", maxItems: 64) ?? [])
        {
            if (!path.StartsWith('/') || path == "/" || path.Split('/').Any(segment => segment is ".." or ".") || path.Contains('\0'))
                throw new ConfigException(s.File, line, $"'run.isolation.tmpfs' entry '{ConfigSection.Shorten(path)}' is not a usable mount point",
                    "write an absolute directory other than '/', e.g. /run or /var/lib/mydaemon");
            tmpfs.Add(path);
        }

        var mount = s.Bool("mount") ?? true;
        if (tmpfs.Count > 0 && !mount)
            throw s.Error("tmpfs", "'run.isolation.tmpfs' needs a private mount namespace but 'mount' is false",
                "set 'mount: true' or remove 'tmpfs'");
        return new IsolationSpec(mount, s.Bool("pid") ?? true, s.Bool("network") ?? true, tmpfs);
    }

    private static WorkloadSpec? ReadWorkload(ConfigSection? s)
    {
        if (s is null)
            return null;
        var command = s.RequiredString("command", "add 'command:' with the shell command that drives the daemon, or remove 'workload'");
        return new WorkloadSpec(command, ReadEnv(s, "env"), s.Bool("restart") ?? true);
    }

    private static SamplingSpec ReadSampling(ConfigSection? s, string file)
    {
        if (s is null)
            return new SamplingSpec(DefaultInterval, DefaultWarmup, DefaultWindow, DefaultMetrics, false);

        var interval = s.Duration("interval", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1)) ?? DefaultInterval;
        var warmup = s.Duration("warmup", TimeSpan.Zero, TimeSpan.FromDays(1)) ?? DefaultWarmup;
        var window = s.Duration("window", TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1)) ?? DefaultWindow;
        if (window <= interval)
            throw s.Error(s.Has("window") ? "window" : "interval",
                $"'sampling.window' ({ConfigValues.FormatDuration(window)}) must be longer than 'sampling.interval' ({ConfigValues.FormatDuration(interval)})",
                "make the window several intervals long so a trend can be seen, e.g. window: 10s with interval: 100ms");
        if ((warmup + window) / interval > MaxSamplesPerTrial)
            throw s.Error("interval",
                $"warm-up plus window at this interval is more than {MaxSamplesPerTrial} samples per metric per trial",
                "use a longer 'sampling.interval' or a shorter window");

        var heapCounters = s.Bool("heap-counters") ?? false;
        var metricItems = s.StringItems("metrics", maxItems: 32);
        if (metricItems is null)
            return new SamplingSpec(interval, warmup, window, DefaultMetrics, heapCounters);
        if (metricItems.Count == 0)
            throw s.Error("metrics", "'sampling.metrics' is empty", $"list at least one of: {string.Join(", ", KnownMetrics)}");

        var metrics = new List<string>();
        foreach (var (metric, line) in metricItems)
        {
            if (metrics.Contains(metric))
                throw new ConfigException(file, line, $"metric '{metric}' is listed twice in 'sampling.metrics'", "remove the duplicate");
            if (!KnownMetrics.Contains(metric) && !(heapCounters && HeapMetricSyntax().IsMatch(metric)))
            {
                var suggestion = ConfigSection.Suggest(metric, KnownMetrics);
                throw new ConfigException(file, line, $"unknown metric '{ConfigSection.Shorten(metric)}' in 'sampling.metrics'",
                    suggestion is not null
                        ? $"did you mean '{suggestion}'?"
                        : $"use one of: {string.Join(", ", KnownMetrics)} (or heap_* names with 'heap-counters: true')");
            }

            metrics.Add(metric);
        }

        return new SamplingSpec(interval, warmup, window, metrics, heapCounters);
    }

    private static DecisionSpec ReadDecide(ConfigSection s, SamplingSpec sampling)
    {
        var metric = s.RequiredString("metric", $"add 'metric:' naming one of the sampled metrics ({string.Join(", ", sampling.Metrics)})");
        if (!sampling.Metrics.Contains(metric))
        {
            var suggestion = ConfigSection.Suggest(metric, sampling.Metrics);
            throw s.Error("metric", $"'decide.metric: {ConfigSection.Shorten(metric)}' is not one of the sampled metrics ({string.Join(", ", sampling.Metrics)})",
                suggestion is not null ? $"did you mean '{suggestion}'?" : "name a metric listed in 'sampling.metrics', or add it there");
        }

        var feature = s.Choice("feature", ["slope", "plateau", "level", "peak", "mean"]) switch
        {
            "plateau" => FeatureKind.Plateau,
            "peak" => FeatureKind.Peak,
            "mean" => FeatureKind.Mean,
            "level" => FeatureKind.Level,
            _ => FeatureKind.Slope,
        };
        var direction = s.Choice("direction", ["increase", "decrease"]) == "decrease" ? RegressionDirection.Decrease : RegressionDirection.Increase;
        var minEffect = s.Amount("min-effect", perMinute: feature == FeatureKind.Slope, max: 1e15) ?? 0;
        return new DecisionSpec(metric, feature, direction, minEffect);
    }

    private static TrialsSpec ReadTrials(ConfigSection? s)
    {
        if (s is null)
            return new TrialsSpec(DefaultRepeats, DefaultMaxTrials);
        var repeats = s.Int("repeats", 2, 1000) ?? DefaultRepeats;
        // Raising only 'repeats' past the default cap should not force the user to also raise 'max'.
        var max = s.Int("max", 2, 10_000) ?? Math.Max(DefaultMaxTrials, repeats);
        if (max < repeats)
            throw s.Error("max", $"'trials.max' ({max}) is smaller than 'trials.repeats' ({repeats})",
                $"set 'max' to at least {repeats}, or lower 'repeats'");
        return new TrialsSpec(repeats, max);
    }

    private static IReadOnlyDictionary<string, string> ReadEnv(ConfigSection s, string key)
    {
        var env = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value, line) in s.StringMap(key, maxItems: 200) ?? [])
        {
            if (!EnvNameSyntax().IsMatch(name))
                throw new ConfigException(s.File, line, $"'{s.Qualify(key)}' has an invalid variable name '{ConfigSection.Shorten(name)}'",
                    "use letters, digits and '_', not starting with a digit");
            if (ReservedEnvironment.Contains(name))
                throw new ConfigException(s.File, line, $"'{s.Qualify(key)}.{name}' is set by Bisector itself",
                    "remove it; commands read the value Bisector provides");
            env[name] = value;
        }

        return env;
    }

    private static void RequireRelativePath(string file, int line, string key, string path, string relativeTo)
    {
        var segments = path.Replace('\\', '/').Split('/');
        if (path.StartsWith('/') || segments.Contains("..") || path.Contains('\0'))
            throw new ConfigException(file, line, $"'{key}' entry '{ConfigSection.Shorten(path)}' must be a path {relativeTo}",
                "write a relative path without '..'");
    }

    private static Dictionary<string, string> BuildKeyHome()
    {
        var home = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (section, keys) in Sections)
        {
            foreach (var key in keys)
                home.TryAdd(key, section);
        }

        return home;
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NameSyntax();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex EnvNameSyntax();

    [GeneratedRegex(@"^heap_[a-z0-9_]{1,32}$")]
    private static partial Regex HeapMetricSyntax();
}
