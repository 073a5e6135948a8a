using System.Globalization;
using Dapper;

namespace Bisector.Tests.Reliability;

/// <summary>A build that hangs, end to end: the real tool, a real git worktree, a build step that never ends for
/// one commit, the recipe's build timeout.</summary>
[LongRunning(217)]
public sealed class BuildHangSpecs
{
    [Fact(Timeout = 900_000)]
    public async Task I_can_bisect_past_a_build_that_hangs_see_it_timed_out_and_skipped_in_the_report_and_nothing_of_it_left_running()
    {
        // Arrange: the O_NOCTTY commit (measured in the search's third round) sleeps instead of building. The timeout is
        // the limit under test, so only that build is slow: every other build (a second unloaded) keeps a minute of
        // headroom on a loaded CI machine, and the sleep outlasts the minute fivefold.
        await using var demo = await DemoRun.CreateAsync();
        var marker = string.Create(CultureInfo.InvariantCulture, $"{300 + Random.Shared.Next(1, 999_999) / 1e6:0.000000}");
        var recipe = await File.ReadAllTextAsync(demo.Recipe);
        recipe = recipe
            .Replace("    - make -j2\n", $"    - 'if git log -1 --format=%s | grep -q O_NOCTTY; then sleep {marker}; fi; make -j2'\n", StringComparison.Ordinal)
            .Replace("  timeout: 5m\n", "  timeout: 60s\n", StringComparison.Ordinal);
        await File.WriteAllTextAsync(demo.Recipe, recipe);
        var hanging = (await Bisector.Tests.Demo.DemoTestSupport.GitAsync(demo.Demo.Path, "log", "--format=%H", "--grep=O_NOCTTY", "-n", "1")).Trim();

        // Act
        var run = await ToolProcess.RunAsync(TimeSpan.FromMinutes(13), demo.StartArgs());

        // Assert
        Assert.True(run.Exit == 0, $"exit {run.Exit}:\n{run.Err}\n{run.Out}");
        Assert.Contains($"culprit: {demo.Demo.CulpritSha}", run.Out);
        await using var connection = demo.Open();
        var build = await connection.QuerySingleAsync<(string Status, long Milliseconds, string Log)>(
            "SELECT status, duration_ms, log FROM builds WHERE sha = @hanging", new { hanging });
        Assert.Equal("TimedOut", build.Status);
        Assert.InRange(build.Milliseconds, 59_500, 240_000);
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM trials WHERE sha = @hanging", new { hanging }));
        var reportPath = run.Out.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("report: ", StringComparison.Ordinal))["report: ".Length..];
        var report = await File.ReadAllTextAsync(reportPath);
        Assert.Contains("Skipped commits (1)", report);
        Assert.Contains($"<code>{hanging[..10]}</code>", report);
        Assert.Contains("build TimedOut", report);
        Assert.DoesNotContain(Directory.EnumerateDirectories("/proc"), d => Cmdline(d).Contains(marker, StringComparison.Ordinal));
    }

    private static string Cmdline(string procDirectory)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDirectory, "cmdline")).Replace('\0', ' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
