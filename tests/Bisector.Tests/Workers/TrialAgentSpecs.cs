using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Bisector.Sampling;
using Bisector.Workers;

namespace Bisector.Tests.Workers;

/// <summary>
/// The native trial agent (src/Bisector.Agent) run as SSH and Slurm hosts run it, here on this machine: a real trial
/// around the test daemon in its cgroup and namespaces, with the request file, the streamed lines and the result.
/// </summary>
public sealed class TrialAgentSpecs(TestDaemon daemon) : IClassFixture<TestDaemon>, IClassFixture<TrialAgentFixture>
{
    private const long Rate = 8L << 20;

    [Fact(Timeout = 120000)]
    public async Task I_can_run_a_trial_with_the_agent_on_a_host_without_dotnet()
    {
        // Arrange: the agent is one native file that links only libc and libm; .NET is hidden from it by an empty tmpfs
        // over the installation this test runs on, in a mount namespace of its own, and no DOTNET_ variable reaches it.
        var agent = await TrialAgent.EnsurePublishedAsync();
        var recipe = TestDaemon.Recipe(env: new() { ["TESTD_BYTES_PER_SEC"] = Rate.ToString(CultureInfo.InvariantCulture) }, window: TimeSpan.FromSeconds(2));
        var spec = daemon.Trial(recipe);
        var request = WriteRequest(spec);
        var dotnetRoot = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var info = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs no-dotnet \"$1\" && shift && exec \"$@\"", "hide", dotnetRoot, agent.Executable, "trial-agent", request })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("DOTNET_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        // Act
        var (lines, result, exitCode, stderr) = await RunAsync(info, onFirstSample: null);

        // Assert
        Assert.True(exitCode == 0, $"the agent exited with {exitCode}: {stderr}");
        Assert.Equal([agent.Executable], Directory.GetFiles(agent.Directory));
        Assert.StartsWith("pid ", lines[0], StringComparison.Ordinal);
        Assert.NotNull(result);
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        var anon = Samples(lines).Where(s => s.Metric == Metrics.RssAnon).ToList();
        Assert.True(anon.Count >= 15, $"only {anon.Count} rss_anon samples streamed for a 2.5 s trial at 10 Hz");
        Assert.True(anon[^1].Value - anon[0].Value > Rate, $"rss_anon grew {anon[^1].Value - anon[0].Value} bytes over {anon[^1].Seconds - anon[0].Seconds:0.0} s at {Rate} bytes/s");
        var libraries = await LinkedLibrariesAsync(agent.Executable);
        Assert.All(libraries, l => Assert.Matches(@"^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|/lib64/ld-linux-x86-64\.so\.2)$", l));
        Assert.Empty(TestDaemon.CgroupsOf(spec.TrialKey));
        Assert.Empty(TestDaemon.ProcessesOf(spec.TrialKey));
    }

    [Fact(Timeout = 120000)]
    public async Task I_can_stop_the_agent_with_sigterm_and_still_get_its_result_with_nothing_left_behind()
    {
        // Arrange: a trial far longer than the test; SIGTERM is what the SSH worker sends to cancel one.
        var agent = await TrialAgent.EnsurePublishedAsync();
        var spec = daemon.Trial(TestDaemon.Recipe(window: TimeSpan.FromMinutes(10)));
        var info = new ProcessStartInfo(agent.Executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("trial-agent");
        info.ArgumentList.Add(WriteRequest(spec));

        // Act
        var (_, result, exitCode, stderr) = await RunAsync(info, onFirstSample: pid => Posix.Kill(pid, Posix.SigTerm));

        // Assert
        Assert.True(exitCode == 0, $"the agent exited with {exitCode}: {stderr}");
        Assert.NotNull(result);
        Assert.Equal(TrialOutcome.Cancelled, result.Outcome);
        Assert.Equal(TrialReasons.Cancelled, result.Reason);
        Assert.Empty(TestDaemon.CgroupsOf(spec.TrialKey));
        Assert.Empty(TestDaemon.ProcessesOf(spec.TrialKey));
    }

    [Fact(Timeout = 120000)]
    public async Task I_cannot_start_the_agent_with_arguments_it_does_not_know()
    {
        // Arrange
        var agent = await TrialAgent.EnsurePublishedAsync();
        var info = new ProcessStartInfo(agent.Executable, ["trial-agent"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };

        // Act
        var (_, result, exitCode, stderr) = await RunAsync(info, onFirstSample: null);

        // Assert: a usage error names the forms it accepts, with the exit code of a bad flag.
        Assert.Null(result);
        Assert.Equal(2, exitCode);
        Assert.Contains("expected 'trial-agent FILE', 'trial-agent --job DIR' or '--version'", stderr, StringComparison.Ordinal);
    }

    private string WriteRequest(TrialSpec spec)
    {
        var root = Directory.CreateDirectory(daemon.WorkRoot("agent")).FullName;
        var request = Path.Combine(root, $"request-{Guid.NewGuid():N}.json");
        File.WriteAllText(request, TrialAgent.Serialize(new TrialRequest("agent-1", spec, root)));
        return request;
    }

    /// <summary>Runs the agent to its end, reading its stream; <paramref name="onFirstSample"/> gets the agent's PID
    /// (its own <c>pid</c> line) once the first sample arrived.</summary>
    private static async Task<(List<string> Lines, TrialResult? Result, int ExitCode, string Stderr)> RunAsync(ProcessStartInfo info, Action<int>? onFirstSample)
    {
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        var samples = new List<Sample>();
        TrialResult? result = null;
        int? pid = null;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            lines.Add(line);
            var (linePid, lineResult) = TrialAgent.ReadLine(line, samples, null);
            pid ??= linePid;
            result ??= lineResult;
            if (samples.Count > 0 && onFirstSample is not null && pid is { } agentPid)
            {
                onFirstSample(agentPid);
                onFirstSample = null;
            }
        }

        await process.WaitForExitAsync();
        return (lines, result, process.ExitCode, await stderr);
    }

    private static List<Sample> Samples(List<string> lines)
    {
        var samples = new List<Sample>();
        foreach (var line in lines)
        {
            TrialAgent.ReadLine(line, samples, null);
        }

        return samples;
    }

    private static async Task<List<string>> LinkedLibrariesAsync(string executable)
    {
        using var ldd = Process.Start(new ProcessStartInfo("ldd", [executable]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var text = await ldd.StandardOutput.ReadToEndAsync();
        await ldd.WaitForExitAsync();
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim().Split(' ')[0]).ToList();
    }
}
