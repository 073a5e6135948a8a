using Bisector.Cli;
using Bisector.Demo;
using Bisector.Reporting;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Tests.Demo;
using Bisector.Workers;
using Microsoft.Data.Sqlite;

namespace Bisector.Tests.Workers;

/// <summary>
/// Bisects the demo repository with every trial a job on a real (private, one-node) Slurm cluster: munged, slurmctld
/// and slurmd started by the test, memory limited through Slurm's cgroup plugin.
/// </summary>
[LongRunning(239)]
public sealed class SlurmWorkerSpecs : IClassFixture<TrialAgentFixture>
{
    [SlurmFact(Timeout = 900_000)]
    public async Task I_can_bisect_the_demo_with_every_trial_a_slurm_job()
    {
        // Arrange
        await using var cluster = await SlurmCluster.StartAsync(CancellationToken.None);
        using var temp = new TempDir();
        var workers = $"slurm:{cluster.Partition}?count=2&conf={cluster.Conf}";

        // Act
        var (demo, run) = await DemoCommand.RunAsync(temp.Sub("repo"), DemoScenario.Fragmentation, "bisect", [workers], temp.Sub("results"), _ => { });

        // Assert
        Assert.Equal(SearchStatus.Found, run.Outcome?.Status);
        Assert.Equal(demo.CulpritSha, run.Selection.Candidates[run.Outcome!.Culprit!.Value - 1].Sha);
        using (var db = new SqliteConnection($"Data Source={run.DatabasePath};Mode=ReadOnly;Pooling=False"))
        {
            db.Open();
            using var query = db.CreateCommand();
            query.CommandText = "SELECT worker, host, outcome, reason FROM trials";
            using var rows = query.ExecuteReader();
            var trials = 0;
            while (rows.Read())
            {
                trials++;
                Assert.StartsWith("slurm-", rows.GetString(0), StringComparison.Ordinal);
                Assert.StartsWith($"{cluster.Node} [slurm job ", rows.GetString(1), StringComparison.Ordinal);
                Assert.Contains($"partition {cluster.Partition}]", rows.GetString(1), StringComparison.Ordinal);
                // The cross-check ran: sstat reported the job's MaxRSS while it ran.
                Assert.Contains("slurm MaxRSS of the job", rows.IsDBNull(3) ? "" : rows.GetString(3), StringComparison.Ordinal);
            }

            Assert.True(trials >= 6, $"only {trials} trials were stored");
        }

        var report = await File.ReadAllTextAsync(Path.Combine(run.ReportDirectory, ReportWriter.MarkdownFileName));
        Assert.Contains(ReportWriter.Md($"(slurm on {cluster.Node} [slurm job "), report, StringComparison.Ordinal);
        Assert.Equal("", (await cluster.Client("squeue", "-h")).StandardOutput.Trim());
    }

    [SlurmFact(Timeout = 300_000)]
    public async Task I_can_see_a_job_killed_at_its_slurm_memory_limit_as_out_of_memory()
    {
        // Arrange: the daemon stays under its own limit (48 MiB, it needs ~11), but the workload's tail holds 200 MB (the
        // whole of a pipe it reads at memory speed) while the job's --mem is run.memory-limit + extra-mem = 112 MiB:
        // Slurm's cgroup plugin kills in the job, and the workload exits with tail's status instead of sleeping on. The
        // window is a minute so the kill, not the window's end, ends the trial even on a loaded machine (a shell variable
        // filled through `tr` within the demo's 8 s was not always over the limit in time: CI saw the job peak at 100 MB).
        await using var cluster = await SlurmCluster.StartAsync(CancellationToken.None);
        using var temp = new TempDir();
        var demo = await DemoRepository.CreateAsync(temp.Sub("repo"), DemoScenario.Fragmentation);
        var recipePath = await DemoCommand.WriteRecipeAsync(demo.Path);
        var recipe = Bisector.Recipes.RecipeLoader.Load(recipePath);
        recipe = recipe with
        {
            Run = recipe.Run with { MemoryLimitBytes = 48L << 20 },
            Workload = recipe.Workload! with { Command = "head -c 200000000 /dev/zero | tail -c 200000000 > /dev/null && sleep 300", Restart = false },
            Sampling = recipe.Sampling with { Window = TimeSpan.FromMinutes(1) },
        };
        var artifactDir = temp.Sub("artifact");
        await DemoTestSupport.BuildAsync(demo.Path, demo.CulpritSha, artifactDir, CancellationToken.None);
        var commit = new Bisector.Git.Commit(demo.CulpritSha, "culprit", "demo", DateTimeOffset.Now, []);
        var spec = new TrialSpec(commit, new Bisector.Building.Artifact(demo.CulpritSha, recipe.Hash, artifactDir, "x"), recipe, 0, "oom-0");
        await using var worker = WorkerSpecs.Parse([$"slurm:{cluster.Partition}?conf={cluster.Conf}&extra-mem=64"], temp.Sub("work")).Single();

        // Act
        var result = await worker.RunTrialAsync(spec);

        // Assert
        Assert.True(result.Outcome == TrialOutcome.OutOfMemory, $"{result.Outcome}: {result.Reason}");
        Assert.Contains("Slurm memory limit", result.Reason, StringComparison.Ordinal);
        Assert.Contains("[slurm job ", result.Host, StringComparison.Ordinal);
    }

    [SlurmFact(Timeout = 300_000)]
    public async Task I_can_see_a_slurm_daemon_that_never_gets_ready_end_as_not_ready_with_the_shared_loops_reason()
    {
        // Arrange
        await using var cluster = await SlurmCluster.StartAsync(CancellationToken.None);
        using var temp = new TempDir();
        using var daemon = new TestDaemon();
        await using var worker = WorkerSpecs.Parse([$"slurm:{cluster.Partition}?conf={cluster.Conf}"], temp.Sub("work")).Single();
        var trial = daemon.NeverReady(TimeSpan.FromMilliseconds(700));

        // Act
        var result = await worker.RunTrialAsync(trial.Spec);

        // Assert: the job runs the trial agent, i.e. the same trial loop, so readiness and its reason text are the local ones.
        trial.AssertEndedWithTheSharedLoopsReason(result);
        Assert.Equal("", (await cluster.Client("squeue", "-h")).StandardOutput.Trim());
    }

    [Fact]
    public void I_can_map_slurm_job_states_onto_trial_outcomes()
    {
        // Arrange
        var now = DateTimeOffset.Now;
        var inner = new TrialResult(TrialOutcome.DaemonCrashed, "daemon exited with code 3", [new Sample(1, Metrics.VmRss, 4096)], now, now, "n/slurm-1");
        (string State, TrialResult? Inner, TrialOutcome Expected)[] cases =
        [
            ("COMPLETED", inner, TrialOutcome.DaemonCrashed),
            ("COMPLETED", null, TrialOutcome.WorkerFailed),
            ("OUT_OF_MEMORY", null, TrialOutcome.OutOfMemory),
            ("OUT_OF_MEMORY", inner, TrialOutcome.OutOfMemory),
            ("TIMEOUT", null, TrialOutcome.WorkerFailed),
            ("NODE_FAIL", inner, TrialOutcome.WorkerFailed),
            ("CANCELLED", null, TrialOutcome.Cancelled),
            ("FAILED", null, TrialOutcome.WorkerFailed),
            ("FAILED", inner, TrialOutcome.DaemonCrashed),
        ];

        // Act
        var mapped = cases.Select(c => SlurmWorker.MapState(c.State, "1:0", c.Inner, "runner said goodbye")).ToList();

        // Assert
        Assert.Equal(cases.Select(c => c.Expected), mapped.Select(m => m.Outcome));
        Assert.Contains("runner said goodbye", mapped[1].Reason, StringComparison.Ordinal);
        Assert.Contains("daemon exited with code 3", mapped[3].Reason, StringComparison.Ordinal);
        Assert.Contains("TIMEOUT", mapped[4].Reason, StringComparison.Ordinal);
        Assert.Equal(35500L << 10, SlurmWorker.ParseSize("35500K"));
    }

    [Fact]
    public void I_can_not_name_a_slurm_worker_with_a_bad_partition_option_or_conf()
    {
        // Arrange
        string[] bad = ["slurm:", "slurm:debug?colour=red", "slurm:debug?conf=/nonexistent/slurm.conf", "slurm:debug?count=0"];

        // Act
        var errors = bad.Select(spec => Assert.Throws<UsageException>(() => WorkerSpecs.Parse([spec], "/tmp/unused"))).ToList();
        var good = WorkerSpecs.Parse(["slurm:debug?count=3"], "/tmp/unused");

        // Assert
        Assert.All(errors, e => Assert.Contains("--workers", e.Message, StringComparison.Ordinal));
        Assert.Contains("not a Slurm partition name", errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("unknown option 'colour'", errors[1].Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", errors[2].Message, StringComparison.Ordinal);
        Assert.Contains("count=0", errors[3].Message, StringComparison.Ordinal);
        Assert.Equal(["slurm-1", "slurm-2", "slurm-3"], good.Select(w => w.Name));
    }
}
