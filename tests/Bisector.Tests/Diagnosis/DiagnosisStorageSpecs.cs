using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Storage;
using Bisector.Workers;
using Microsoft.Data.Sqlite;

namespace Bisector.Tests.Diagnosis;

public sealed class DiagnosisStorageSpecs : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("bisector-diag-store-").FullName;

    private string DatabasePath => Path.Combine(_directory, "bisector.db");

    [Fact]
    public async Task I_can_upgrade_a_version_1_database_and_store_a_diagnosis_in_it()
    {
        // Arrange: a database as the first release wrote it (migration 1 only), holding one run
        await using (var v1 = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            await v1.OpenAsync();
            await using var create = v1.CreateCommand();
            create.CommandText = Schema.Migrations[0] + "PRAGMA user_version = 1;" +
                "INSERT INTO runs VALUES ('r1','2026-11-25T00:00:00.000Z',NULL,'finished','/repo','a..b','[]','demo','h','/r.yaml','y','{}','{}','c','0.1','host',NULL,NULL);";
            await create.ExecuteNonQueryAsync();
        }

        var row = new DiagnosisRow("r1", new string('a', 40), new string('b', 40), GrowthKind.Fragmentation,
            "heap fragmentation: in-use flat at 0.5 MiB", "rss_anon: …\nheap in use: …", "--- a/x\n+++ b/x", "peak bytes (good → bad):", "2026-11-25T00:00:01.000Z");

        // Act
        await using (var store = await ResultsStore.OpenAsync(DatabasePath))
        {
            await store.SaveDiagnosisAsync(row);
            await store.SaveDiagnosisAsync(row with { Headline = "heap fragmentation: in-use flat at 0.6 MiB" });
        }

        await using var reopened = await ResultsStore.OpenAsync(DatabasePath);
        var stored = await reopened.GetDiagnosisAsync("r1");

        // Assert: the second save (a resume) replaced the first; the text the report shows carries every part
        Assert.Equal(row with { Headline = "heap fragmentation: in-use flat at 0.6 MiB" }, stored);
        Assert.Null(await reopened.GetDiagnosisAsync("other"));
        var text = Diagnoser.Describe(stored!);
        Assert.StartsWith("heap fragmentation: in-use flat at 0.6 MiB\n\nlast good aaaaaaaaaaaa vs culprit bbbbbbbbbbbb:", text);
        Assert.Contains("Boundary profile", text);
        Assert.Contains("+++ b/x", text);
    }

    [Fact]
    public async Task I_can_store_experiment_trials_beside_the_search_without_the_search_ever_seeing_them()
    {
        // Arrange
        await using var store = await ResultsStore.OpenAsync(DatabasePath);
        await store.CreateRunAsync(new RunRow(
            "r1", "2026-11-25T00:00:00.000Z", null, RunStatus.Running, "/repo", "a..b", "[]", "demo", new string('a', 64),
            "/r.yaml", "name: demo", "{}", "{}", "bisector start a..b", "0.1.0", "host", null, null), []);
        var now = DateTimeOffset.UtcNow;
        await store.AddTrialAsync("r1", new NewTrial(1, "bad", 0, 1, "local-1", "h", TrialOutcome.Ok, null, now, now, [new Sample(0.5, Metrics.RssAnon, 11)]));
        await store.AddInFlightAsync("r1", "trial", ["r1-jemalloc-1-0"]);

        // Act
        await store.AddTrialAsync("r1", new NewTrial(1, "bad", 0, 0, "local-2", "h", TrialOutcome.Ok, null, now, now,
            [new Sample(0.5, Metrics.RssAnon, 4)], "r1-jemalloc-1-0")
        { Variant = "jemalloc" });
        await store.SaveExperimentAsync(new ExperimentRow("r1", "jemalloc", new string('b', 64), null, "2026-11-25T00:00:01.000Z"));
        await store.SaveExperimentAsync(new ExperimentRow("r1", "tcmalloc", new string('c', 64), "libtcmalloc_minimal.so.4 is not installed", "2026-11-25T00:00:01.000Z"));
        var csv = new StringWriter();
        await store.ExportCsvAsync("r1", csv);

        // Assert: the search reads only its own trial; the experiment's is under its name, and no longer in flight
        Assert.Equal("local-1", Assert.Single(await store.GetTrialsAsync("r1")).Worker);
        Assert.Equal("local-2", Assert.Single(await store.GetVariantTrialsAsync("r1", "jemalloc")).Worker);
        Assert.Empty(await store.GetInFlightAsync("r1"));
        var experiments = await store.GetExperimentsAsync("r1");
        Assert.Equal(["jemalloc", "tcmalloc"], experiments.Select(e => e.Variant));
        Assert.Equal("libtcmalloc_minimal.so.4 is not installed", experiments[1].NotRun);
        var lines = csv.ToString().Trim().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.StartsWith("run_id,position,sha,variant,", lines[0]);
        Assert.StartsWith("r1,1,bad,,", lines[1]);
        Assert.StartsWith("r1,1,bad,jemalloc,", lines[2]);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
