using Bisector.Cli;
using Bisector.Demo;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Search;

namespace Bisector.Tests.EndToEnd;

/// <summary>
/// The whole pipeline on the generated demo repository, for real: git worktrees, gcc builds, daemons in cgroups and
/// namespaces, SQLite, report: the culprit by bisection and by measuring every commit. The demo's other scenarios
/// (several changes, the fix, a culprit that does not revert) are in <see cref="DemoVerdictSpecs"/>, a class of its own
/// so that the two run side by side.
/// </summary>
[LongRunning(450)]
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

        // Assert: one change in the range; both segments (before and after it) searched in both directions, each either
        // "no further change" (its ends' trials are checked below) or stated as not decided, never a silent claim.
        // (A growing daemon's plateau is noisy on a loaded machine, so a segment may honestly end "not checked".) The
        // segment before the culprit goes first: a change there would be the answer.
        var scan = run.Model!.Changes!;
        Assert.Equal(demo.CulpritSha, run.Line[Assert.Single(scan.Changes).Position].Sha);
        Assert.Equal(4, scan.Segments.Count);
        Assert.Equal([0, run.Outcome.Culprit!.Value], scan.Segments.Select(s => s.From).Distinct());
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
        // "No further change" rests on trials of both ends: at least the 2 a side from which the t route of "no
        // regression" can reach its bound (the demo's noise is far below its min-effect; the rank route needs 7+).
        foreach (var end in scan.Segments.Where(s => s.Verdict == SegmentVerdict.NoFurtherChange).SelectMany(s => new[] { s.From, s.To }).Distinct())
        {
            Assert.True(trials.Count(t => t.Position == MeasuredAt(end) && t.Outcome == Bisector.Workers.TrialOutcome.Ok) >= Bisector.Search.SearchEngine.FirstLook,
                $"position {end} ends a segment called unchanged with fewer than {Bisector.Search.SearchEngine.FirstLook} trials");
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

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
