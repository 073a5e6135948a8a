using Bisector.Reporting;
using Bisector.Search;

namespace Bisector.Tests.Reporting;

/// <summary>"Changes in this range" in the report, the terminal and the headline, from a synthetic run's model.</summary>
public sealed class ChangesSectionSpecs
{
    private const double MiB = 1024 * 1024;

    /// <summary>The search named position 6; the scan found an earlier change at 2 (the answer) and measured the rest.</summary>
    private static ReportModel WithEarlierChange() =>
        SyntheticRun.Build() with
        {
            Changes = new RangeChanges(
            [
                new RangeChange(2, ChangeDirection.Worse, 1.5 * MiB, 1.2 * MiB, 1.8 * MiB, 0.99, 5, 6, 4.2e5, 0.0025, 0, 5, FoundBySearch: false) { RangeFirst = 2, IsAnswer = true },
                new RangeChange(6, ChangeDirection.Worse, 6 * MiB, 5.5 * MiB, 6.5 * MiB, 0.98, 8, 8, 3e9, 0.01, 0, 10, FoundBySearch: true) { RangeFirst = 6 },
            ],
            [
                new SegmentCheck(6, 10, ChangeDirection.Worse, SegmentVerdict.NoFurtherChange, 0.005, 3, "no change … (measured: n = 5 vs 5)"),
                new SegmentCheck(6, 10, ChangeDirection.Better, SegmentVerdict.NotChecked, 0, 0, "not checked: the scan's budget of 24 new trials is spent"),
                new SegmentCheck(0, 5, ChangeDirection.Worse, SegmentVerdict.ChangeFound, 0.0025, 9, "change in the recipe's direction at position 2"),
            ], 12, 24, 0.01),
        };

    [Fact]
    public void I_can_see_every_change_ranked_with_the_first_marked_as_the_answer_in_the_report()
    {
        // Arrange
        var model = WithEarlierChange();

        // Act
        var markdown = MarkdownReport.Render(ReportDocument.Build(model, []));

        // Assert: the section, largest first, the answer marked, unchecked segments stated as such
        var section = markdown[markdown.IndexOf("Changes in this range (2)", StringComparison.Ordinal)..];
        Assert.Contains($"| 1 | 6 | `{model.At(6)!.Commit.ShortSha}`", section);
        Assert.Contains($"| 2 | 2 | `{model.At(2)!.Commit.ShortSha}`", section);
        Assert.Contains(@"+6.00 \[5.50, 6.50\]", section);
        Assert.Contains("← the answer (first change)", section);
        Assert.Contains("git bisect's first bad commit", section);
        Assert.Contains("not checked", section);
        Assert.Contains("α/2^k", section);
        // The headline names the search's culprit and says the first change is another commit.
        Assert.Contains($"First change (the answer): `{model.At(2)!.Commit.ShortSha}`", markdown);
    }

    [Fact]
    public void I_can_read_a_fix_runs_scan_segments_in_the_fix_runs_words_in_the_report_and_json()
    {
        // Arrange: the search's stored explanation speaks its fixed words ("'no regression' log ratio"); a fix run
        // shows it in its own (the CI run of de4cf34 found it verbatim in a fix demo's report).
        var model = WithEarlierChange() with { Terms = Terms.Fix };
        var segments = model.Changes!.Segments.Select(s => s with { Explanation = "Same: e-value 2.1; 'no regression' log ratio 5.3 ≥ ln(1/β) = 5.3; the bad end" }).ToList();
        model = model with { Changes = model.Changes with { Segments = segments } };

        // Act
        var markdown = MarkdownReport.Render(ReportDocument.Build(model, []));
        var json = Bisector.Runs.RunResultJson.Render(model, null);

        // Assert
        var section = markdown[markdown.IndexOf("Changes in this range", StringComparison.Ordinal)..];
        Assert.Contains("'no fix' log ratio 5.3", section);
        Assert.Contains("the fixed end", section);
        Assert.DoesNotContain("regression", section);
        Assert.Contains("'no fix' log ratio 5.3", json);
        Assert.DoesNotContain("'no regression'", json);
    }

    [Fact]
    public void I_can_read_the_changes_in_the_terminal_with_what_was_not_decided()
    {
        // Arrange
        var model = WithEarlierChange();
        var output = new StringWriter();

        // Act
        TerminalSummary.WritePlain(model, output);

        // Assert
        var text = output.ToString();
        Assert.Contains("Changes in this range: 2, largest first (12 new trial(s) for the scan):", text);
        Assert.Contains($"  +1.50 MiB/min at #2 {model.At(2)!.Commit.ShortSha}", text);
        Assert.Contains("← the answer (first change)", text);
        Assert.Contains("no claim either way: 6..10 better (not checked)", text);
    }

    [Fact]
    public void I_can_see_that_a_run_without_the_scan_rules_nothing_out()
    {
        // Arrange
        var model = SyntheticRun.Build() with { ScanNotRun = "not run: the run was started with --no-scan" };

        // Act
        var markdown = MarkdownReport.Render(ReportDocument.Build(model, []));
        var json = Bisector.Runs.RunResultJson.Render(model, null);

        // Assert
        Assert.Contains("Scan for further changes not run: the run was started with --no-scan", markdown);
        Assert.Contains("none is ruled out", markdown);
        Assert.Contains("\"notScanned\": \"not run: the run was started with --no-scan\"", json);
    }
}
