using Bisector.Building;
using Bisector.Sampling;
using Bisector.Storage;
using Bisector.Workers;
using Microsoft.Data.Sqlite;

namespace Bisector.Tests.Storage;

public sealed class ResultsStoreSpecs : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("bisector-store-").FullName;

    private string DatabasePath => Path.Combine(_directory, "bisector.db");

    private static RunRow Run(string id) => new(
        id, "2026-11-25T00:00:00.000Z", null, RunStatus.Running, "/repo", "v1.0..v1.1", "[\"src/store/*\"]", "demo", new string('a', 64),
        "/repo/recipe.yaml", "name: demo", "{}", "{}", "bisector start v1.0..v1.1", "0.1.0", "host", null, null);

    [Fact]
    public async Task I_can_store_a_trial_with_its_samples_and_read_them_back_in_order()
    {
        // Arrange
        await using var store = await ResultsStore.OpenAsync(DatabasePath);
        await store.CreateRunAsync(Run("r1"), [new CommitRow(0, "abc", "good", "A", "2026-01-01T00:00:00Z", ""), new CommitRow(1, "def", "bad", "B", "2026-01-02T00:00:00Z", "abc")]);
        var samples = Enumerable.Range(0, 500).SelectMany(i => new[]
        {
            new Sample(i * 0.1, Metrics.RssAnon, 1_000_000 + (i * 4096)),
            new Sample(i * 0.1, Metrics.VmRss, 2_000_000 + (i * 4096)),
        }).ToList();

        // Act
        var id = await store.AddTrialAsync("r1", new NewTrial(1, "def", 0, 1, "local-1", "host", TrialOutcome.Ok, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, samples));
        var anon = await store.GetSamplesAsync(id, Metrics.RssAnon);
        var all = await store.CountSamplesAsync("r1");

        // Assert
        Assert.Equal(500, anon.Count);
        Assert.Equal(1000, all);
        Assert.Equal(1_000_000 + (499 * 4096), anon[^1].Value);
        Assert.True(anon.Zip(anon.Skip(1)).All(p => p.First.Seconds < p.Second.Seconds));
        Assert.Equal("local-1", Assert.Single(await store.GetTrialsAsync("r1")).Worker);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_open_a_fresh_database_from_several_bisectors_at_once_and_each_migration_runs_once()
    {
        // Arrange: separate connections, as two bisector processes starting on one new results folder have.
        var opens = Enumerable.Range(0, 8).Select(_ => Task.Run(() => ResultsStore.OpenAsync(DatabasePath))).ToList();

        // Act
        var stores = await Task.WhenAll(opens);
        await stores[0].CreateRunAsync(Run("r1"), [new CommitRow(0, "abc", "good", "A", "2026-01-01T00:00:00Z", "")]);
        foreach (var store in stores)
        {
            await store.DisposeAsync();
        }

        // Assert
        await using var reopened = await ResultsStore.OpenAsync(DatabasePath);
        Assert.NotNull(await reopened.GetRunAsync("r1"));
        await using var raw = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await raw.OpenAsync();
        using var command = raw.CreateCommand();
        command.CommandText = "PRAGMA user_version;";
        Assert.Equal((long)Schema.Migrations.Count, (long)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task I_can_reopen_a_database_and_find_the_latest_run_by_prefix()
    {
        // Arrange
        await using (var store = await ResultsStore.OpenAsync(DatabasePath))
        {
            await store.CreateRunAsync(Run("20261125-010101-aaaa"), []);
            await store.CreateRunAsync(Run("20261125-020202-bbbb"), []);
            await store.AddBuildAsync("20261125-010101-aaaa", new BuildResult("abc", BuildStatus.Failed, null, "cc: error", TimeSpan.FromSeconds(1), ["sed -i x"]), "hash");
        }

        // Act
        await using var reopened = await ResultsStore.OpenAsync(DatabasePath);
        var latest = await reopened.GetRunAsync(null);
        var byPrefix = await reopened.GetRunAsync("20261125-01");
        var builds = await reopened.GetBuildsAsync("20261125-010101-aaaa");

        // Assert
        Assert.Equal("20261125-020202-bbbb", latest!.Id);
        Assert.Equal("20261125-010101-aaaa", byPrefix!.Id);
        Assert.Equal(BuildStatus.Failed, Assert.Single(builds).Status);
    }

    [Fact]
    public async Task I_can_export_samples_as_csv_with_invariant_numbers()
    {
        // Arrange
        await using var store = await ResultsStore.OpenAsync(DatabasePath);
        await store.CreateRunAsync(Run("r1"), []);
        await store.AddTrialAsync("r1", new NewTrial(0, "abc", 0, 1, "local-1", "h", TrialOutcome.Ok, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, [new Sample(0.25, Metrics.RssAnon, 1234.5)]));
        var writer = new StringWriter();

        // Act
        await store.ExportCsvAsync("r1", writer);

        // Assert
        var lines = writer.ToString().Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.EndsWith(",0.25,rss_anon,1234.5", lines[1].TrimEnd('\r'));
    }

    [Fact]
    public async Task I_get_a_clear_error_and_an_untouched_file_when_the_database_is_not_sqlite()
    {
        // Arrange
        await File.WriteAllTextAsync(DatabasePath, "this is not a database");

        // Act
        var error = await Assert.ThrowsAsync<StorageException>(() => ResultsStore.OpenAsync(DatabasePath));

        // Assert
        Assert.Contains("not a usable Bisector database", error.Message);
        Assert.Equal("this is not a database", await File.ReadAllTextAsync(DatabasePath));
    }

    [Fact]
    public async Task I_get_a_clear_error_for_a_database_from_a_newer_bisector()
    {
        // Arrange
        await using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 999;";
            await command.ExecuteNonQueryAsync();
        }

        // Act
        var error = await Assert.ThrowsAsync<StorageException>(() => ResultsStore.OpenAsync(DatabasePath));

        // Assert
        Assert.Contains("newer than this bisector", error.Message);
    }

    [Fact]
    public async Task I_can_read_enum_columns_written_as_text_by_earlier_versions_and_write_the_same_text()
    {
        // Arrange: rows as an earlier bisector wrote them (plain text, runs.status in lower case)
        await using (var seed = await ResultsStore.OpenAsync(DatabasePath))
        {
            await seed.CreateRunAsync(Run("r0"), [new CommitRow(0, "abc", "good", "A", "2026-01-01T00:00:00Z", "")]);
        }

        await using (var raw = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            await raw.OpenAsync();
            await using var insert = raw.CreateCommand();
            insert.CommandText =
                """
                UPDATE runs SET status = 'interrupted' WHERE id = 'r0';
                INSERT INTO builds (run_id, sha, recipe_hash, status, duration_ms, log, fixups_json, created_at) VALUES ('r0', 'abc', 'h', 'TimedOut', 5, '', '[]', 'now');
                INSERT INTO trials (run_id, position, sha, trial_index, round, worker, host, outcome, reason, started_at, ended_at)
                VALUES ('r0', 0, 'abc', 0, 1, 'local-1', 'h', 'OutOfMemory', 'oom', 'now', 'now');
                """;
            await insert.ExecuteNonQueryAsync();
        }

        // Act
        await using var store = await ResultsStore.OpenAsync(DatabasePath);
        var run = await store.GetRunAsync("r0");
        var build = Assert.Single(await store.GetBuildsAsync("r0"));
        var trial = Assert.Single(await store.GetTrialsAsync("r0"));
        await store.SetRunStatusAsync("r0", RunStatus.Finished, null, "done");
        await store.AddTrialAsync("r0", new NewTrial(0, "abc", 1, 1, "local-1", "h", TrialOutcome.Ok, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, []));

        // Assert
        Assert.Equal(RunStatus.Interrupted, run!.Status);
        Assert.Equal(BuildStatus.TimedOut, build.Status);
        Assert.Equal(TrialOutcome.OutOfMemory, trial.Outcome);
        await using var check = new SqliteConnection($"Data Source={DatabasePath};Mode=ReadOnly;Pooling=False");
        await check.OpenAsync();
        await using var query = check.CreateCommand();
        query.CommandText = "SELECT status FROM runs WHERE id = 'r0' UNION ALL SELECT outcome FROM trials WHERE trial_index = 1";
        await using var reader = await query.ExecuteReaderAsync();
        var texts = new List<string>();
        while (await reader.ReadAsync())
        {
            texts.Add(reader.GetString(0));
        }

        Assert.Equal(["finished", "Ok"], texts);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
