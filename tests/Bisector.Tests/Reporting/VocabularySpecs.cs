using System.Text.Json;
using System.Text.RegularExpressions;
using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Statistics;
using Bisector.Tests.Recipes;

namespace Bisector.Tests.Reporting;

/// <summary>The words of a run (<see cref="Terms"/>): what --find-fix and --term-old/--term-new resolve to, how the
/// search's fixed words are put into them, and that a fix run's report, terminal summary and JSON speak of a fix.</summary>
public sealed class VocabularySpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bisector-vocabulary-").FullName;

    // What a fix run must never say: the words of a regression (case-insensitive, whole words and their forms).
    private static readonly Regex RegressionWords = new(@"culprit|regress", RegexOptions.IgnoreCase);

    [Fact]
    public void I_can_resolve_the_flags_to_git_bisects_words()
    {
        // Act
        var plain = Terms.Resolve(findFix: false, null, null);
        var fix = Terms.Resolve(findFix: true, null, null);
        var named = Terms.Resolve(findFix: true, "Leaky", "flat");
        var renamed = Terms.Resolve(findFix: false, "fast", "slow");

        // Assert
        Assert.Equal(Terms.Regression, plain);
        Assert.True(plain.IsDefault);
        Assert.Equal(new Terms(RunKind.Fix, "broken", "fixed"), fix);
        Assert.Equal(new Terms(RunKind.Fix, "leaky", "flat"), named);
        Assert.Equal(new Terms(RunKind.Regression, "fast", "slow"), renamed);
        Assert.Equal(("fix", "Fix", "NO FIX FOUND", "vs broken", "broken anchor"), (fix.Answer, fix.AnswerTitle, fix.NoneFound, fix.VersusOld, fix.OldAnchor));
        Assert.Equal(("culprit", "NO REGRESSION FOUND", "vs good"), (plain.Answer, plain.NoneFound, plain.VersusOld));
    }

    [Theory]
    [InlineData("broken", null, "--term-old", "without --term-new")]
    [InlineData(null, "fixed", "--term-new", "without --term-old")]
    [InlineData("same", "Same", "--term-new", "also --term-old")]
    [InlineData("bad", "fixed", "--term-old", "names the other end")]
    [InlineData("broken", "good", "--term-new", "names the other end")]
    [InlineData("two words", "fixed", "--term-old", "is not one word")]
    [InlineData("broken", "$(rm)", "--term-new", "is not one word")]
    public void I_can_be_told_which_term_is_wrong(string? termOld, string? termNew, string flag, string problem)
    {
        // Act
        var error = Assert.Throws<UsageException>(() => Terms.Resolve(findFix: true, termOld, termNew));

        // Assert
        Assert.Equal(flag, error.Option);
        Assert.StartsWith(flag + ": ", error.Message);
        Assert.Contains(problem, error.Message);
        Assert.Equal(2, error.ExitCode);
    }

    [Fact]
    public void I_can_read_the_searchs_words_as_a_fix_and_keep_a_regression_as_it_was()
    {
        // Arrange: the search's and the diagnosis's fixed wording, as they store it
        const string Summary = "Found: 6 with posterior 97.0 %, confirmed by fresh trials: fresh trials give 9 nats that 6 is bad and 7 that 5 is good; " +
                               "'no regression' log ratio 0.2; verify: fresh trials of 5 (good side) and 6 (culprit); the bad end is not worse than the good end";

        // Act
        var fix = Terms.Fix.Speak(Summary);
        var regression = Terms.Regression.Speak(Summary);
        var renamed = new Terms(RunKind.Regression, "fast", "slow").Speak(Summary);

        // Assert
        Assert.Same(Summary, regression);
        Assert.DoesNotMatch(RegressionWords, fix);
        Assert.Contains("6 is fixed and 7 that 5 is broken", fix);
        Assert.Contains("'no fix'", fix);
        Assert.Contains("5 (broken side) and 6 (fix)", fix);
        Assert.Contains("the fixed end is not better than the broken end", fix);
        Assert.Contains("6 is slow and 7 that 5 is fast", renamed);
        Assert.Contains("(culprit)", renamed);
        // Whole words only: a word that merely contains one is left alone.
        Assert.Equal("badger goodwill", Terms.Fix.Speak("badger goodwill"));
    }

    [Theory]
    [InlineData(Verdict.Regressed, "Regressed", "Fixed")]
    [InlineData(Verdict.Same, "Same", "Same")]
    [InlineData(Verdict.Improved, "Improved", "Worse")]
    [InlineData(Verdict.Unknown, "Unknown", "Unknown")]
    public void I_can_read_each_verdict_in_the_runs_words(Verdict verdict, string regression, string fix)
    {
        // Act / Assert
        Assert.Equal(regression, Terms.Regression.VerdictWord(verdict));
        Assert.Equal(fix, Terms.Fix.VerdictWord(verdict));
    }

    [Fact]
    public async Task I_can_read_a_fix_run_in_the_terminal_the_report_and_json_without_a_culprit_or_a_regression()
    {
        // Arrange: a found run decided on a decrease, with the search's own wording in its summary and rule
        var synthetic = SyntheticRun.Build();
        var model = synthetic with
        {
            Decision = synthetic.Decision with { Direction = RegressionDirection.Decrease },
            Outcome = synthetic.Outcome! with { Summary = "Found: 6 with posterior 97.0 %: verify: fresh trials of 5 (good side) and 6 (culprit); 'no regression' at β" },
            Terms = Terms.Fix,
        };
        var terminal = new StringWriter();

        // Act
        TerminalSummary.WritePlain(model, terminal);
        var files = await ReportWriter.WriteAsync(model, _dir);
        using var json = JsonDocument.Parse(RunResultJson.Render(model, _dir));

        // Assert: the terminal
        var text = terminal.ToString();
        var fixCommit = model.At(SyntheticRun.Culprit)!.Commit;
        Assert.StartsWith($"Fix: {fixCommit.ShortSha}", text);
        Assert.Contains("vs broken", text);
        Assert.Contains("← fix", text);
        Assert.Contains("broken anchor", text);
        Assert.Contains("Fixed", text);
        Assert.DoesNotMatch(RegressionWords, text);

        // Assert: the report (Markdown; its fenced blocks hold git text and the reproduce command, shown verbatim)
        var md = await File.ReadAllTextAsync(files.Markdown);
        Assert.Contains($"Fix: {fixCommit.ShortSha}", md);
        Assert.Contains("vs broken", md);
        Assert.Contains("--find-fix: looking for the commit that lowered it", md);
        Assert.DoesNotMatch(RegressionWords, md);
        var html = await File.ReadAllTextAsync(files.Html);
        Assert.Contains($"Fix: {fixCommit.ShortSha}", html);

        // Assert: JSON says what the run looked for and names the fix; the old fields keep their meaning
        var root = json.RootElement;
        Assert.Equal("fix", root.GetProperty("kind").GetString());
        Assert.Equal("broken", root.GetProperty("terms").GetProperty("old").GetString());
        Assert.Equal("fixed", root.GetProperty("terms").GetProperty("new").GetString());
        Assert.Equal(fixCommit.Sha, root.GetProperty("fix").GetProperty("sha").GetString());
        Assert.Equal(fixCommit.Sha, root.GetProperty("culprit").GetProperty("sha").GetString());
        Assert.DoesNotMatch(RegressionWords, root.GetProperty("summary").GetString()!);
    }

    [Fact]
    public void I_can_see_a_regression_run_keep_its_words_and_json_say_so()
    {
        // Arrange
        var model = SyntheticRun.Build();
        var terminal = new StringWriter();

        // Act
        TerminalSummary.WritePlain(model, terminal);
        using var json = JsonDocument.Parse(RunResultJson.Render(model, null));

        // Assert
        Assert.StartsWith("Culprit: ", terminal.ToString());
        Assert.Contains("vs good", terminal.ToString());
        Assert.Equal("regression", json.RootElement.GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("fix").ValueKind);
        Assert.Equal("good", json.RootElement.GetProperty("terms").GetProperty("old").GetString());
    }

    [Fact]
    public void I_can_turn_a_regression_recipe_into_a_fix_search_and_not_a_fix_recipe()
    {
        // Arrange
        var increase = Path.Combine(_dir, "increase.yaml");
        var decrease = Path.Combine(_dir, "decrease.yaml");
        File.WriteAllText(increase, RecipeFixtures.Minimal);
        File.WriteAllText(decrease, RecipeFixtures.Minimal + "\n  direction: decrease\n");
        var written = RecipeLoader.Load(increase);

        // Act
        var flipped = RecipeOverrides.FindingFix(written);
        var error = Assert.Throws<UsageException>(() => RecipeOverrides.FindingFix(RecipeLoader.Load(decrease)));

        // Assert: the decision turns round and the hash says so (a resume applies the same flip and finds the same hash)
        Assert.Equal(RegressionDirection.Decrease, flipped.Decide.Direction);
        Assert.NotEqual(written.Hash, flipped.Hash);
        Assert.Equal(flipped.Hash, RecipeOverrides.FindingFix(RecipeLoader.Load(increase)).Hash);
        Assert.Equal("--find-fix", error.Option);
        var line = File.ReadAllLines(decrease).ToList().FindIndex(l => l.Contains("direction: decrease", StringComparison.Ordinal)) + 1;
        Assert.Contains($"{decrease}:{line}", error.Message);
        Assert.Contains("Leave out --find-fix", error.Message);
    }

    [Fact]
    public void I_can_store_a_runs_words_with_its_options_and_read_an_older_run_as_a_regression()
    {
        // Arrange: the options a fix run stores, and the same options as a version before --find-fix stored them
        var options = new RunOptions("/repo", "v1.0..v1.1", ["src/"], "/repo/recipe.yaml", ["local:2"], Bisector.Search.SearchStrategy.Bisect,
            0.95, 0.01, null, null, null, null, "/results", false, false, "bisector start v1.0..v1.1 --find-fix")
        { Terms = Terms.Resolve(findFix: true, "leaky", "flat") };
        var stored = JsonSerializer.Serialize(options, RunEngine.Json);
        var node = System.Text.Json.Nodes.JsonNode.Parse(stored)!.AsObject();
        node.Remove("Terms");
        var older = node.ToJsonString();

        // Act
        var read = JsonSerializer.Deserialize<RunOptions>(stored, RunEngine.Json)!;
        var readOlder = JsonSerializer.Deserialize<RunOptions>(older, RunEngine.Json)!;

        // Assert: a resume reads the same words and so flips the recipe the same way
        Assert.Contains("\"Terms\":{\"Kind\":\"Fix\",\"Old\":\"leaky\",\"New\":\"flat\"}", stored);
        Assert.DoesNotContain("Terms", older);
        Assert.Equal(new Terms(RunKind.Fix, "leaky", "flat"), read.Terms);
        Assert.Equal(Terms.Regression, readOlder.Terms);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
