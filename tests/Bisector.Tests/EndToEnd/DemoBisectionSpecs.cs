using Bisector.Cli;
using Bisector.Demo;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Search;

namespace Bisector.Tests.EndToEnd;

/// <summary>
/// The whole pipeline on the generated demo repository, for real: git worktrees, gcc builds, daemons in cgroups and
/// namespaces, SQLite, report. Both tests live in one class so their daemons do not compete with each other.
/// </summary>
public sealed class DemoBisectionSpecs : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("bisector-e2e-").FullName;

    [Theory(Timeout = 600_000)]
    [InlineData("bisect")]
    [InlineData("exhaustive")]
    public async Task I_can_name_the_demo_culprit_and_keep_every_sample(string strategy)
    {
        // Arrange
        var results = Path.Combine(_root, "results-" + strategy);
        var log = new List<string>();

        // Act
        var (demo, run) = await DemoCommand.RunAsync(
            Path.Combine(_root, "demo-" + strategy), DemoScenario.Fragmentation, strategy, ["local:2"], results, line => { lock (log) { log.Add(line); } });

        // A copy of the database file alone (as on another machine: no cache, no repository, no recipe file).
        var copied = Path.Combine(_root, "copied-" + strategy);
        Directory.CreateDirectory(copied);
        File.Copy(run.DatabasePath, Path.Combine(copied, "bisector.db"));

        // Assert: the verdict
        Assert.NotNull(run.Outcome);
        Assert.Equal(SearchStatus.Found, run.Outcome!.Status);
        Assert.Equal(demo.CulpritSha, run.Selection.Candidates[run.Outcome.Culprit!.Value - 1].Sha);
        Assert.True(run.Outcome.Confidence >= 0.95, $"confidence {run.Outcome.Confidence}");
        Assert.NotNull(run.Outcome.Boundary);
        Assert.Equal(Bisector.Statistics.Verdict.Regressed, run.Outcome.Boundary!.Verdict);
        Assert.StartsWith("heap fragmentation: in-use flat at ", run.Diagnosis);

        // Assert: one change in the range; both segments (after and before it) searched in both directions, each either
        // "no further change" (its ends' trials are checked below) or stated as not decided, never a silent claim.
        // (A growing daemon's plateau is noisy on a loaded machine, so a segment may honestly end "not checked".)
        var scan = run.Model!.Changes!;
        Assert.Equal(demo.CulpritSha, run.Line[Assert.Single(scan.Changes).Position].Sha);
        Assert.Equal(4, scan.Segments.Count);
        Assert.Equal([run.Outcome.Culprit!.Value, 0], scan.Segments.Select(s => s.From).Distinct());
        Assert.All(scan.Segments, s =>
        {
            Assert.NotEqual(SegmentVerdict.ChangeFound, s.Verdict);
            if (s.Verdict != SegmentVerdict.NoFurtherChange)
                Assert.Matches("^(not checked|not finished|undecided)", s.Explanation);
        });

        // Assert: the revert proof — the bad end with the culprit reverted is back at the good end's level
        Assert.StartsWith($"reverting {demo.CulpritSha[..10]} alone removes ", run.Revert);
        var proof = run.Model.Revert!;
        Assert.Equal(Bisector.Storage.RevertStatus.Built, proof.Status);
        Assert.Equal(Bisector.Diagnosis.RevertFinding.Removes, proof.Estimate!.Finding);
        Assert.InRange(proof.Estimate.Share, 0.9, 1.1);
        Assert.InRange(proof.TrialsSpent, 2, 12);
        Assert.Contains("## Revert proof", await File.ReadAllTextAsync(Path.Combine(run.ReportDirectory, ReportWriter.MarkdownFileName)));
        Assert.Contains("\"finding\": \"removes\"", RunResultJson.Render(run.Model, run.ReportDirectory));

        // Assert: every trial and its samples are in the database
        await using var store = await Bisector.Storage.ResultsStore.OpenAsync(run.DatabasePath);
        var trials = await store.GetTrialsAsync(run.RunId);
        Assert.NotEmpty(trials);
        Assert.Equal(proof.TrialsSpent, (await store.GetVariantTrialsAsync(run.RunId, Bisector.Diagnosis.RevertProof.Variant(proof.Culprit))).Count);
        // The revert's trials sit at the bad end's position under their own variant; the search's trials there stay apart.
        Assert.Equal(proof.Estimate.BadTrials, trials.Count(t => t.Sha == proof.Base.Sha && t.Outcome == Bisector.Workers.TrialOutcome.Ok));
        foreach (var trial in trials.Where(t => t.Outcome == Bisector.Workers.TrialOutcome.Ok))
        {
            var anon = await store.GetSamplesAsync(trial.Id, Metrics.RssAnon);
            Assert.True(anon.Count >= 30, $"trial {trial.Id} has {anon.Count} rss_anon samples");
            Assert.NotEmpty(await store.GetSamplesAsync(trial.Id, Metrics.CgroupUsage));
        }

        Assert.Equal(Bisector.Storage.RunStatus.Finished, (await store.GetRunAsync(run.RunId))!.Status);

        // Assert: identical builds (the demo's comment-only commits) shared one build's trials and none is named
        // (the search's groups, and the model's from the stored builds, which also holds any the scan found after it)
        var groups = run.Outcome.IdenticalBuilds;
        int MeasuredAt(int p) => run.Model!.IdenticalBuilds.FirstOrDefault(g => g.Positions.Contains(p))?.MeasuredAt ?? p;
        Assert.All(run.Model!.IdenticalBuilds, g =>
        {
            Assert.DoesNotContain(trials, t => g.Positions.Contains((int)t.Position) && t.Position != g.MeasuredAt);
            Assert.False(run.Outcome.Culprit > g.Positions[0] && run.Outcome.Culprit <= g.Positions[^1], $"culprit {run.Outcome.Culprit} inside group {string.Join(",", g.Positions)}");
        });
        Assert.All(groups, g => Assert.All(g.Positions, p => Assert.Equal(g.MeasuredAt, MeasuredAt(p))));
        if (strategy == "exhaustive")
        {
            // Every commit is probed, oldest first: each comment-only commit joins the one before it.
            string Subject(int p) => run.Selection.Candidates[p - 1].Subject;
            Assert.Equal(
                ["store/cache: explain why the cache is bounded", "store/cache: say what a client's label holds",
                 "store/reader: say why the buffer is NUL-terminated", "store/cache: allow overriding the number of slots at build time"],
                groups.Select(g => Subject(g.Positions[1])));
            Assert.All(groups, g => Assert.Equal(g.Positions[0], g.MeasuredAt));
            Assert.Contains("Identical builds (4 commit", await File.ReadAllTextAsync(Path.Combine(run.ReportDirectory, ReportWriter.MarkdownFileName)));
            Assert.Contains(log, l => l.Contains("build identical to", StringComparison.Ordinal));
        }
        foreach (var end in scan.Segments.Where(s => s.Verdict == SegmentVerdict.NoFurtherChange).SelectMany(s => new[] { s.From, s.To }).Distinct())
        {
            Assert.True(trials.Count(t => t.Position == MeasuredAt(end) && t.Outcome == Bisector.Workers.TrialOutcome.Ok) >= Bisector.Statistics.SequentialTests.MinSameTrials,
                $"position {end} ends a segment called unchanged with fewer than {Bisector.Statistics.SequentialTests.MinSameTrials} trials");
        }

        Assert.Contains(await store.GetBuildsAsync(run.RunId), b => b.Sha == demo.CulpritSha && Bisector.Building.BuildStatusExtensions.Succeeded(b.Status));

        // Assert: the report and the raw data export
        Assert.True(File.Exists(run.ReportPath));
        var html = await File.ReadAllTextAsync(run.ReportPath!);
        Assert.Contains(demo.CulpritSha[..10], html);
        // The cost plan: printed first (no stored run of the recipe in this results folder), re-planned from round 1, reported
        Assert.Contains(log, l => l.StartsWith("plan: a change of min-effect (1.00 MiB): ≈ ", StringComparison.Ordinal));
        Assert.Contains(log, l => l.StartsWith("plan (re-planned after round 1): ≈ ", StringComparison.Ordinal));
        Assert.Contains($"; spent: {run.Outcome.TrialsSpent} trials, ", html);
        Assert.True(File.Exists(Path.Combine(run.ReportDirectory, ReportWriter.MarkdownFileName)));
        Assert.True(Directory.GetFiles(run.ReportDirectory, "*.png").Length >= 4);
        if (File.Exists(Reporting.ChromiumFactAttribute.Chromium))
        {
            // As a person would: the real report in a real browser, every plot loaded, the culprit in the headline.
            var dom = await Reporting.HeadlessChromium.RunAsync(_root, ["--virtual-time-budget=10000", "--dump-dom", new Uri(run.ReportPath!).AbsoluteUri], CancellationToken.None);
            var loaded = System.Text.RegularExpressions.Regex.Match(dom, "data-images-loaded=\"(\\d+)/(\\d+)\"");
            Assert.True(loaded.Success, "the report's image counter did not run");
            Assert.Equal(loaded.Groups[2].Value, loaded.Groups[1].Value);
            Assert.True(int.Parse(loaded.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) >= 5);
            Assert.Contains(demo.CulpritSha[..10], dom);
        }

        await using (var copy = await Bisector.Storage.ResultsStore.OpenAsync(Path.Combine(copied, "bisector.db")))
        {
            var rewritten = await ReportAssembler.WriteAsync(copy, run.RunId, Path.Combine(copied, "report"));
            Assert.Contains(demo.CulpritSha[..10], await File.ReadAllTextAsync(rewritten));

            // A diagnosis stored by an older version is replaced from the stored trials alone (bisector report --rediagnose).
            var stale = (await copy.GetDiagnosisAsync(run.RunId))! with { Kind = Bisector.Diagnosis.GrowthKind.NoChange, Headline = "no memory change above 1.0 MiB" };
            await copy.SaveDiagnosisAsync(stale);
            var fresh = await ReportAssembler.RediagnoseAsync(copy, run.RunId, _ => { });
            Assert.Equal(run.Diagnosis, fresh!.Headline);
            Assert.Equal(fresh.Headline, (await copy.GetDiagnosisAsync(run.RunId))!.Headline);
        }

        var csv = await File.ReadAllLinesAsync(Path.Combine(run.ReportDirectory, ReportWriter.SamplesFileName));
        Assert.Equal(await store.CountSamplesAsync(run.RunId) + 1, csv.Length);
    }

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
