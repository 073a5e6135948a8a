using System.Diagnostics;
using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Statistics;
using Bisector.Workers;

namespace Bisector.Tests.Workers;

/// <summary>
/// A tiny C daemon compiled with gcc once per test class: it grows its anonymous memory at a rate tied to the wall
/// clock (so scheduler noise cannot change the slope), creates its ready file, may exit early, writes a marker file,
/// and exits cleanly on SIGTERM. Configured only through environment variables.
/// </summary>
public sealed class TestDaemon : IDisposable
{
    private const string Source = """
        #include <fcntl.h>
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <time.h>
        #include <unistd.h>

        static volatile sig_atomic_t stopping = 0;
        static void on_term(int sig) { (void)sig; stopping = 1; }
        static long env_long(const char *name, long fallback) { const char *v = getenv(name); return v ? atol(v) : fallback; }
        static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

        int main(int argc, char **argv) {
            signal(SIGTERM, on_term);
            long rate = env_long("TESTD_BYTES_PER_SEC", 0);
            long exit_after_ms = env_long("TESTD_EXIT_AFTER_MS", 0);
            long ready_delay_ms = env_long("TESTD_READY_DELAY_MS", 0);
            const char *mark = getenv("TESTD_MARK_FILE");
            if (mark) { FILE *f = fopen(mark, "w"); if (!f) { perror("testd: mark"); return 9; } fputs("inside\n", f); fclose(f); }
            double start = now();
            int ready = 0;
            long allocated = 0;
            const long chunk = 64 * 1024;
            while (!stopping) {
                double elapsed = now() - start;
                if (!ready && ready_delay_ms >= 0 && elapsed * 1000 >= ready_delay_ms && argc > 1) {
                    int fd = open(argv[1], O_CREAT | O_WRONLY, 0644);
                    if (fd < 0) { perror("testd: ready"); return 8; }
                    close(fd);
                    ready = 1;
                }
                while (allocated + chunk <= (long)(rate * elapsed)) {
                    char *p = malloc(chunk);
                    memset(p, 0x5a, chunk);
                    allocated += chunk;
                }
                if (exit_after_ms > 0 && elapsed * 1000 >= exit_after_ms) { fprintf(stderr, "testd: giving up on purpose\n"); return 3; }
                usleep(10000);
            }
            fprintf(stderr, "testd: stopping on SIGTERM\n");
            return 0;
        }
        """;

    public TestDaemon()
    {
        Root = Directory.CreateTempSubdirectory("bisector-workers-test-").FullName;
        ArtifactDir = Directory.CreateDirectory(Path.Combine(Root, "artifact")).FullName;
        File.WriteAllText(Path.Combine(Root, "testd.c"), Source);
        using var gcc = Process.Start("gcc", ["-O1", "-o", Path.Combine(ArtifactDir, "testd"), Path.Combine(Root, "testd.c")])!;
        gcc.WaitForExit(60000);
        if (gcc.ExitCode != 0)
        {
            throw new InvalidOperationException("gcc failed to build the test daemon");
        }
    }

    public string Root { get; }

    public string ArtifactDir { get; }

    public string WorkRoot(string name) => Path.Combine(Root, "work", name);

    public static Recipe Recipe(
        Dictionary<string, string>? env = null,
        WorkloadSpec? workload = null,
        IsolationSpec? isolation = null,
        string readyFile = "$BISECTOR_RUN_DIR/ready",
        TimeSpan? readyTimeout = null,
        long memoryLimit = 256L << 20,
        TimeSpan? warmup = null,
        TimeSpan? window = null,
        string? command = null,
        bool ready = true) =>
        new(
            "testd",
            "test daemon",
            new BuildSpec(BuildMode.Worktree, [], [], [], ["testd"], new Dictionary<string, string>(), TimeSpan.FromMinutes(1)),
            new RunSpec(
                // Recipe text, as a recipe author writes it; the shell expands $BISECTOR_RUN_DIR at run time.
                command ?? $"./testd \"{readyFile}\"",
                env ?? [],
                new Dictionary<string, string> { ["config/testd.conf"] = "rate from env\n" },
                ready ? new ReadySpec(readyFile, readyTimeout ?? TimeSpan.FromSeconds(10)) : null,
                memoryLimit,
                isolation ?? new IsolationSpec(true, true, true, ["/run"]),
                TimeSpan.FromSeconds(3)),
            workload,
            new SamplingSpec(TimeSpan.FromMilliseconds(100), warmup ?? TimeSpan.FromMilliseconds(500), window ?? TimeSpan.FromSeconds(1.5), [], false),
            new DecisionSpec(Metrics.RssAnon, FeatureKind.Slope, RegressionDirection.Increase, 0),
            new TrialsSpec(3, 12),
            "/tmp/testd.yaml",
            "recipe-hash");

    /// <summary>A recipe with heap counters on whose daemon records the LD_PRELOAD it was started with (in the returned
    /// file) and whose run.env carries its own LD_PRELOAD and a value full of shell syntax.</summary>
    public static (Recipe Recipe, string Seen) PreloadRecipe(string root)
    {
        var seen = Path.Combine(root, $"preload-{Guid.NewGuid():N}");
        var recipe = Recipe(
            env: new() { ["LD_PRELOAD"] = ExtraPreload, ["ODD"] = "it's $(not run)" },
            command: $"printf '%s\\n' \"$LD_PRELOAD\" > {seen}; test \"$ODD\" = 'it'\\''s $(not run)' || exit 7; exec ./testd \"$BISECTOR_RUN_DIR/ready\"");
        return (recipe with { Sampling = recipe.Sampling with { HeapCounters = true } }, seen);
    }

    /// <summary>A library every Debian system has, preloaded by <see cref="PreloadRecipe"/>'s run.env.</summary>
    public static string ExtraPreload => File.Exists("/lib/x86_64-linux-gnu/libm.so.6") ? "/lib/x86_64-linux-gnu/libm.so.6" : "libm.so.6";

    // The recipe's preload binds first: an allocator there (diagnosis by experiment) must serve malloc(); behind the
    // shim it would be loaded but unused (and jemalloc then crashes on the first free()).
    public static string ExpectedPreload(string shim) => $"{ExtraPreload} {shim}";

    public TrialSpec Trial(Recipe recipe, string sha = "1111111111111111111111111111111111111111", int index = 0) =>
        new(
            new Commit(sha, "subject", "author", DateTimeOffset.UnixEpoch, []),
            new Artifact(sha, recipe.Hash, ArtifactDir, "content"),
            recipe,
            index,
            $"{sha[..7]}-{index}-{Guid.NewGuid():N}"[..24]);

    /// <summary>
    /// A trial whose daemon never creates its ready file. Every transport runs the same trial loop, so each must end it
    /// as NotReady with the loop's own reason text (<see cref="NeverReadyTrial.AssertEndedWithTheSharedLoopsReason"/>).
    /// </summary>
    public NeverReadyTrial NeverReady(TimeSpan readyTimeout)
    {
        var readyFile = $"/tmp/bisector-never-ready-{Guid.NewGuid():N}";
        var recipe = Recipe(env: new() { ["TESTD_READY_DELAY_MS"] = "-1" }, readyFile: readyFile, readyTimeout: readyTimeout);
        return new NeverReadyTrial(Trial(recipe), readyFile, readyTimeout);
    }

    /// <summary>Host PIDs of every process whose environment carries this trial key (daemon, shells, workload).</summary>
    public static IReadOnlyList<int> ProcessesOf(string trialKey)
    {
        var needle = "BISECTOR_TRIAL=" + trialKey + "\0";
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "environ")).Contains(needle, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process exited while the directory was listed.
            }
        }

        return found;
    }

    /// <summary>Bisector cgroups whose name carries this trial key (the worker embeds it in the cgroup name).</summary>
    public static IReadOnlyList<string> CgroupsOf(string trialKey)
    {
        var parent = CgroupMemory.ParentPath(CgroupMemory.DetectVersion());
        return Directory.Exists(parent)
            ? Directory.EnumerateDirectories(parent).Where(d => Path.GetFileName(d).Contains(trialKey, StringComparison.Ordinal)).ToList()
            : [];
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>A trial from <see cref="TestDaemon.NeverReady"/> and what the shared trial loop must say of it.</summary>
public sealed record NeverReadyTrial(TrialSpec Spec, string ReadyFile, TimeSpan ReadyTimeout)
{
    public void AssertEndedWithTheSharedLoopsReason(TrialResult result)
    {
        Assert.True(result.Outcome == TrialOutcome.NotReady, $"{result.Outcome}: {result.Reason}");
        Assert.StartsWith(TrialReasons.NotReady(ReadyFile, ReadyTimeout, ""), result.Reason, StringComparison.Ordinal);
    }
}
