using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bisector.Cli;
using Bisector.Diagnosis;
using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Tests.Storage;

namespace Bisector.Tests.Reporting;

/// <summary>
/// Each output channel (the HTML and Markdown report, the terminal summary, <c>bisector status</c>, the JSON result)
/// puts the search's fixed words into a fix run's words in one place: the engine's texts below say "culprit",
/// "regression" and "good end" as the search stores them, and none of that may reach a fix run's output, while git
/// text (a subject that says "regression", the reproduce command) is shown exactly as it is.
/// </summary>
public sealed class SpeakingOnceSpecs : IDisposable
{
    // The culprit's subject, as git has it: it must stay as written in every channel.
    private const string GitSubject = "journald: undo the regression on the good path (culprit of #123)";

    // Whole words of a regression run (and the good/bad ends) that a fix run must not print outside git text.
    private static readonly Regex SearchWords = new(@"culprit|regress|\bgood\b|\bbad\b", RegexOptions.IgnoreCase);

    private readonly string _dir = Directory.CreateTempSubdirectory("bisector-speak-once-").FullName;

    private static ReportModel FixRun()
    {
        var synthetic = SyntheticRun.Build();
        return synthetic with
        {
            Decision = synthetic.Decision with { Direction = RegressionDirection.Decrease },
            Commits = synthetic.Commits.Select(c => c.Position == SyntheticRun.Culprit ? c with { Commit = c.Commit with { Subject = GitSubject } } : c).ToList(),
            Outcome = synthetic.Outcome! with
            {
                Summary = "Found: 6 with posterior 97.0 %, confirmed by fresh trials that 6 is bad and 5 is good; the culprit's regression is " +
                          "real: the bad end is worse than the good end",
            },
            Terms = Terms.Fix,
            // A revert proof whose revert did not apply: its stored headline says "the bad end"
            Revert = new RevertReport(synthetic.At(SyntheticRun.Culprit)!.Commit with { Subject = GitSubject }, synthetic.At(synthetic.LastPosition)!.Commit,
                "git revert --no-commit " + synthetic.At(SyntheticRun.Culprit)!.Commit.Sha, RevertStatus.Conflict, ["src/journal/journald-server.c"], null, null,
                0, 0, 0, 0, RegressionDirection.Decrease, FeatureScale.For(synthetic.Decision.Metric, synthetic.Decision.Feature)),
            ScanNotRun = "not run: the culprit was named, but the scan for a further regression after the good end was not asked for",
            Calibration = "A/A: one build measured as both the good end and the bad end: no regression (the culprit test passes)",
        };
    }

    /// <summary>The output with every verbatim git text taken out, so what is left is the tool's own words.</summary>
    private static string WithoutGitText(string text, ReportModel m)
    {
        foreach (var verbatim in new[] { GitSubject, m.Run.ReproduceCommand })
            text = text.Replace(verbatim, "", StringComparison.Ordinal);
        return text;
    }

    private static string HtmlText(string html)
    {
        var body = Regex.Replace(html, "<(style|script)>.*?</\\1>", "", RegexOptions.Singleline);
        return WebUtility.HtmlDecode(Regex.Replace(body, "<[^>]+>", " "));
    }

    [Fact]
    public async Task I_can_read_a_fix_run_in_the_report_the_terminal_and_json_with_only_git_text_in_the_searchs_words()
    {
        // Arrange
        var model = FixRun();
        var terminal = new StringWriter();

        // Act
        var files = await ReportWriter.WriteAsync(model, _dir);
        TerminalSummary.WritePlain(model, terminal);
        using var json = JsonDocument.Parse(RunResultJson.Render(model, _dir));

        // Assert: the subject is shown as git has it, and nothing else speaks of a culprit, a regression or good/bad
        var html = HtmlText(await File.ReadAllTextAsync(files.Html));
        var md = await File.ReadAllTextAsync(files.Markdown);
        var text = terminal.ToString();
        foreach (var (channel, output) in new[] { ("html", html), ("markdown", md), ("terminal", text) })
        {
            Assert.True(output.Contains(GitSubject, StringComparison.Ordinal), $"{channel} does not show the subject as git has it");
            var spoken = WithoutGitText(output, model);
            Assert.False(SearchWords.IsMatch(spoken), $"{channel} says '{SearchWords.Match(spoken).Value}' in a fix run: …{Around(spoken, SearchWords.Match(spoken).Index)}…");
        }

        Assert.Contains("the fix's fix is real: the fixed end is better than the broken end", text);
        Assert.Contains("A/A: one build measured as both the broken end and the fixed end: no fix (the fix test passes)", html);
        Assert.Contains("Scan for further changes not run", md);
        Assert.Contains("does not apply cleanly to the fixed end", text);
        Assert.Contains("does not apply cleanly to the fixed end", html);

        // Assert: JSON's prose in the run's words; its documented values ("verdict": "culprit", "comparison": "Regressed", "side":
        // "culprit"; docs/json.md) and git text as they are
        var prose = new List<(string Name, string Value)>();
        Strings(json.RootElement, null, prose);
        var git = new HashSet<string> { "conflicts", "subject", "sha", "lastSha", "culpritSha", "ontoSha", "goodSha", "command", "range", "recipe", "directory", "html", "markdown" };
        var schema = new HashSet<string> { "verdict", "comparison", "side", "kind", "old", "new", "foundBy", "direction", "result", "status", "finding" };
        Assert.Contains(prose, p => p is { Name: "subject", Value: GitSubject });
        Assert.Contains(prose, p => p.Name == "summary");
        Assert.Contains(prose, p => p.Name == "notScanned");
        Assert.Contains(prose, p => p.Name == "headline" && p.Value.Contains("to the fixed end", StringComparison.Ordinal));
        foreach (var (name, value) in prose.Where(p => !git.Contains(p.Name) && !schema.Contains(p.Name)))
            Assert.False(SearchWords.IsMatch(value), $"JSON {name} says '{value}'");
    }

    [Fact]
    public async Task I_can_read_a_fix_runs_status_in_its_words_with_the_subjects_as_git_has_them()
    {
        // Arrange: a stored fix run (its subjects say "good end" and "change N", as StoredRun writes them) whose search
        // summary is stored in the search's fixed words
        var recipe = StoredRun.Recipe("  metric: rss_anon\n  feature: plateau\n  direction: decrease\n  min-effect: 1048576",
            "sampling:\n  warmup: 1s\n  window: 7s");
        string id;
        await using (var store = await ResultsStore.OpenAsync(Path.Combine(_dir, "bisector.db")))
        {
            var run = await StoredRun.CreateAsync(store, recipe, candidates: 4, terms: Terms.Fix);
            id = run.Id;
            for (var i = 0; i < 3; i++)
            {
                await run.AddTrialAsync(0, i, StoredRun.Flat(14, i));
                await run.AddTrialAsync(4, i, StoredRun.Flat(10, i));
            }

            await store.SetRunStatusAsync(run.Id, RunStatus.Interrupted, null, "Found: 2, the culprit; the bad end is not a regression of the good end");
        }

        var output = new StringWriter();
        var list = new StringWriter();

        // Act
        await StatusCommand.ExecuteAsync(_dir, id, list: false, output);
        await StatusCommand.ExecuteAsync(_dir, null, list: true, list);

        // Assert: the subject of position 0 ("good end", git text) stays; every word of the tool's is the run's
        var lines = output.ToString().Split('\n');
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^  #0   [0-9a-f]{10} 3 ok trial\(s\)  median 14\.0\d MiB  broken end  good end$"));
        Assert.Contains("commits    4 candidate(s) + broken anchor", lines);
        Assert.Contains("verdict    Found: 2, the fix; the fixed end is not a fix of the broken end", lines);
        Assert.Contains("the fix; the fixed end", list.ToString());
        var spoken = string.Join('\n', lines.Where(l => !l.StartsWith("  #0 ", StringComparison.Ordinal)));
        Assert.False(SearchWords.IsMatch(spoken), $"status says '{SearchWords.Match(spoken).Value}' in a fix run:\n{spoken}");
        Assert.DoesNotMatch(SearchWords, list.ToString().Replace("bisector start a..b", "", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("worse", "better")]
    [InlineData("slow", "regressed")]
    [InlineData("culprit", "fixed")]
    public void I_can_be_told_a_fix_runs_term_is_a_word_the_tool_rewrites(string termOld, string termNew)
    {
        // Act
        var error = Assert.Throws<UsageException>(() => Terms.Resolve(findFix: true, termOld, termNew));

        // Assert
        Assert.Contains("puts into its own words", error.Message);
        Assert.Equal(new Terms(RunKind.Regression, "worse", "better"), Terms.Resolve(findFix: false, "worse", "better"));
    }

    [Fact]
    public void I_can_speak_spoken_text_again_and_get_the_same_text()
    {
        // Arrange: the search's words, and terms that are themselves words a fix run puts in
        const string Stored = "the culprit's regression: the bad end is worse than the good end; a regression, regressed, improving";
        var custom = Terms.Resolve(findFix: true, "leaky", "flat");

        // Act
        var once = custom.Speak(Stored);
        var twice = custom.Speak(once);
        var fixOnce = Terms.Fix.Speak(Stored);

        // Assert
        Assert.Equal("the fix's fix: the flat end is better than the leaky end; a fix, flat, worsening", once);
        Assert.Equal(once, twice);
        Assert.Equal(fixOnce, Terms.Fix.Speak(fixOnce));
    }

    private static void Strings(JsonElement e, string? name, List<(string, string)> into)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                    Strings(p.Value, p.Name, into);
                break;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray())
                    Strings(item, name, into);
                break;
            case JsonValueKind.String:
                into.Add((name ?? "", e.GetString()!));
                break;
        }
    }

    private static string Around(string text, int index) => text[Math.Max(0, index - 60)..Math.Min(text.Length, index + 60)];

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
