using Bisector.Diagnosis;
using Bisector.Storage;
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

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
