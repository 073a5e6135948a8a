using Bisector.Cli;
using Bisector.Demo;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Search;

namespace Bisector.Tests.EndToEnd;

/// <summary>
/// The demo's verdicts beyond one culprit, end to end for real (git, gcc builds, daemons in cgroups and namespaces,
/// SQLite, report): two changes in one range, the fix found with --find-fix, and a culprit whose revert conflicts.
/// </summary>
[LongRunning(540)]
public sealed class DemoVerdictSpecs : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bisector-e2e-").FullName;

    [Fact(Timeout = 900_000)]
    public async Task I_can_see_both_changes_of_a_range_with_two_and_the_first_marked_as_the_answer()
    {
        // Arrange: a 16 MiB level step (the known culprit), then later a leak that raises the plateau again
        var results = Path.Combine(_root, "results-two");

        // Act
        var (demo, run) = await DemoCommand.RunAsync(Path.Combine(_root, "demo-two"), DemoScenario.TwoChanges, "bisect", ["local:2"], results, _ => { });

        // Assert: both changes, each with its commit and size; the step (the first change) is the answer
        Assert.True(run.Outcome!.Status == SearchStatus.Found, run.Outcome.Summary);
        var scan = run.Model!.Changes;
        Assert.NotNull(scan);
        Assert.Equal([demo.CulpritSha, .. demo.FurtherChangeShas], scan!.Changes.Select(c => run.Line[c.Position].Sha));
        Assert.Equal(demo.CulpritSha, run.Line[scan.Answer!.Position].Sha);
        Assert.All(scan.Changes, c => Assert.Equal(ChangeDirection.Worse, c.Direction));
        Assert.InRange(scan.Changes[0].Shift / (1024 * 1024), 12, 20);
        Assert.InRange(scan.Changes[1].Shift / (1024 * 1024), 1, 12);
        Assert.Equal(scan.Changes[0], scan.Ranked[0]);

        // Assert: the report, the terminal and --json say it
        var html = await File.ReadAllTextAsync(run.ReportPath!);
        Assert.Contains("Changes in this range (2)", html);
        Assert.Contains(demo.FurtherChangeShas[0][..10], html);
        var terminal = new StringWriter();
        TerminalSummary.WritePlain(run.Model, terminal);
        Assert.Contains($"#{scan.Answer.Position} {demo.CulpritSha[..10]}", terminal.ToString());
        Assert.Contains("← the answer (first change)", terminal.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(RunResultJson.Render(run.Model, run.ReportDirectory));
        Assert.Equal(demo.CulpritSha, json.RootElement.GetProperty("changes").GetProperty("answer").GetString());
        Assert.Equal(2, json.RootElement.GetProperty("changes").GetProperty("items").GetArrayLength());
    }

    [Fact(Timeout = 600_000)]
    public async Task I_can_find_the_fix_in_the_demo_and_read_it_as_a_fix_in_the_terminal_the_report_and_status()
    {
        // Arrange: fragmentation at v1.0 already; the known commit in v1.0..v1.1 removes it. The recipe is the
        // regression recipe (direction: increase); the demo runs it with --find-fix, as a user would.
        var results = Path.Combine(_root, "results-fix");
        var log = new List<string>();

        // Act
        var (demo, run) = await DemoCommand.RunAsync(Path.Combine(_root, "demo-fix"), DemoScenario.Fix, "bisect", ["local:2"], results, line => { lock (log) { log.Add(line); } });
        var terminal = new StringWriter();
        var exit = await DemoCommand.ReportAsync(demo, run, terminal);
        var status = new StringWriter();
        await StatusCommand.ExecuteAsync(results, run.RunId, list: false, status);
        var json = new StringWriter();
        await StatusCommand.JsonAsync(results, run.RunId, json);

        // Assert: the verdict
        Assert.NotNull(run.Outcome);
        Assert.True(run.Outcome!.Status == SearchStatus.Found, run.Outcome.Summary);
        Assert.Equal(demo.CulpritSha, run.Selection.Candidates[run.Outcome.Culprit!.Value - 1].Sha);
        Assert.Equal(Bisector.Statistics.Verdict.Regressed, run.Outcome.Boundary!.Verdict);
        Assert.Equal(Bisector.Recipes.RegressionDirection.Decrease, run.Outcome.Boundary.Direction);
        Assert.StartsWith("the growth stops, heap fragmentation is gone: ", run.Diagnosis);
        Assert.Contains("the big-block/realloc pattern is gone", run.Diagnosis);
        Assert.Equal(Terms.Fix, run.Terms);

        // Assert: the live log and the terminal speak of the fix (exit 0, as for a culprit)
        var live = string.Join('\n', log);
        Assert.Contains("diagnosis: the growth stops", live);
        Assert.DoesNotMatch(RegressionWords, live);
        var said = terminal.ToString();
        Assert.Equal(0, exit);
        // A writer that is not the terminal gets the plain layout whatever TERM says (with TERM=xterm, Spectre drew the
        // boxed table at 80 columns into it and wrapped "← fix" over two lines)
        Assert.DoesNotContain("\u001b[", said);
        Assert.Contains($"Fix: {demo.CulpritSha[..10]}", said);
        Assert.Contains($"fix: {demo.CulpritSha} ", said);
        Assert.Contains("← fix", said);
        Assert.Contains("vs broken", said);
        Assert.Contains("demo: correct — the known fix is " + demo.CulpritSha[..10], said);
        Assert.Contains("--find-fix", said); // the reproduce command
        Assert.DoesNotMatch(RegressionWords, said);

        // Assert: report.md (its fenced blocks hold the diff and the reproduce command verbatim)
        var md = await File.ReadAllTextAsync(Path.Combine(run.ReportDirectory, ReportWriter.MarkdownFileName));
        Assert.Contains($"Fix: {demo.CulpritSha[..10]}", md);
        Assert.Contains("vs broken", md);
        Assert.Contains("last broken ", md);
        // The fix's row shows the side the search decided, not its own few-trial test (which reads Unknown at 1-2 trials)
        var evidence = md[md.IndexOf("## Evidence", StringComparison.Ordinal)..];
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(evidence, @"\*\*fixed side \((\d+\.\d|&gt; 99\.9)%\)(; test: \w+)? — fix\*\*"), evidence);
        Assert.DoesNotContain("n/a —", evidence);
        Assert.DoesNotContain("Infinity", md);
        Assert.DoesNotMatch(RegressionWords, System.Text.RegularExpressions.Regex.Replace(md, "```.*?```", "", System.Text.RegularExpressions.RegexOptions.Singleline));

        // Assert: status and its JSON
        var shown = status.ToString();
        Assert.Contains("terms      v1.0..v1.1: the old end is 'broken', the new end 'fixed'", shown);
        Assert.Contains("verdict against the broken end", shown);
        Assert.True(shown.Contains($"that {run.Outcome.Culprit} is fixed and ", StringComparison.Ordinal) && shown.Contains(" is broken ", StringComparison.Ordinal), shown);
        Assert.Contains($"of the fix posterior", shown);
        Assert.DoesNotMatch(RegressionWords, shown);
        using var result = System.Text.Json.JsonDocument.Parse(json.ToString());
        Assert.Equal("fix", result.RootElement.GetProperty("kind").GetString());
        Assert.Equal(demo.CulpritSha, result.RootElement.GetProperty("fix").GetProperty("sha").GetString());

        // Reverting the fix on the bad end brings the growth back: the revert removes the whole change it made.
        Assert.StartsWith($"reverting {demo.CulpritSha[..10]} alone removes ", run.Revert);
        Assert.Contains("of the change", run.Revert);

        // The run's end, and so its wall time, is after its last trial: the revert proof's, which follow the verdict
        await using var store = await Bisector.Storage.ResultsStore.OpenAsync(Path.Combine(results, "bisector.db"));
        var revertTrials = await store.GetVariantTrialsAsync(run.RunId, Bisector.Diagnosis.RevertProof.Variant(run.Line[run.Outcome.Culprit!.Value]));
        Assert.NotEmpty(revertTrials);
        var lastTrial = revertTrials.Max(t => DateTimeOffset.Parse(t.EndedAt, System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotNull(run.Model!.Run.EndedAt);
        Assert.True(run.Model.Run.EndedAt >= lastTrial, $"ended {run.Model.Run.EndedAt:O}, last trial {lastTrial:O}");
    }

    [Fact(Timeout = 600_000)]
    public async Task I_can_see_that_the_culprit_of_the_tangled_demo_does_not_revert_cleanly()
    {
        // Arrange: the fragmentation culprit, then a later commit rewrites one of its lines
        var results = Path.Combine(_root, "results-tangled");

        // Act
        var (demo, run) = await DemoCommand.RunAsync(Path.Combine(_root, "demo-tangled"), DemoScenario.Tangled, "bisect", ["local:2"], results, _ => { });

        // Assert: the culprit is named as in the fragmentation demo, and the revert proof says why it has no number
        Assert.True(run.Outcome!.Status == SearchStatus.Found, run.Outcome.Summary);
        Assert.Equal(demo.CulpritSha, run.Line[run.Outcome.Culprit!.Value].Sha);
        Assert.Equal($"reverting {demo.CulpritSha[..10]} does not apply cleanly to the bad end {run.Line[run.Line.CandidateCount].ShortSha}: conflicts in 1 file(s) — not measured", run.Revert);
        Assert.Equal(Bisector.Storage.RevertStatus.Conflict, run.Model!.Revert!.Status);
        Assert.Null(run.Model.Revert.Estimate);
        Assert.Contains("conflicts in src/store/reader.c", await File.ReadAllTextAsync(Path.Combine(run.ReportDirectory, ReportWriter.MarkdownFileName)));
        var json = RunResultJson.Render(run.Model, run.ReportDirectory);
        Assert.Contains("\"status\": \"conflict\"", json);
        Assert.Contains("\"src/store/reader.c\"", json);
        await using var store = await Bisector.Storage.ResultsStore.OpenAsync(run.DatabasePath);
        Assert.Empty(await store.GetVariantTrialsAsync(run.RunId, Bisector.Diagnosis.RevertProof.Variant(run.Model.Revert.Culprit)));
        Assert.Equal([demo.Path], await Bisector.Git.GitWorktree.ListAsync(demo.Path));
    }

    private static readonly System.Text.RegularExpressions.Regex RegressionWords = new("culprit|regress", System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
