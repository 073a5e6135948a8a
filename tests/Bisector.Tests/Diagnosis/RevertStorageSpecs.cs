using Bisector.Diagnosis;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Tests.Storage;
using Bisector.Workers;

namespace Bisector.Tests.Diagnosis;

/// <summary>A revert proof stored with a run (real SQLite, no builds): read back against the search's ends, kept apart
/// from the search's trials, and shown by the report and --json.</summary>
public sealed class RevertStorageSpecs : IDisposable
{
    private const double MiB = 1024 * 1024;
    private readonly string _results = Directory.CreateTempSubdirectory("bisector-revert-store-").FullName;

    private static Dictionary<string, TrialSeries> Flat(double mib, int trial) => StoredRun.Flat(mib, trial);

    /// <summary>Three candidates, the culprit at 2; the search measured the good end at 4 MiB and the bad end (3) at 8 MiB.</summary>
    private static async Task<StoredRun> FoundRunAsync(ResultsStore store)
    {
        var recipe = StoredRun.Recipe("  metric: rss_anon\n  feature: plateau\n  direction: increase\n  min-effect: 1048576", "sampling:\n  warmup: 1s\n  window: 7s");
        var run = await StoredRun.CreateAsync(store, recipe, candidates: 3);
        for (var i = 0; i < 3; i++)
        {
            await run.AddTrialAsync(0, i, Flat(4, i));
            await run.AddTrialAsync(3, i, Flat(8, i));
        }

        var outcome = new SearchOutcome(SearchStatus.Found, 2, 2, 2, 0.99, null, [0, 0, 1, 0], new Dictionary<int, Comparison>(), [], 6, false, "Found");
        await store.SetRunStatusAsync(run.Id, RunStatus.Finished, System.Text.Json.JsonSerializer.Serialize(outcome, RunEngine.Json), "Found");
        return run;
    }

    private static RevertRow Row(StoredRun run, RevertStatus status, string conflicts = "", string? detail = null) =>
        new(run.Id, RevertProof.Variant(run.Line[2]), run.Line[2].Sha, run.Line[3].Sha, "git revert --no-commit " + run.Line[2].Sha, status, conflicts, detail,
            "revert-key", "2026-11-30T12:00:00.000Z");

    [Fact]
    public async Task I_can_read_a_stored_revert_proof_against_the_search_ends_and_see_it_in_the_report_and_json()
    {
        // Arrange: the reverted build measured twice, back at the good end's 4 MiB
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db"));
        var run = await FoundRunAsync(store);
        await store.SaveRevertAsync(Row(run, RevertStatus.Built));
        for (var i = 0; i < 2; i++)
        {
            var samples = Flat(4, i)[Metrics.RssAnon];
            await store.AddTrialAsync(run.Id, new NewTrial(3, run.Line[3].Sha, i, 0, "local-1", "host", TrialOutcome.Ok, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow,
                samples.Seconds.Select((s, k) => new Sample(s, Metrics.RssAnon, samples.Values[k])).ToList())
            { Variant = RevertProof.Variant(run.Line[2]) });
        }

        // Act
        var model = await ReportAssembler.LoadAsync(store, run.Id);
        var files = await ReportWriter.WriteAsync(model, Path.Combine(_results, "report"));

        // Assert: the proof, from the search's 3 + 3 trials of the ends and the revert's 2
        var proof = model.Revert!;
        Assert.Equal(RevertFinding.Removes, proof.Estimate!.Finding);
        Assert.Equal((3, 3, 2), (proof.Estimate.GoodTrials, proof.Estimate.BadTrials, proof.Estimate.RevertTrials));
        Assert.InRange(proof.Estimate.Share, 0.99, 1.01);
        Assert.StartsWith($"reverting {run.Line[2].ShortSha} alone removes 100 % [", proof.Headline);
        Assert.Contains("of the regression (-4.00 MiB vs the bad end", proof.Headline);

        // Assert: the search's bad end keeps its own 3 trials only
        Assert.Equal(3, model.At(3)!.Trials.Count);

        // Assert: report and JSON
        var markdown = await File.ReadAllTextAsync(files.Markdown);
        Assert.Contains("## Revert proof", markdown);
        Assert.Contains($"- Revert: reverting {run.Line[2].ShortSha} alone removes 100 % ", markdown);
        var json = System.Text.Json.JsonDocument.Parse(RunResultJson.Render(model, null)).RootElement.GetProperty("revert");
        Assert.Equal("built", json.GetProperty("status").GetString());
        Assert.Equal("removes", json.GetProperty("finding").GetString());
        Assert.Equal(1.0, json.GetProperty("share").GetProperty("value").GetDouble(), 2);
        Assert.Equal(-4.0, json.GetProperty("versusBad").GetProperty("shift").GetDouble(), 1);
    }

    [Fact]
    public async Task I_can_see_a_stored_conflict_reported_with_its_files_and_no_number()
    {
        // Arrange
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db"));
        var run = await FoundRunAsync(store);
        await store.SaveRevertAsync(Row(run, RevertStatus.Conflict, "src/a.c\nsrc/b.c", "could not revert 1234567... change 2"));

        // Act
        var model = await ReportAssembler.LoadAsync(store, run.Id);

        // Assert
        Assert.Null(model.Revert!.Estimate);
        Assert.Equal($"reverting {run.Line[2].ShortSha} does not apply cleanly to the bad end {run.Line[3].ShortSha}: conflicts in 2 file(s) — not measured", model.Revert.Headline);
        Assert.Equal("conflicts in src/a.c, src/b.c", model.Revert.GitText);
        var json = System.Text.Json.JsonDocument.Parse(RunResultJson.Render(model, null)).RootElement.GetProperty("revert");
        Assert.Equal("conflict", json.GetProperty("status").GetString());
        Assert.Equal(["src/a.c", "src/b.c"], json.GetProperty("conflicts").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, json.GetProperty("finding").ValueKind);
    }

    [Fact]
    public async Task I_can_read_a_run_without_a_revert_proof_as_before()
    {
        // Arrange
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db"));
        var run = await FoundRunAsync(store);

        // Act
        var model = await ReportAssembler.LoadAsync(store, run.Id);

        // Assert
        Assert.Null(model.Revert);
        var json = System.Text.Json.JsonDocument.Parse(RunResultJson.Render(model, null)).RootElement;
        Assert.Equal(System.Text.Json.JsonValueKind.Null, json.GetProperty("revert").ValueKind);
    }

    [Fact]
    public async Task I_can_not_revert_a_run_that_named_no_culprit_and_am_told_which_runs_can()
    {
        // Arrange: a run still going (no verdict)
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_results, "bisector.db"));
        var recipe = StoredRun.Recipe("  metric: rss_anon\n  feature: plateau\n  min-effect: 1048576");
        var run = await StoredRun.CreateAsync(store, recipe, candidates: 3);

        // Act
        var error = await Assert.ThrowsAsync<UsageException>(() => Bisector.Cli.CulpritRun.LoadAsync(store, run.Id, [], "revert", CancellationToken.None));

        // Assert
        Assert.Contains($"run {run.Id} is running and named no single culprit, so there is nothing to revert", error.Message);
        Assert.Contains("bisector status --list", error.Message);
    }

    public void Dispose() => Directory.Delete(_results, recursive: true);
}
