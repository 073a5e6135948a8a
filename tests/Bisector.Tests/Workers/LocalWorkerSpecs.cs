using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Workers;

namespace Bisector.Tests.Workers;

public sealed class LocalWorkerSpecs(TestDaemon daemon) : IClassFixture<TestDaemon>
{
    private const long Rate = 8L << 20; // bytes per second the test daemon allocates and touches

    [Fact(Timeout = 60000)]
    public async Task I_can_sample_every_metric_and_see_anonymous_memory_grow_at_the_programmed_rate()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_BYTES_PER_SEC"] = Rate.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            window: TimeSpan.FromSeconds(2));
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert
        Assert.Equal(TrialOutcome.Ok, result.Outcome);
        Assert.Contains("local-1", result.Host);
        Assert.Contains(Environment.MachineName, result.Host);
        foreach (var metric in new[] { Metrics.VmRss, Metrics.RssAnon, Metrics.RssFile, Metrics.CgroupUsage, Metrics.CgroupRss })
        {
            var series = result.Samples.Where(s => s.Metric == metric).ToList();
            Assert.True(series.Count >= 15, $"{metric}: only {series.Count} samples in a 2.5 s trial at 10 Hz");
            // From the warm-up on: the first tick can come while the sampled process is still a wrapper between execve
            // and its first page fault (rss_file 0, a true reading; seen with the native agent over SSH).
            Assert.All(series.Where(s => s.Seconds >= recipe.Sampling.Warmup.TotalSeconds), s => Assert.True(s.Value > 0, $"{metric} is {s.Value} at {s.Seconds}s"));
        }

        var anon = result.Samples.Where(s => s.Metric == Metrics.RssAnon && s.Seconds > 0.5).ToList();
        var slope = LeastSquaresSlope(anon);
        Assert.InRange(slope, Rate * 0.75, Rate * 1.25);

        // The cgroup holds the daemon, so it is at least as large as the daemon's anonymous memory at the end.
        var lastAnon = anon[^1].Value;
        var lastUsage = result.Samples.Last(s => s.Metric == Metrics.CgroupUsage).Value;
        Assert.True(lastUsage >= lastAnon * 0.9, $"cgroup usage {lastUsage} < rss_anon {lastAnon}");
        Assert.Empty(TestDaemon.CgroupsOf(spec.TrialKey));
        Assert.Empty(TestDaemon.ProcessesOf(spec.TrialKey));
        Assert.Empty(Directory.GetDirectories(Path.Combine(worker.WorkRoot, "runs")));
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_see_a_daemon_over_its_memory_limit_end_as_out_of_memory()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_BYTES_PER_SEC"] = (64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture) },
            memoryLimit: 24L << 20,
            window: TimeSpan.FromSeconds(5));
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert
        Assert.Equal(TrialOutcome.OutOfMemory, result.Outcome);
        Assert.Contains("run.memory-limit 25165824 bytes", result.Reason);
        Assert.Empty(TestDaemon.CgroupsOf(spec.TrialKey));
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_see_a_trial_whose_workload_lost_a_process_to_the_oom_killer_end_as_out_of_memory()
    {
        // Arrange: the trial's cgroups sit under a parent limited to 96 MiB, as a Slurm job's --mem bounds them; the
        // workload's child asks for 300 MB and is killed (the largest process there), the workload itself carries on
        // and would exit 0 — before, the trial then counted as Ok (a Slurm test saw it under load). The kill must come
        // before the window ends: perl fills 96 MiB in well under a second, the window leaves 8 s for a loaded machine
        var parent = CgroupMemory.Create("local-1", $"bisector-test-oom-parent-{Guid.NewGuid():N}", 96L << 20);
        try
        {
            var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1")) { CgroupParent = parent.Path };
            var recipe = TestDaemon.Recipe(
                workload: new WorkloadSpec("perl -e '$x = \"a\" x 300_000_000; sleep 1'; sleep 30", new Dictionary<string, string>(), false),
                window: TimeSpan.FromSeconds(8));
            var spec = daemon.Trial(recipe);

            // Act
            var result = await worker.RunTrialAsync(spec);

            // Assert
            Assert.True(result.Outcome == TrialOutcome.OutOfMemory, $"{result.Outcome}: {result.Reason}");
            Assert.Contains("of the workload's process(es)", result.Reason);
        }
        finally
        {
            Assert.True(await parent.TryRemoveAsync(TimeSpan.FromSeconds(10)), $"could not remove {parent.Path}");
        }
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_see_a_daemon_that_exits_early_end_as_crashed_with_its_exit_code_and_output()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var recipe = TestDaemon.Recipe(env: new() { ["TESTD_EXIT_AFTER_MS"] = "300" }, window: TimeSpan.FromSeconds(5));
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert
        Assert.Equal(TrialOutcome.DaemonCrashed, result.Outcome);
        Assert.Contains("code 3", result.Reason);
        Assert.Contains("testd: giving up on purpose", result.Reason);
        Assert.Empty(TestDaemon.CgroupsOf(spec.TrialKey));
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_see_a_daemon_that_never_gets_ready_end_as_not_ready()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var trial = daemon.NeverReady(TimeSpan.FromMilliseconds(700));

        // Act
        var result = await worker.RunTrialAsync(trial.Spec);

        // Assert: the reason is the shared loop's, as on every transport (see the container, SSH and Slurm specs).
        trial.AssertEndedWithTheSharedLoopsReason(result);
        Assert.Empty(TestDaemon.CgroupsOf(trial.Spec.TrialKey));
        Assert.Empty(TestDaemon.ProcessesOf(trial.Spec.TrialKey));
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_cancel_a_trial_and_nothing_it_started_is_left_behind()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var recipe = TestDaemon.Recipe(
            workload: new WorkloadSpec("sleep 30", new Dictionary<string, string>(), true),
            window: TimeSpan.FromSeconds(30));
        var spec = daemon.Trial(recipe);
        using var cts = new CancellationTokenSource();

        // Act
        var running = worker.RunTrialAsync(spec, cts.Token);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (TestDaemon.ProcessesOf(spec.TrialKey).Count < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var before = TestDaemon.ProcessesOf(spec.TrialKey);
        var cgroupsBefore = TestDaemon.CgroupsOf(spec.TrialKey);
        await cts.CancelAsync();
        var result = await running;

        // Assert
        Assert.True(before.Count >= 2, "the daemon and its workload should have been running before cancellation");
        Assert.Equal(2, cgroupsBefore.Count);
        Assert.Equal(TrialOutcome.Cancelled, result.Outcome);
        Assert.All(before, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} survived cancellation"));
        Assert.Empty(TestDaemon.CgroupsOf(spec.TrialKey));
        Assert.Empty(Directory.GetDirectories(Path.Combine(worker.WorkRoot, "runs")));
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_give_the_daemon_a_private_run_tmpfs_that_its_workload_shares_and_the_host_never_sees()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var marker = $"/run/bisector-test-{Guid.NewGuid():N}";
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_MARK_FILE"] = marker },
            readyFile: marker + ".ready",
            workload: new WorkloadSpec("test -f \"$MARK\" && sleep 0.2", new Dictionary<string, string> { ["MARK"] = marker }, false),
            isolation: new IsolationSpec(true, true, true, ["/run"]));
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        Assert.False(File.Exists(marker), "the daemon's /run must be a private tmpfs");
        Assert.False(File.Exists(marker + ".ready"));
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_see_a_workload_that_fails_without_restart_end_as_workload_failed()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var recipe = TestDaemon.Recipe(
            workload: new WorkloadSpec("echo client broke >&2; exit 4", new Dictionary<string, string>(), false),
            window: TimeSpan.FromSeconds(5));
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert
        Assert.Equal(TrialOutcome.WorkloadFailed, result.Outcome);
        Assert.Contains("code 4", result.Reason);
        Assert.Contains("client broke", result.Reason);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_have_a_workload_that_exits_early_restarted_until_the_window_ends()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var counter = Path.Combine(daemon.Root, $"workload-runs-{Guid.NewGuid():N}");
        var recipe = TestDaemon.Recipe(
            workload: new WorkloadSpec("echo run >> \"$COUNTER\"; sleep 0.2; exit 1", new Dictionary<string, string> { ["COUNTER"] = counter }, true),
            window: TimeSpan.FromSeconds(2));
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert
        Assert.Equal(TrialOutcome.Ok, result.Outcome);
        Assert.InRange(File.ReadAllLines(counter).Length, 3, 20);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_run_a_trial_without_private_namespaces_and_still_sample_the_daemon_behind_its_shells()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_BYTES_PER_SEC"] = Rate.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            isolation: new IsolationSpec(false, false, false, []),
            window: TimeSpan.FromSeconds(1.5));
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert: the shells between Bisector and the daemon hold no growing heap, so growth proves testd is sampled.
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        var slope = LeastSquaresSlope([.. result.Samples.Where(s => s.Metric == Metrics.RssAnon && s.Seconds > 0.5)]);
        Assert.InRange(slope, Rate * 0.75, Rate * 1.25);
        Assert.Empty(TestDaemon.ProcessesOf(spec.TrialKey));
    }

    [Theory(Timeout = 60000)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task I_can_sample_a_daemon_whose_command_first_runs_a_short_lived_helper(bool readyFile)
    {
        // Arrange: for 0.6 s the recipe's shell has exactly one child, sleep, which is not a shell and not the daemon.
        // Without a ready file the trial is ready at once, so the sampler may settle on sleep and must let go of it
        // when it exits (as mkdir and cp before 'exec systemd-journald' in the journald recipe once made a trial lose
        // its daemon).
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var recipe = TestDaemon.Recipe(
            env: new() { ["TESTD_BYTES_PER_SEC"] = Rate.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            window: TimeSpan.FromSeconds(2),
            command: "sleep 0.6; exec ./testd \"$BISECTOR_RUN_DIR/ready\"",
            ready: readyFile);
        var spec = daemon.Trial(recipe);

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert: samples reach the end of the window and grow at testd's rate, so testd (not sleep) was sampled.
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        var anon = result.Samples.Where(s => s.Metric == Metrics.RssAnon).ToList();
        Assert.True(anon[^1].Seconds >= (readyFile ? 0.6 : 0) + 2.5 - 0.3, $"samples end at {anon[^1].Seconds} s");
        var slope = LeastSquaresSlope([.. anon.Where(s => s.Seconds > 1.2)]);
        Assert.InRange(slope, Rate * 0.75, Rate * 1.25);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_give_the_daemon_the_recipes_environment_unchanged_with_its_ld_preload_before_the_heap_shim()
    {
        // Arrange: a derived recipe (diagnosis by experiment) adds its own LD_PRELOAD; it must bind malloc() before the heap shim.
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var (recipe, seen) = TestDaemon.PreloadRecipe(daemon.Root);

        // Act
        var result = await worker.RunTrialAsync(daemon.Trial(recipe));

        // Assert
        Assert.True(result.Outcome == TrialOutcome.Ok, result.Reason);
        Assert.Equal(TestDaemon.ExpectedPreload(await Bisector.Diagnosis.HeapShim.EnsureBuiltAsync("test")), (await File.ReadAllTextAsync(seen)).TrimEnd('\n'));
        Assert.Contains(result.Samples, s => s.Metric == Metrics.HeapInUse);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_check_that_this_machine_can_run_local_trials()
    {
        // Arrange
        var worker = new LocalWorker("local-1", daemon.WorkRoot("local-1"));

        // Act
        var check = await worker.CheckAsync();

        // Assert
        Assert.True(check.Ok, string.Join("\n", check.Findings));
        Assert.Contains(check.Findings, f => f.StartsWith("unshare: ", StringComparison.Ordinal));
        Assert.Contains(check.Findings, f => f.Contains("writable", StringComparison.Ordinal));
    }

    private static double LeastSquaresSlope(IReadOnlyList<Sample> series)
    {
        var meanX = series.Average(s => s.Seconds);
        var meanY = series.Average(s => s.Value);
        var num = series.Sum(s => (s.Seconds - meanX) * (s.Value - meanY));
        var den = series.Sum(s => (s.Seconds - meanX) * (s.Seconds - meanX));
        return num / den;
    }
}
