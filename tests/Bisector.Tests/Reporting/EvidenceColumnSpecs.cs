using System.Text.Json;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Tests.Storage;

namespace Bisector.Tests.Reporting;

/// <summary>
/// The "vs good" column shows the side of the culprit the search decided, with the posterior probability of that side,
/// and the per-commit test only where it decided; an interval two trials cannot bound reads "—" (null in JSON), never
/// "[-Infinity, Infinity]".
/// </summary>
public sealed class EvidenceColumnSpecs : IDisposable
{
    private const double MiB = 1024 * 1024;
    private readonly string _dir = Directory.CreateTempSubdirectory("bisector-evidence-column-").FullName;

    /// <summary>The culprit measured twice against two trials of the good end, as the evidence-sized search leaves it:
    /// the exact test cannot decide and its interval is unbounded.</summary>
    private static Comparison TwoTrials(ReportModel m) =>
        new(Verdict.Unknown, "exact Mann–Whitney", 1.0 / 3, 0.01, 2.0 * MiB, double.NegativeInfinity, double.PositiveInfinity, 0.95,
            m.Decision.MinEffect, [0.0, 0.01 * MiB], [2.0 * MiB, 2.1 * MiB], "Unknown: 2 vs 2 trials");

    private static ReportModel FoundWithTwoTrialCulprit()
    {
        var synthetic = SyntheticRun.Build();
        var unbounded = TwoTrials(synthetic);
        return synthetic with
        {
            Commits = synthetic.Commits.Select(c => c.Position == SyntheticRun.Culprit ? c with { VersusGood = unbounded } : c).ToList(),
            Outcome = synthetic.Outcome! with { Boundary = unbounded },
        };
    }

    /// <summary>P(the change is at or before <paramref name="position"/>), from the search's posterior (index i = position i + 1).</summary>
    private static double AtOrBefore(ReportModel m, int position) => m.Outcome!.Posterior.Take(position).Sum();

    [Fact]
    public async Task I_can_read_the_side_the_search_decided_for_each_commit_and_no_unbounded_interval()
    {
        // Arrange
        var model = FoundWithTwoTrialCulprit();
        var terminal = new StringWriter();

        // Act
        var evidence = ReportFacts.Evidence(model).ToDictionary(e => e.Report.Position);
        var files = await ReportWriter.WriteAsync(model, _dir);
        TerminalSummary.WritePlain(model, terminal);
        using var json = JsonDocument.Parse(RunResultJson.Render(model, _dir));

        // Assert: the culprit's row is the search's decision, not its undecided two-trial test
        var culprit = evidence[SyntheticRun.Culprit];
        Assert.Equal($"bad side ({ReportFacts.Percent(AtOrBefore(model, SyntheticRun.Culprit))})", culprit.Status);
        Assert.Equal(AtOrBefore(model, SyntheticRun.Culprit), culprit.SearchSide!.Probability!.Value, 9);
        // A good-side commit: the probability that the change comes after it, and its own test where that decided
        var before = evidence[SyntheticRun.Culprit - 1];
        Assert.StartsWith($"good side ({ReportFacts.Percent(1 - AtOrBefore(model, SyntheticRun.Culprit - 1))})", before.Status);
        Assert.Equal(before.VersusGood!.Verdict == Verdict.Unknown ? "" : "; test: " + before.VersusGood.Verdict, before.Status[before.Status.IndexOf(')', StringComparison.Ordinal)..][1..]);
        Assert.StartsWith("bad side (", evidence[model.LastPosition].Status);
        Assert.Equal("good anchor", evidence[0].Status);

        // Assert: every writer shows it, and none prints an unbounded interval
        var html = await File.ReadAllTextAsync(files.Html);
        var md = await File.ReadAllTextAsync(files.Markdown);
        var text = terminal.ToString();
        Assert.Contains($"<b>{culprit.Status} — culprit</b>", html);
        Assert.Contains($"**{culprit.Status} — culprit**", md);
        Assert.Contains($"{culprit.Status} ← culprit", text);
        Assert.Contains("| +2.00 — |", md);
        Assert.Contains("95% CI — (too few trials for an interval)", text);
        foreach (var output in new[] { html, md, text })
        {
            Assert.DoesNotContain("Infinity", output);
            Assert.DoesNotContain("∞", output);
        }

        // A comparison the search stored without a test (no trials to compare yet) shows no number at all
        var untested = evidence[SyntheticRun.Culprit - 1] with
        {
            VersusGood = new Comparison(Verdict.Unknown, "none", double.NaN, 0.01, double.NaN,
            double.NaN, double.NaN, 0.95, model.Decision.MinEffect, [], [], "not compared")
        };
        Assert.Equal(("—", "—"), (untested.PCell, untested.EffectCell(model)));

        // Assert: the rule under the table says which column is the search's and which the per-commit test's
        Assert.Contains("shows the side of the culprit the search put each commit on, with the posterior probability", md);
        Assert.Contains("\"test:\" gives that verdict", md);

        // Assert: JSON gives the side's probability and leaves the unbounded interval's ends null
        var row = json.RootElement.GetProperty("commits")[SyntheticRun.Culprit];
        Assert.Equal("culprit", row.GetProperty("side").GetString());
        Assert.Equal(AtOrBefore(model, SyntheticRun.Culprit), row.GetProperty("sideProbability").GetDouble(), 5);
        Assert.Equal(JsonValueKind.Null, row.GetProperty("versusGood").GetProperty("low").ValueKind);
        Assert.Equal(JsonValueKind.Null, row.GetProperty("versusGood").GetProperty("high").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("effect").GetProperty("high").ValueKind);
    }

    [Fact]
    public void I_can_read_each_commits_own_test_when_the_search_named_no_culprit()
    {
        // Arrange
        var model = SyntheticRun.Build(SearchStatus.Undecided);

        // Act
        var evidence = ReportFacts.Evidence(model).Where(e => e.Report.Position > 0 && e.Report.Measured).ToList();
        using var json = JsonDocument.Parse(RunResultJson.Render(model, null));

        // Assert: no side was decided, so the column is the per-commit test's verdict as before
        Assert.NotEmpty(evidence);
        Assert.All(evidence, e => Assert.Equal(e.VersusGood!.Verdict.ToString(), e.Status));
        Assert.All(json.RootElement.GetProperty("commits").EnumerateArray(), c => Assert.Equal(JsonValueKind.Null, c.GetProperty("sideProbability").ValueKind));
        Assert.DoesNotContain("side of the culprit", ReportFacts.DecisionRule(model));
    }

    [Fact]
    public async Task I_can_read_the_side_the_search_decided_in_the_status_of_a_finished_run()
    {
        // Arrange: a finished run that named 3 of 4 candidates, its posterior split 1 % / 98 % / 1 % over 2, 3 and 4,
        // and no per-commit test stored (the search decided on its own evidence)
        var recipe = StoredRun.Recipe("  metric: rss_anon\n  feature: plateau\n  direction: increase\n  min-effect: 1048576",
            "sampling:\n  warmup: 1s\n  window: 7s");
        await using (var store = await ResultsStore.OpenAsync(Path.Combine(_dir, "bisector.db")))
        {
            var run = await StoredRun.CreateAsync(store, recipe, candidates: 4);
            foreach (var (position, mib) in new[] { (0, 10.0), (2, 10.0), (3, 14.0), (4, 14.0) })
                await run.AddTrialAsync(position, 0, StoredRun.Flat(mib, 0));
            var outcome = new SearchOutcome(SearchStatus.Found, 3, 3, 3, 0.98, null, [0.0, 0.01, 0.98, 0.01],
                new Dictionary<int, Comparison>(), [], 4, false, "Found: 3");
            await store.SetRunStatusAsync(run.Id, RunStatus.Finished, JsonSerializer.Serialize(outcome, RunEngine.Json), outcome.Summary);
        }

        var output = new StringWriter();

        // Act
        await Bisector.Cli.StatusCommand.ExecuteAsync(_dir, null, list: false, output);

        // Assert
        var lines = output.ToString().Split('\n');
        Assert.Contains("evidence   rss_anon plateau per commit (median of its trials), the side of the culprit the search decided, then its verdict against the good end:", lines);
        Assert.Contains(lines, l => l.StartsWith("  #2 ", StringComparison.Ordinal) && l.Contains("  good side (99.0%)  change 2", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  #3 ", StringComparison.Ordinal) && l.Contains("  bad side (99.0%)  change 3", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  #4 ", StringComparison.Ordinal) && l.Contains("  bad side (100.0%)  change 4", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
