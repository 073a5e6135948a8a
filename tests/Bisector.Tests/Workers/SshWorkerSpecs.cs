using System.Diagnostics;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Workers;
using Xunit.Abstractions;

namespace Bisector.Tests.Workers;

/// <summary>SSH workers against real sshd processes in network namespaces (see <see cref="SshHosts"/>).</summary>
[LongRunning(31)]
public sealed class SshWorkerSpecs(TestDaemon daemon, ITestOutputHelper output) : IClassFixture<TestDaemon>, IClassFixture<TrialAgentFixture>
{
    private const long Rate = 8L << 20;

    [SshFact(Timeout = 60000)]
    public async Task I_can_check_an_ssh_host_and_see_it_reachable_with_a_writable_cgroup_tools_and_disk()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1);
        await using var worker = (SshWorker)WorkerSpecs.Parse([hosts.Spec(0)], daemon.Root).Single();

        // Act
        var check = await worker.CheckAsync();

        // Assert
        Assert.True(check.Ok, string.Join('\n', check.Findings));
        Assert.Contains(check.Findings, f => f.StartsWith("cgroup ", StringComparison.Ordinal) && f.EndsWith("writable", StringComparison.Ordinal));
        Assert.Contains(check.Findings, f => f.StartsWith("disk: ", StringComparison.Ordinal));
        Assert.Contains(check.Findings, f => f.StartsWith("tool nsenter: ", StringComparison.Ordinal));
        Assert.Contains(check.Findings, f => f.StartsWith("trial agent: ", StringComparison.Ordinal));
    }

    [SshFact(Timeout = 120000)]
    public async Task I_can_deploy_the_trial_agent_once_per_host_by_content_hash()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1);
        var agent = await TrialAgent.EnsurePublishedAsync();
        await using var first = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        await using var second = new SshWorker(SshTarget.Parse(hosts.Spec(0)));

        // Act: the first check connects and deploys; the second worker finds the agent by its hash and sends nothing.
        var clock = Stopwatch.StartNew();
        var check = await first.CheckAsync();
        var deployed = clock.Elapsed;
        clock.Restart();
        var again = await second.CheckAsync();
        var found = clock.Elapsed;

        // Assert
        Assert.True(check.Ok && again.Ok, string.Join('\n', check.Findings.Concat(again.Findings)));
        Assert.Equal(agent.Bytes, first.AgentUploadedBytes);
        Assert.Equal(0, second.AgentUploadedBytes);
        Assert.True(File.Exists(Path.Combine(hosts.Hosts[0].RemoteRoot, "artifacts", agent.ContentHash, TrialAgent.ExecutableName)));
        // A measurement for docs/benchmarks-workers.md, not an assertion: connect + upload over loopback.
        output.WriteLine($"agent {agent.Bytes} bytes deployed in {deployed.TotalSeconds:0.0} s (connect, check and upload); found by hash in {found.TotalSeconds:0.0} s (connect and check)");
    }

    [SshFact(Timeout = 60000)]
    public async Task I_cannot_reach_a_host_whose_key_is_unknown_unless_I_opt_in_to_trust_on_first_use()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1, trustKeys: false);
        await using var strict = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        await using var tofu = new SshWorker(SshTarget.Parse(hosts.Spec(0, tofu: true)));

        // Act
        var refused = await strict.CheckAsync();
        var trusted = await tofu.CheckAsync();
        var strictAfterwards = await new SshWorker(SshTarget.Parse(hosts.Spec(0))).CheckAsync();

        // Assert
        Assert.False(refused.Ok);
        Assert.Contains(refused.Findings, f => f.Contains("is not in " + hosts.KnownHosts, StringComparison.Ordinal) && f.Contains("tofu=1", StringComparison.Ordinal));
        Assert.True(trusted.Ok, string.Join('\n', trusted.Findings));
        Assert.Contains(hosts.Hosts[0].HostPublicKey, await File.ReadAllTextAsync(hosts.KnownHosts));
        Assert.True(strictAfterwards.Ok, string.Join('\n', strictAfterwards.Findings));
    }

    [SshFact(Timeout = 60000)]
    public async Task I_cannot_reach_a_host_whose_key_changed_even_with_trust_on_first_use()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1, trustKeys: false);
        var h = hosts.Hosts[0];
        var forged = "AAAAC3NzaC1lZDI1NTE5AAAAIOv0ZzV0ZzV0ZzV0ZzV0ZzV0ZzV0ZzV0ZzV0ZzV0ZzV0";
        await File.WriteAllTextAsync(hosts.KnownHosts, $"[{h.Address}]:{h.Port} ssh-ed25519 {forged}\n");
        await using var worker = new SshWorker(SshTarget.Parse(hosts.Spec(0, tofu: true)));

        // Act
        var check = await worker.CheckAsync();

        // Assert
        Assert.False(check.Ok);
        Assert.Contains(check.Findings, f => f.Contains("differs from the one in", StringComparison.Ordinal));
        Assert.DoesNotContain(h.HostPublicKey, await File.ReadAllTextAsync(hosts.KnownHosts));
    }

    [SshFact(Timeout = 90000)]
    public async Task I_can_run_trials_on_an_ssh_host_get_samples_at_the_programmed_rate_and_deploy_the_artifact_once()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1);
        await using var worker = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_BYTES_PER_SEC"] = Rate.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            window: TimeSpan.FromSeconds(2));
        var first = daemon.Trial(recipe);
        var second = daemon.Trial(recipe, index: 1);

        // Act
        var result = await worker.RunTrialAsync(first);
        var bytesAfterFirst = worker.UploadedBytes;
        var again = await worker.RunTrialAsync(second);

        // Assert
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        Assert.Equal(TrialOutcome.Ok, again.Outcome);
        Assert.EndsWith("/" + worker.Name, result.Host, StringComparison.Ordinal);
        foreach (var metric in new[] { Metrics.VmRss, Metrics.RssAnon, Metrics.RssFile, Metrics.CgroupUsage, Metrics.CgroupRss })
        {
            var series = result.Samples.Where(s => s.Metric == metric).ToList();
            Assert.True(series.Count >= 15, $"{metric}: only {series.Count} samples in a 2.5 s trial at 10 Hz");
            // From the warm-up on: the native agent's first tick comes ~20 ms after the start, when the sampled process
            // can still be a wrapper between execve and its first page fault (rss_file 0, a true reading).
            Assert.All(series.Where(s => s.Seconds >= recipe.Sampling.Warmup.TotalSeconds), s => Assert.True(s.Value > 0, $"{metric} is {s.Value} at {s.Seconds}s"));
        }

        var anon = result.Samples.Where(s => s.Metric == Metrics.RssAnon && s.Seconds > 0.5).ToList();
        var slope = LeastSquaresSlope(anon);
        Assert.True(slope >= Rate * 0.75 && slope <= Rate * 1.25,
            $"rss_anon slope {slope:0} B/s, expected {Rate} ± 25%: " + string.Join(' ', anon.Select(s => $"{s.Seconds}:{s.Value}")));
        Assert.Equal(1, worker.Uploads);
        Assert.True(bytesAfterFirst > 0);
        Assert.Equal(bytesAfterFirst, worker.UploadedBytes);
        Assert.Empty(TestDaemon.CgroupsOf(first.TrialKey));
        Assert.Empty(TestDaemon.CgroupsOf(second.TrialKey));
        Assert.Empty(TestDaemon.ProcessesOf(first.TrialKey));
        Assert.Empty(Directory.GetDirectories(Path.Combine(hosts.Hosts[0].RemoteRoot, "runs")));
        Assert.True(File.Exists(Path.Combine(hosts.Hosts[0].RemoteRoot, "artifacts", "content", "testd")));
    }

    [SshTheory(Timeout = 60000)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task I_can_sample_a_remote_daemon_whose_command_first_runs_a_short_lived_helper(bool readyFile)
    {
        // Arrange: for 0.6 s the recipe's shell has exactly one child, sleep, which is not a shell and not the daemon;
        // without a ready file the trial is ready at once, so the sampler may settle on sleep and must let go of it.
        await using var hosts = await SshHosts.StartAsync(1);
        await using var worker = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_BYTES_PER_SEC"] = Rate.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            window: TimeSpan.FromSeconds(2),
            command: "sleep 0.6; exec ./testd \"$BISECTOR_RUN_DIR/ready\"",
            ready: readyFile);

        // Act
        var result = await worker.RunTrialAsync(daemon.Trial(recipe));

        // Assert: samples reach the end of the window and grow at testd's rate, so testd (not sleep) was sampled.
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        var anon = result.Samples.Where(s => s.Metric == Metrics.RssAnon).ToList();
        Assert.True(anon[^1].Seconds >= (readyFile ? 0.6 : 0) + 2.5 - 0.3, $"samples end at {anon[^1].Seconds} s");
        var slope = LeastSquaresSlope([.. anon.Where(s => s.Seconds > 1.2)]);
        Assert.True(slope >= Rate * 0.75 && slope <= Rate * 1.25, $"rss_anon slope {slope:0} B/s, expected {Rate} ± 25%");
    }

    [SshFact(Timeout = 60000)]
    public async Task I_can_see_a_remote_daemon_that_exits_early_end_as_crashed_with_its_exit_code_and_output()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1);
        await using var worker = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        var recipe = TestDaemon.Recipe(env: new() { ["TESTD_EXIT_AFTER_MS"] = "300" }, window: TimeSpan.FromSeconds(5));

        // Act
        var result = await worker.RunTrialAsync(daemon.Trial(recipe));

        // Assert
        Assert.Equal(TrialOutcome.DaemonCrashed, result.Outcome);
        Assert.Contains("exited with code 3", result.Reason);
        Assert.Contains("testd: giving up on purpose", result.Reason);
    }

    [SshFact(Timeout = 60000)]
    public async Task I_can_see_a_remote_daemon_that_never_gets_ready_end_as_not_ready_with_the_shared_loops_reason()
    {
        // Arrange: the agent runs the same trial loop on the host, so readiness and its reason text are the local ones.
        await using var hosts = await SshHosts.StartAsync(1);
        await using var worker = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        var trial = daemon.NeverReady(TimeSpan.FromMilliseconds(700));

        // Act
        var result = await worker.RunTrialAsync(trial.Spec);

        // Assert
        trial.AssertEndedWithTheSharedLoopsReason(result);
        Assert.Empty(TestDaemon.CgroupsOf(trial.Spec.TrialKey));
        Assert.Empty(TestDaemon.ProcessesOf(trial.Spec.TrialKey));
    }

    [SshFact(Timeout = 90000)]
    public async Task I_can_give_a_remote_daemon_the_recipes_environment_unchanged_with_its_ld_preload_before_the_heap_shim()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1);
        await using var worker = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        var (recipe, seen) = TestDaemon.PreloadRecipe(daemon.Root);

        // Act
        var result = await worker.RunTrialAsync(daemon.Trial(recipe));

        // Assert
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        // The recipe's preload first, then the heap shim as shipped to the host (built here, uploaded once by content hash).
        var preload = (await File.ReadAllTextAsync(seen)).TrimEnd('\n');
        Assert.StartsWith(TestDaemon.ExpectedPreload(""), preload, StringComparison.Ordinal);
        var shipped = preload[TestDaemon.ExpectedPreload("").Length..];
        Assert.Matches("/artifacts/heapstats-[0-9a-f]+\\.so$", shipped);
        Assert.Equal(await File.ReadAllBytesAsync(await Bisector.Diagnosis.HeapShim.EnsureBuiltAsync("test")), await File.ReadAllBytesAsync(shipped));
        Assert.Contains(result.Samples, s => s.Metric == Metrics.HeapInUse);
    }

    [SshFact(Timeout = 60000)]
    public async Task I_can_see_a_remote_daemon_over_its_memory_limit_end_as_out_of_memory()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(1);
        await using var worker = new SshWorker(SshTarget.Parse(hosts.Spec(0)));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_BYTES_PER_SEC"] = (64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture) },
            memoryLimit: 24L << 20,
            window: TimeSpan.FromSeconds(5));

        // Act
        var result = await worker.RunTrialAsync(daemon.Trial(recipe));

        // Assert
        Assert.Equal(TrialOutcome.OutOfMemory, result.Outcome);
        Assert.Contains("run.memory-limit 25165824 bytes", result.Reason);
    }

    [SshFact(Timeout = 60000)]
    public async Task I_can_pass_hostile_values_through_the_remote_shell_literally()
    {
        // Arrange: a remote root, an environment value and a workload command full of shell syntax. If any of them
        // were pasted unquoted, the canary file would appear or the daemon would not find its mark path.
        await using var hosts = await SshHosts.StartAsync(1);
        var canary = Path.Combine(hosts.Root, "canary");
        var hostile = $"it's $(touch {canary}) `touch {canary}` \"; touch {canary}; '";
        var markDir = Directory.CreateDirectory(Path.Combine(hosts.Root, hostile.Replace('/', '_'))).FullName;
        var mark = Path.Combine(markDir, "mark");
        var spec = hosts.Spec(0).Replace(Uri.EscapeDataString(hosts.Hosts[0].RemoteRoot), Uri.EscapeDataString(Path.Combine(markDir, "root")), StringComparison.Ordinal);
        await using var worker = new SshWorker(SshTarget.Parse(spec));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_MARK_FILE"] = mark, ["HOSTILE"] = hostile },
            workload: new WorkloadSpec("test \"$HOSTILE\" = " + ShellQuote.Quote(hostile) + " && sleep 5", new Dictionary<string, string> { ["HOSTILE"] = hostile }, false),
            isolation: new IsolationSpec(false, true, false, []),
            window: TimeSpan.FromSeconds(1));

        // Act
        var result = await worker.RunTrialAsync(daemon.Trial(recipe));

        // Assert
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        Assert.Equal("inside\n", await File.ReadAllTextAsync(mark));
        Assert.False(File.Exists(canary), "a hostile value was executed by the remote shell");
    }

    [Fact(Timeout = 10000)]
    public async Task I_can_quote_any_value_for_sh_and_get_it_back_unchanged()
    {
        // Arrange
        string[] values = ["plain", "", "it's", "'", "''", "$(id)", "`id`", "a\nb", "\"$HOME\"", "\\", "*", "-n", "; rm -rf /nonexistent", "ü €"];

        // Act
        var info = new ProcessStartInfo("sh") { RedirectStandardOutput = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("for a in " + ShellQuote.Join(values) + "; do printf '%s\\0' \"$a\"; done");
        using var sh = Process.Start(info)!;
        var output = await sh.StandardOutput.ReadToEndAsync();
        await sh.WaitForExitAsync();

        // Assert
        Assert.Equal(values, output.Split('\0')[..^1]);
        Assert.Throws<ArgumentException>(() => ShellQuote.Quote("a\0b"));
    }

    private static double LeastSquaresSlope(IReadOnlyList<Sample> samples)
    {
        var mx = samples.Average(s => s.Seconds);
        var my = samples.Average(s => s.Value);
        return samples.Sum(s => (s.Seconds - mx) * (s.Value - my)) / samples.Sum(s => (s.Seconds - mx) * (s.Seconds - mx));
    }
}
