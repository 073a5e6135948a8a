using Bisector.Runs;
using Bisector.Workers;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Bisector.Tests.Reliability;

/// <summary>
/// kill -9 of the orchestrator, then 'bisector resume': the real tool as a child process on a generated demo
/// repository, real gcc builds, real daemons in real cgroups, a real SQLite file.
/// </summary>
[LongRunning(283)]
public sealed class CrashResumeSpecs
{
    [Fact(Timeout = 900_000)]
    public async Task I_can_kill_the_orchestrator_during_a_build_and_mid_trial_and_resume_to_the_same_verdict_keeping_every_sample()
    {
        // Arrange
        await using var demo = await DemoRun.CreateAsync();
        string runId;
        using (var first = ToolProcess.Start(demo.StartArgs()))
        {
            // Kill point 1: a build is in flight (its worktree exists under /tmp/bisector-RUN/build).
            runId = await demo.WaitForAsync(
                c => c.QueryFirstOrDefaultAsync<string>("SELECT run_id FROM in_flight WHERE kind = 'build'"), TimeSpan.FromMinutes(2), first);
            first.Signal(Posix.SigKill);
            await first.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Dictionary<long, (string Outcome, long Samples)> beforeSecondKill;
        List<int> orphanDaemons;
        using (var resumed = ToolProcess.Start("resume", runId, "--results", demo.Results))
        {
            // Kill point 2: at least one trial is stored and another one's daemon is running in its cgroup.
            await demo.WaitForAsync(
                async c => await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM trials WHERE outcome = 'Ok'") > 0
                    && await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM in_flight WHERE kind = 'trial'") > 0
                    && RunJanitor.Cgroups(runId).SelectMany(Members).Any() ? "ready" : null,
                TimeSpan.FromMinutes(4), resumed);
            resumed.Signal(Posix.SigKill);
            await resumed.WaitAsync(TimeSpan.FromSeconds(30));
            beforeSecondKill = await demo.TrialsAsync();
            orphanDaemons = [.. RunJanitor.Cgroups(runId).SelectMany(Members)];
        }

        Assert.NotEmpty(orphanDaemons);
        Assert.All(orphanDaemons, pid => Assert.True(Posix.Exists(pid), $"orphan {pid} should outlive the killed orchestrator"));
        var status = await ToolProcess.RunAsync(TimeSpan.FromMinutes(1), "status", runId, "--results", demo.Results);
        Assert.Contains("is gone", status.Out);

        // Act
        var final = await ToolProcess.RunAsync(TimeSpan.FromMinutes(8), "resume", runId, "--results", demo.Results);

        // Assert
        Assert.True(final.Exit == 0, $"resume failed with {final.Exit}:\n{final.Err}\n{final.Out}");
        Assert.Contains($"culprit: {demo.Demo.CulpritSha}", final.Out);
        Assert.Contains("cleaned up after the previous process", final.Err);
        var after = await demo.TrialsAsync();
        foreach (var (id, trial) in beforeSecondKill)
        {
            Assert.True(after.TryGetValue(id, out var kept), $"trial {id} was lost");
            Assert.Equal(trial, kept);
        }

        Assert.True(after.Count > beforeSecondKill.Count, "resume measured nothing new");
        Assert.All(orphanDaemons, pid => Assert.False(Posix.Exists(pid) && Posix.ReadComm(pid) is "demod" or "demo-client", $"orphan {pid} still runs"));
        Assert.Empty(RunJanitor.Cgroups(runId));
        Assert.False(Directory.Exists(RunJanitor.WorkRoot(runId)), "the dead run's temporary folder is left");
        var worktrees = await Bisector.Tests.Demo.DemoTestSupport.GitAsync(demo.Demo.Path, "worktree", "list", "--porcelain");
        Assert.DoesNotContain(RunJanitor.WorkRoot(runId), worktrees);
        Assert.Equal(0, await demo.CountAsync("in_flight"));

        // Every trial index of a commit is stored once: resume re-did only unfinished work, it did not repeat trials. (A
        // variant — the revert proof's reverted build, an experiment — numbers its own trials at the same position.)
        await using var connection = demo.Open();
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM (SELECT position, trial_index FROM trials WHERE outcome = 'Ok' GROUP BY variant, position, trial_index HAVING COUNT(*) > 1)"));
    }

    [Fact(Timeout = 900_000)]
    public async Task I_can_kill_the_orchestrator_while_it_holds_the_database_write_lock_and_resume_with_every_committed_trial_whole()
    {
        // Arrange: the run has stored a trial, so its next write transactions are trials with their samples.
        await using var demo = await DemoRun.CreateAsync();
        string runId;
        long killsInsideWrite = 0;
        using (var first = ToolProcess.Start(demo.StartArgs()))
        {
            runId = await demo.WaitForAsync(
                async c => await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM trials WHERE outcome = 'Ok'") > 0
                    ? await c.ExecuteScalarAsync<string>("SELECT id FROM runs") : null,
                TimeSpan.FromMinutes(3), first);

            // Act: a second connection tries to take the write lock without waiting (straight through SQLite's C API:
            // Microsoft.Data.Sqlite would retry a busy statement); the moment it is refused, the tool holds the lock,
            // which SQLite takes only inside a write transaction, and is killed at once.
            await using var probe = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = demo.Database,
                Mode = SqliteOpenMode.ReadWrite,
                Pooling = false,
            }.ToString());
            await probe.OpenAsync();
            await probe.ExecuteAsync("PRAGMA busy_timeout = 0;");
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
            while (killsInsideWrite == 0 && DateTime.UtcNow < deadline && !first.Process.HasExited)
            {
                var rc = SQLitePCL.raw.sqlite3_exec(probe.Handle, "BEGIN IMMEDIATE");
                if (rc == SQLitePCL.raw.SQLITE_BUSY)
                {
                    first.Signal(Posix.SigKill);
                    killsInsideWrite++;
                }
                else
                {
                    Assert.Equal(SQLitePCL.raw.SQLITE_OK, rc);
                    Assert.Equal(SQLitePCL.raw.SQLITE_OK, SQLitePCL.raw.sqlite3_exec(probe.Handle, "ROLLBACK"));
                    await Task.Delay(1);
                }
            }

            await first.WaitAsync(TimeSpan.FromSeconds(30));
        }

        var afterKill = await demo.TrialsAsync();

        // Assert: the file is sound, and every trial that was committed is whole (all its samples, none half-written).
        Assert.Equal(1, killsInsideWrite);
        await using (var check = demo.Open())
        {
            Assert.Equal("ok", await check.ExecuteScalarAsync<string>("PRAGMA integrity_check;"));
            Assert.Equal(0, await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM samples WHERE trial_id NOT IN (SELECT id FROM trials)"));
            var perTrial = (await check.QueryAsync<long>(
                "SELECT COUNT(*) FROM samples s JOIN trials t ON t.id = s.trial_id WHERE t.outcome = 'Ok' AND s.metric = 'rss_anon' GROUP BY t.id")).ToList();
            Assert.NotEmpty(perTrial);
            Assert.All(perTrial, n => Assert.True(n >= 40, $"an Ok trial holds only {n} rss_anon samples of a 6 s series at 10 Hz"));
        }

        var final = await ToolProcess.RunAsync(TimeSpan.FromMinutes(8), "resume", runId, "--results", demo.Results);
        Assert.True(final.Exit == 0, $"resume failed with {final.Exit}:\n{final.Err}\n{final.Out}");
        Assert.Contains($"culprit: {demo.Demo.CulpritSha}", final.Out);
        var after = await demo.TrialsAsync();
        Assert.All(afterKill, kv => Assert.Equal(kv.Value, after[kv.Key]));
        Assert.Empty(RunJanitor.Cgroups(runId));
    }

    private static IEnumerable<int> Members(string cgroup)
    {
        try
        {
            return [.. File.ReadAllLines(Path.Combine(cgroup, "cgroup.procs")).Where(l => l.Length > 0).Select(int.Parse)];
        }
        catch (IOException)
        {
            return [];
        }
    }
}
