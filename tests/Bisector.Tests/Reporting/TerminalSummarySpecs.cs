using System.Text.RegularExpressions;
using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Statistics;
using Spectre.Console;

namespace Bisector.Tests.Reporting;

public sealed class TerminalSummarySpecs
{
    private static (IAnsiConsole Console, StringWriter Out) Console(bool ansi, bool interactive = false, int width = 160)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = ansi ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = ansi ? ColorSystemSupport.TrueColor : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = width;
        return (console, writer);
    }

    [Fact]
    public void I_can_read_the_summary_as_plain_text_when_output_is_redirected()
    {
        // Arrange
        var model = SyntheticRun.Build();
        var (console, output) = Console(ansi: false);
        var culprit = model.At(SyntheticRun.Culprit)!.Commit;

        // Act
        TerminalSummary.Write(model, console);

        // Assert
        var text = output.ToString();
        Assert.DoesNotContain("\u001b[", text);
        Assert.StartsWith($"Culprit: {culprit.ShortSha} {culprit.Subject}", text);
        Assert.Contains("← culprit", text);
        foreach (var c in model.Commits.Where(c => c.Trials.Count > 0))
            Assert.Contains(c.Commit.ShortSha, text);
        // Hostile markup in a subject is printed, not interpreted (Spectre would throw on unbalanced markup).
        Assert.Contains("<script>alert('pwned')</script>", text);
    }

    [Fact]
    public void I_can_read_the_piped_summary_with_one_unwrapped_line_per_commit_and_no_exponent_notation()
    {
        // Arrange: a pipe is 80 columns to Spectre; a 150-character subject and the search's real evidence line (a
        // Comparisons explanation of the culprit's slopes, as the search writes it) must not be wrapped or cut.
        var synthetic = SyntheticRun.Build();
        var longSubject = "journald: " + string.Concat(Enumerable.Repeat("a rather long subject word ", 5)).Trim();
        var commits = synthetic.Commits.Select(c => c.Position == 5 ? c with { Commit = c.Commit with { Subject = longSubject } } : c).ToList();
        var explanation = Comparisons.Compare(synthetic.At(0)!.FeatureValues, synthetic.At(SyntheticRun.Culprit)!.FeatureValues,
            RegressionDirection.Increase, synthetic.Decision.MinEffect, 0.01, 0.0025, FeatureScale.For(synthetic.Decision.Metric, FeatureKind.Slope)).Explanation;
        var model = synthetic with { Commits = commits, Outcome = synthetic.Outcome! with { Summary = "6 with posterior 97.0 %: " + explanation } };
        var (console, output) = Console(ansi: false, width: 80);

        // Act
        TerminalSummary.Write(model, console);

        // Assert
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var shown = model.Commits.Where(c => c.Trials.Count > 0 || c.Skipped || c.Position == 0).ToList();
        var header = Array.FindIndex(lines, l => l.Contains("P(culprit)", StringComparison.Ordinal));
        var rows = lines[(header + 1)..^1];
        Assert.Equal(shown.Count, rows.Length);
        foreach (var c in shown)
        {
            var line = Assert.Single(rows, l => l.Contains(c.Commit.ShortSha, StringComparison.Ordinal));
            Assert.EndsWith(ReportFacts.OneLine(c.Commit.Subject), line.TrimEnd());
        }

        Assert.Contains(lines, l => l.StartsWith("  Search: ", StringComparison.Ordinal) && l.Contains("MiB/min", StringComparison.Ordinal) && l.Contains("threshold = 0.50 MiB/min", StringComparison.Ordinal));
        Assert.DoesNotMatch(new Regex(@"\d[eE][+-]\d"), output.ToString());
        Assert.DoesNotContain("\u001b[", output.ToString());
    }

    [Fact]
    public void I_can_see_the_summary_in_colour_on_a_terminal()
    {
        // Arrange
        var model = SyntheticRun.Build();
        var (console, output) = Console(ansi: true);

        // Act
        TerminalSummary.Write(model, console);

        // Assert
        var text = output.ToString();
        Assert.Contains("\u001b[", text);
        Assert.Contains("Culprit:", text);
    }

    [Fact]
    public void I_can_see_an_interrupted_run_called_partial_in_the_terminal()
    {
        // Arrange
        var model = SyntheticRun.Build(interrupted: true);
        var (console, output) = Console(ansi: false);

        // Act
        TerminalSummary.Write(model, console);

        // Assert
        Assert.StartsWith("PARTIAL: run interrupted", output.ToString());
    }

    [Fact]
    public async Task I_can_follow_progress_as_plain_lines_when_not_interactive()
    {
        // Arrange
        var (console, output) = Console(ansi: false);

        // Act
        var result = await RunProgress.RunAsync(console, async progress =>
        {
            Assert.False(progress.IsLive);
            var step = progress.AddStep("build commits", 3);
            // Parallel workers advance the same step; the total must still add up.
            await Task.WhenAll(Enumerable.Range(0, 3).Select(i => Task.Run(() => step.Advance(1, $"built commit {i}"))));
            step.Complete();
            return step.Value;
        });

        // Assert
        Assert.Equal(3, result);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^\[\d\d:\d\d:\d\d\] build commits: ", l));
        Assert.EndsWith("build commits: done 3/3", lines[^1].TrimEnd());
        Assert.DoesNotContain("\u001b[", output.ToString());
    }

    [Fact]
    public async Task I_can_show_live_progress_on_an_interactive_terminal()
    {
        // Arrange
        var (console, output) = Console(ansi: true, interactive: true);

        // Act
        var live = await RunProgress.RunAsync(console, progress =>
        {
            var step = progress.AddStep("run trials", 2);
            step.Advance(2, "all trials done");
            step.Complete();
            return Task.FromResult(progress.IsLive);
        });

        // Assert
        Assert.True(live);
        Assert.Contains("run trials", output.ToString());
        Assert.Contains("\u001b[", output.ToString());
    }
}
