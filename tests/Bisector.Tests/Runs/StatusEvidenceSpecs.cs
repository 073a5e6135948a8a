using Bisector.Cli;
using Bisector.Sampling;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Tests.Storage;

namespace Bisector.Tests.Runs;

/// <summary>
/// <c>bisector status</c> during a run: each measured commit's feature median and current verdict against the good
/// end, and the posterior's leading block — read from the trials stored so far in a real results database.
/// </summary>
public sealed class StatusEvidenceSpecs : IDisposable
{
    private const double MiB = 1024 * 1024;
    private readonly string _results = Directory.CreateTempSubdirectory("bisector-status-").FullName;

    private static Dictionary<string, TrialSeries> Flat(double mib, int trial) => StoredRun.Flat(mib, trial);

    [Fact]
    public async Task I_can_see_each_measured_commits_median_verdict_and_the_leading_block_while_a_run_is_going()
    {
        // Arrange: six candidates, the change at 4; so far the search measured 0 and 3 ten times, 6 five times, 4 not yet
        var recipe = StoredRun.Recipe("  metric: rss_anon\n  feature: plateau\n  direction: increase\n  min-effect: 1048576",
            "sampling:\n  warmup: 1s\n  window: 7s");
        await using (var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db")))
        {
            var run = await StoredRun.CreateAsync(store, recipe, candidates: 6);
            for (var i = 0; i < 10; i++)
            {
                await run.AddTrialAsync(0, i, Flat(10, i));
                await run.AddTrialAsync(3, i, Flat(10, i + 1));
                if (i < 5)
                    await run.AddTrialAsync(6, i, Flat(14, i));
            }
        }

        var output = new StringWriter();

        // Act
        var exit = await StatusCommand.ExecuteAsync(_results, null, false, output);

        // Assert
        var lines = output.ToString().Split('\n');
        Assert.Equal(0, exit);
        Assert.Contains(lines, l => l.StartsWith("evidence   rss_anon plateau per commit (median of its trials), verdict against the good end as it stands now:", StringComparison.Ordinal));
        AssertLine(lines, "  #0 ", @"^  #0   [0-9a-f]{10} 10 ok trial\(s\)  median 10\.0\d MiB  good end  good end$");
        AssertLine(lines, "  #3 ", @"^  #3   [0-9a-f]{10} 10 ok trial\(s\)  median 10\.0\d MiB  Same, p = [0-9.]+  change 3$");
        // 10 vs 5 fully separated: an exact p of the order of 1/C(15, 5) = 1/3003 (ties make the two tails unequal)
        AssertLine(lines, "  #6 ", @"^  #6   [0-9a-f]{10} 5 ok trial\(s\)  median 14\.0\d MiB  Regressed, p = 0\.000[0-9]{3}  change 6$");
        AssertLine(lines, "leading ", @"^leading    #4\.\.#6 \(3 commits\) hold (> 99\.9|100\.0|9\d\.\d)% of the culprit posterior \(target 95\.0%\)$");
        Assert.Contains("verdict    (not decided yet)", lines);
    }

    private static void AssertLine(string[] lines, string prefix, string pattern)
    {
        var line = Line(lines, prefix);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(line, pattern), $"'{line}' does not match {pattern}");
    }

    private static string Line(string[] lines, string prefix) =>
        lines.SingleOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) ?? throw new Xunit.Sdk.XunitException($"no line starting '{prefix}' in:\n{string.Join('\n', lines)}");

    public void Dispose() => Directory.Delete(_results, recursive: true);
}
