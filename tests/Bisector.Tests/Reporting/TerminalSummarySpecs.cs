using Bisector.Reporting;
using Spectre.Console;

namespace Bisector.Tests.Reporting;

public sealed class TerminalSummarySpecs
{
    private static (IAnsiConsole Console, StringWriter Out) Console(bool ansi, bool interactive = false)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = ansi ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = ansi ? ColorSystemSupport.TrueColor : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 160;
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
        Assert.Contains("+-", text);
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
