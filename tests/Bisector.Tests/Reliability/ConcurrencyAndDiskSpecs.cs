using System.Diagnostics;
using Bisector.Runs;
using Dapper;

namespace Bisector.Tests.Reliability;

/// <summary>Two real runs on one database while 'bisector status' reads; a results folder on a tmpfs that fills up.</summary>
[LongRunning(178)]
public sealed class ConcurrencyAndDiskSpecs
{
    [Fact(Timeout = 600_000)]
    public async Task I_can_run_two_bisections_on_one_database_while_status_reads_and_neither_is_corrupted()
    {
        // Arrange: the smallest range around the culprit, so both runs decide quickly.
        await using var demo = await DemoRun.CreateAsync();
        var range = $"{demo.Demo.CulpritSha}~1..{demo.Demo.CulpritSha}";
        using var a = ToolProcess.Start(demo.StartArgs(range));
        using var b = ToolProcess.Start(demo.StartArgs(range));

        // Act: status reads over and over while both write.
        var reads = 0;
        while (!a.Process.HasExited || !b.Process.HasExited)
        {
            if (File.Exists(demo.Database))
            {
                var status = await ToolProcess.RunAsync(TimeSpan.FromMinutes(1), "status", "--list", "--results", demo.Results);
                Assert.True(status.Exit == 0, $"status failed while runs write: {status.Err}");
                reads++;
            }

            await Task.Delay(500);
        }

        // Assert
        Assert.True(await a.WaitAsync(TimeSpan.FromSeconds(5)) == 0, a.Err);
        Assert.True(await b.WaitAsync(TimeSpan.FromSeconds(5)) == 0, b.Err);
        Assert.Contains($"culprit: {demo.Demo.CulpritSha}", a.Out);
        Assert.Contains($"culprit: {demo.Demo.CulpritSha}", b.Out);
        Assert.True(reads >= 3, $"only {reads} status reads happened during the runs");
        await using var connection = demo.Open();
        Assert.Equal("ok", await connection.ExecuteScalarAsync<string>("PRAGMA integrity_check"));
        var perRun = (await connection.QueryAsync<(string Run, long Trials)>("SELECT run_id, COUNT(*) FROM trials WHERE outcome = 'Ok' GROUP BY run_id")).ToList();
        Assert.Equal(2, perRun.Count);
        Assert.All(perRun, r => Assert.True(r.Trials >= 4, $"run {r.Run} has {r.Trials} trials"));
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM samples s LEFT JOIN trials t ON t.id = s.trial_id WHERE t.id IS NULL"));
    }

    [Fact(Timeout = 900_000)]
    public async Task I_can_fill_the_results_disk_mid_run_get_a_clear_error_and_resume_once_there_is_space_keeping_every_sample()
    {
        // Arrange: --results on a 24 MiB tmpfs mounted for this test only (unique name, unmounted afterwards).
        await using var demo = await DemoRun.CreateAsync();
        Directory.CreateDirectory(demo.Results);
        var name = $"bisector-test-{Guid.NewGuid():N}";
        Run("mount", "-t", "tmpfs", "-o", "size=24m", name, demo.Results);
        var filler = Path.Combine(demo.Results, "filler");
        try
        {
            using var run = ToolProcess.Start(demo.StartArgs());
            var runId = await demo.WaitForAsync(c => c.QueryFirstOrDefaultAsync<string>("SELECT run_id FROM trials WHERE outcome = 'Ok'"), TimeSpan.FromMinutes(4), run);

            // Act: fill the disk while trials run.
            await FillAsync(filler);
            var exit = await run.WaitAsync(TimeSpan.FromMinutes(3));
            var kept = await demo.TrialsAsync();

            // Assert
            Assert.True(exit == 6, $"exit {exit}; stderr:\n{run.Err}");
            Assert.Contains("Free space in the results folder", run.Err);
            Assert.DoesNotContain("   at ", run.Err);
            Assert.NotEmpty(kept);

            File.Delete(filler);
            var resumed = await ToolProcess.RunAsync(TimeSpan.FromMinutes(8), "resume", runId, "--results", demo.Results);
            Assert.True(resumed.Exit == 0, $"resume: {resumed.Exit}\n{resumed.Err}");
            Assert.Contains($"culprit: {demo.Demo.CulpritSha}", resumed.Out);
            var after = await demo.TrialsAsync();
            Assert.All(kept, kv => Assert.Equal(kv.Value, after[kv.Key]));
        }
        finally
        {
            File.Delete(filler);
            foreach (var id in Directory.Exists(demo.Results) && File.Exists(demo.Database) ? await RunIdsAsync(demo) : [])
            {
                await RunJanitor.RemoveLeftoversAsync(id, demo.Demo.Path);
            }

            Run("umount", "-l", demo.Results);
        }
    }

    private static async Task<List<string>> RunIdsAsync(DemoRun demo)
    {
        await using var connection = demo.Open();
        return [.. await connection.QueryAsync<string>("SELECT id FROM runs")];
    }

    private static async Task FillAsync(string path)
    {
        var block = new byte[64 * 1024];
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        try
        {
            while (true)
            {
                await file.WriteAsync(block);
            }
        }
        catch (IOException)
        {
            // ENOSPC: the disk is full now.
        }
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        process.WaitForExit(30000);
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)}: {process.StandardError.ReadToEnd()}");
    }
}
