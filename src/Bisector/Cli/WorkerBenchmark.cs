using System.Diagnostics;
using System.Globalization;
using System.Text;
using Bisector.Building;
using Bisector.Demo;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Workers;

namespace Bisector.Cli;

/// <summary>
/// <c>bisector bench workers</c>: wall time to the demo culprit with 1, 2 and 4 local workers, and the CPU the remote
/// sampler (the trial agent) costs at 10 Hz. The sampler is measured by running the published agent on this machine
/// exactly as sshd would run it, around an idle daemon, and reading the CPU time of its whole process tree.
/// </summary>
internal static class WorkerBenchmark
{
    public static async Task<string> RunAsync(IReadOnlyList<int> counts, TimeSpan samplerWindow, CancellationToken ct = default)
    {
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"## Workers ({Environment.ProcessorCount} CPUs, load average at start {LoadAverage()})\n\n");
        md.Append(CultureInfo.InvariantCulture, $"### Remote sampler CPU at 10 Hz ({samplerWindow.TotalSeconds:0} s window, idle daemon)\n\n");
        var locating = Stopwatch.StartNew();
        var agent = await TrialAgent.EnsurePublishedAsync(Console.Error.WriteLine, ct);
        var located = locating.Elapsed;
        md.Append(CultureInfo.InvariantCulture,
            $"Agent: {agent.Executable}, {agent.Bytes:N0} bytes, ready in {located.TotalSeconds:0.0} s (found, or published from this checkout by source hash)\n\n");
        var (cpu, wall, samples) = await SamplerOverheadAsync(agent, samplerWindow, ct);
        md.Append("| Wall | CPU (user+sys, agent + sh + unshare) | Share of one core | Samples |\n|---|---|---|---|\n");
        md.Append(CultureInfo.InvariantCulture, $"| {wall.TotalSeconds:0.0} s | {cpu.TotalSeconds:0.000} s | {100 * cpu / wall:0.00} % | {samples} |\n\n");

        md.Append("### Wall time to the demo culprit (Fragmentation scenario, bisect strategy, real gcc builds)\n\n");
        md.Append("| Workers | Wall time | Trials | Rounds | Culprit |\n|---|---|---|---|---|\n");
        foreach (var count in counts.Where(c => c > 0))
        {
            var folder = Directory.CreateTempSubdirectory("bisector-bench-workers-").FullName;
            try
            {
                var clock = Stopwatch.StartNew();
                var (demo, run) = await DemoCommand.RunAsync(
                    Path.Combine(folder, "demo"), DemoScenario.Fragmentation, "bisect", [$"local:{count}"], Path.Combine(folder, "results"), _ => { }, ct: ct);
                clock.Stop();
                var named = run.Outcome is { Status: SearchStatus.Found, Culprit: { } p } ? run.Line[p].Sha : null;
                md.Append(CultureInfo.InvariantCulture,
                    $"| local:{count} | {clock.Elapsed.TotalSeconds:0} s | {run.Outcome?.TrialsSpent} | {run.Outcome?.Rounds.Count} | {(named == demo.CulpritSha ? "correct" : "WRONG")} |\n");
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        return md.ToString();
    }

    /// <summary>Runs the published trial agent around <c>sleep</c> for <paramref name="window"/>, as sshd would start it,
    /// and returns the CPU time of the agent and everything it waited for (RUSAGE_CHILDREN of this process grows by
    /// exactly that once the agent is reaped), the wall time, and the rss_anon samples streamed.</summary>
    private static async Task<(TimeSpan Cpu, TimeSpan Wall, int Samples)> SamplerOverheadAsync(TrialAgent.Agent agent, TimeSpan window, CancellationToken ct)
    {
        var root = Directory.CreateTempSubdirectory("bisector-bench-sampler-").FullName;
        try
        {
            var artifact = Directory.CreateDirectory(Path.Combine(root, "artifact")).FullName;
            var recipe = new Recipe(
                "sampler-bench", "idle daemon",
                new BuildSpec(BuildMode.Worktree, [], [], [], [], new Dictionary<string, string>(), TimeSpan.FromMinutes(1)),
                new RunSpec("exec sleep 3600", new Dictionary<string, string>(), new Dictionary<string, string>(), null, 256L << 20,
                    new IsolationSpec(true, true, true, []), TimeSpan.FromSeconds(2)),
                null,
                new SamplingSpec(TimeSpan.FromMilliseconds(100), TimeSpan.Zero, window, [], false),
                new DecisionSpec(Metrics.RssAnon, FeatureKind.Plateau, RegressionDirection.Increase, 0),
                new TrialsSpec(1, 1), "bench", "bench");
            var spec = new TrialSpec(new Commit(new string('0', 40), "bench", "bench", DateTimeOffset.UnixEpoch, []),
                new Artifact(new string('0', 40), "bench", artifact, "bench"), recipe, 0, "bench");
            var request = Path.Combine(root, "request.json");
            await File.WriteAllTextAsync(request, TrialAgent.Serialize(new TrialRequest($"bench-{Guid.NewGuid():N}"[..18], spec, root)), ct);

            var info = new ProcessStartInfo(agent.Executable) { RedirectStandardOutput = true, UseShellExecute = false };
            info.ArgumentList.Add("trial-agent");
            info.ArgumentList.Add(request);
            var before = ChildrenCpu();
            var clock = Stopwatch.StartNew();
            using var process = Process.Start(info)!;
            var samples = new List<Sample>();
            while (await process.StandardOutput.ReadLineAsync(ct) is { } line)
            {
                TrialAgent.ReadLine(line, samples, null);
            }

            await process.WaitForExitAsync(ct);
            clock.Stop();
            return (ChildrenCpu() - before, clock.Elapsed, samples.Count(s => s.Metric == Metrics.RssAnon));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // cutime + cstime of /proc/self/stat: CPU of reaped children and what they reaped, in clock ticks (USER_HZ = 100).
    private static TimeSpan ChildrenCpu()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}
