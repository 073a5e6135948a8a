using System.Data;
using System.Globalization;
using Bisector.Building;
using Bisector.Diagnosis;
using Bisector.Workers;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Bisector.Storage;

/// <summary>
/// The results database: one SQLite file holding every run, commit, build, trial and raw sample.
/// WAL mode lets <c>bisector status</c> read while a run writes; every trial and its samples are written in one
/// transaction, so a crash leaves either the whole trial or none of it.
/// </summary>
public sealed class ResultsStore : IAsyncDisposable
{
    private readonly SqliteConnection _connection;

    // Enum columns are mapped here once, as the enum's name (runs.status in lower case, as databases always held it):
    // rows carry enums, and no caller compares or parses the stored text.
    static ResultsStore()
    {
        SqlMapper.Settings.PreferTypeHandlersForEnums = true;
        SqlMapper.AddTypeHandler(new EnumText<RunStatus>(lowerCase: true));
        SqlMapper.AddTypeHandler(new EnumText<BuildStatus>());
        SqlMapper.AddTypeHandler(new EnumText<TrialOutcome>());
        SqlMapper.AddTypeHandler(new EnumText<GrowthKind>());
        SqlMapper.AddTypeHandler(new EnumText<RevertStatus>());
    }

    private ResultsStore(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    public string Path { get; }

    public static async Task<ResultsStore> OpenAsync(string path, CancellationToken ct = default)
    {
        var full = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(full)!;
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"results folder '{directory}' cannot be created: {e.Message}", "Choose a writable folder with --results or 'results:' in bisect.yaml", e);
        }

        // Pooling off: the file is released on dispose, so tests and copies of the database see a closed file.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        try
        {
            await connection.OpenAsync(ct);
            await connection.ExecuteAsync(new CommandDefinition("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;", cancellationToken: ct));
            await connection.ExecuteScalarAsync<string>(new CommandDefinition("PRAGMA journal_mode = WAL;", cancellationToken: ct));
            var store = new ResultsStore(connection, full);
            await store.MigrateAsync(ct);
            return store;
        }
        catch (SqliteException e)
        {
            await connection.DisposeAsync();
            throw new StorageException($"'{full}' is not a usable Bisector database: {e.Message}", "Point --results at the folder holding bisector.db, or move the damaged file aside (nothing was changed)", e);
        }
    }

    /// <summary>
    /// Applies the migrations this file lacks, one transaction each. The version is read inside a write transaction
    /// (Microsoft.Data.Sqlite begins IMMEDIATE), so two bisectors opening a fresh file at once apply each migration
    /// once: the second waits for the first's lock, then sees the new version.
    /// </summary>
    private async Task MigrateAsync(CancellationToken ct)
    {
        while (true)
        {
            await using var tx = await _connection.BeginTransactionAsync(ct);
            var version = await _connection.ExecuteScalarAsync<long>(new CommandDefinition("PRAGMA user_version;", transaction: tx, cancellationToken: ct));
            if (version > Schema.Migrations.Count)
            {
                throw new StorageException(
                    $"'{Path}' has schema version {version}, newer than this bisector understands ({Schema.Migrations.Count})",
                    "Use a newer bisector to read it; nothing was changed");
            }

            if (version == Schema.Migrations.Count)
            {
                return;
            }

            await _connection.ExecuteAsync(new CommandDefinition(Schema.Migrations[(int)version], transaction: tx, cancellationToken: ct));
            await _connection.ExecuteAsync(new CommandDefinition($"PRAGMA user_version = {version + 1};", transaction: tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
        }
    }

    public async Task CreateRunAsync(RunRow run, IReadOnlyList<CommitRow> commits, CancellationToken ct = default)
    {
        await using var tx = await _connection.BeginTransactionAsync(ct);
        await _connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO runs (id, created_at, ended_at, status, repo_path, range_spec, paths_json, recipe_name, recipe_hash,
                              recipe_file, recipe_yaml, recipe_json, options_json, command_line, tool_version, host_info, outcome_json, summary)
            VALUES (@Id, @CreatedAt, @EndedAt, @Status, @RepoPath, @RangeSpec, @PathsJson, @RecipeName, @RecipeHash,
                    @RecipeFile, @RecipeYaml, @RecipeJson, @OptionsJson, @CommandLine, @ToolVersion, @HostInfo, @OutcomeJson, @Summary)
            """, run, tx, cancellationToken: ct));
        foreach (var c in commits)
        {
            await _connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO run_commits (run_id, position, sha, subject, author, authored_at, parents)
                VALUES (@RunId, @Position, @Sha, @Subject, @Author, @AuthoredAt, @Parents)
                """,
                new { RunId = run.Id, c.Position, c.Sha, c.Subject, c.Author, c.AuthoredAt, c.Parents }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
    }

    public async Task<RunRow?> GetRunAsync(string? id, CancellationToken ct = default)
    {
        const string columns =
            """
            id AS Id, created_at AS CreatedAt, ended_at AS EndedAt, status AS Status, repo_path AS RepoPath,
            range_spec AS RangeSpec, paths_json AS PathsJson, recipe_name AS RecipeName, recipe_hash AS RecipeHash,
            recipe_file AS RecipeFile, recipe_yaml AS RecipeYaml, recipe_json AS RecipeJson, options_json AS OptionsJson, command_line AS CommandLine,
            tool_version AS ToolVersion, host_info AS HostInfo, outcome_json AS OutcomeJson, summary AS Summary
            """;
        var sql = id is null
            ? $"SELECT {columns} FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1"
            : $"SELECT {columns} FROM runs WHERE id = @id OR id LIKE @prefix ORDER BY id LIMIT 2";
        var rows = (await _connection.QueryAsync<RunRow>(new CommandDefinition(sql, new { id, prefix = id + "%" }, cancellationToken: ct))).ToList();
        if (rows.Count > 1 && rows.All(r => r.Id != id))
        {
            throw new StorageException($"run id '{id}' is ambiguous: it starts {rows[0].Id} and {rows[1].Id}", "Give more characters of the run id");
        }

        return rows.FirstOrDefault(r => r.Id == id) ?? rows.FirstOrDefault();
    }

    // Typed columns only: Dapper maps an untyped literal such as '' by the provider's guess (byte[]), which broke 'status --list'.
    public async Task<IReadOnlyList<RunRow>> ListRunsAsync(CancellationToken ct = default) =>
        (await _connection.QueryAsync<RunRow>(new CommandDefinition(
            """
            SELECT id AS Id, created_at AS CreatedAt, ended_at AS EndedAt, status AS Status, repo_path AS RepoPath,
                   range_spec AS RangeSpec, paths_json AS PathsJson, recipe_name AS RecipeName, recipe_hash AS RecipeHash,
                   recipe_file AS RecipeFile, recipe_yaml AS RecipeYaml, recipe_json AS RecipeJson, options_json AS OptionsJson, command_line AS CommandLine,
                   tool_version AS ToolVersion, host_info AS HostInfo, outcome_json AS OutcomeJson, summary AS Summary
            FROM runs ORDER BY created_at, rowid
            """, cancellationToken: ct))).ToList();

    public async Task SetRunStatusAsync(string runId, RunStatus status, string? outcomeJson, string? summary, CancellationToken ct = default) =>
        await WritingAsync($"status of run {runId}", () => _connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE runs SET status = @status, outcome_json = COALESCE(@outcomeJson, outcome_json),
                            summary = COALESCE(@summary, summary),
                            ended_at = CASE WHEN @status = 'running' THEN NULL ELSE @now END
            WHERE id = @runId
            """,
            new { runId, status, outcomeJson, summary, now = Now() }, cancellationToken: ct)));

    /// <summary>Writes an enum as its name and reads it back by name, so the stored text stays what people query.</summary>
    private sealed class EnumText<T>(bool lowerCase = false) : SqlMapper.TypeHandler<T>
        where T : struct, Enum
    {
        public override void SetValue(IDbDataParameter parameter, T value)
        {
            parameter.DbType = DbType.String;
            parameter.Value = lowerCase ? value.ToString().ToLowerInvariant() : value.ToString();
        }

        public override T Parse(object value) =>
            Enum.TryParse<T>(value as string, ignoreCase: lowerCase, out var parsed) && Enum.IsDefined(parsed)
                ? parsed
                : throw new StorageException($"'{value}' is not a {typeof(T).Name} this bisector knows",
                    "The database was written by a newer bisector; read it with that version");
    }

    public async Task<IReadOnlyList<CommitRow>> GetCommitsAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<CommitRow>(new CommandDefinition(
            """
            SELECT position AS Position, sha AS Sha, subject AS Subject, author AS Author, authored_at AS AuthoredAt, parents AS Parents
            FROM run_commits WHERE run_id = @runId ORDER BY position
            """, new { runId }, cancellationToken: ct))).ToList();

    public async Task AddBuildAsync(string runId, BuildResult build, string recipeHash, CancellationToken ct = default) =>
        await WritingAsync($"build of {build.CommitSha[..Math.Min(12, build.CommitSha.Length)]}", () => _connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO builds (run_id, sha, recipe_hash, status, duration_ms, log, fixups_json, artifact_dir, content_hash, fingerprint, links_json, created_at)
            VALUES (@runId, @Sha, @recipeHash, @Status, @DurationMs, @Log, @FixupsJson, @ArtifactDir, @ContentHash, @Fingerprint, @LinksJson, @now)
            """,
            new
            {
                runId,
                Sha = build.CommitSha,
                recipeHash,
                build.Status,
                DurationMs = (long)build.Duration.TotalMilliseconds,
                build.Log,
                FixupsJson = System.Text.Json.JsonSerializer.Serialize(build.FixUps),
                ArtifactDir = build.Artifact?.Directory,
                ContentHash = build.Artifact?.ContentHash,
                build.Artifact?.Fingerprint,
                LinksJson = build.Artifact?.Links is { } links ? LinkedLibraries.ToJson(links) : null,
                now = Now(),
            }, cancellationToken: ct)));

    public async Task<IReadOnlyList<BuildRow>> GetBuildsAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<BuildRow>(new CommandDefinition(
            """
            SELECT id AS Id, sha AS Sha, recipe_hash AS RecipeHash, status AS Status, duration_ms AS DurationMs, log AS Log,
                   fixups_json AS FixupsJson, artifact_dir AS ArtifactDir, content_hash AS ContentHash, created_at AS CreatedAt,
                   fingerprint AS Fingerprint, links_json AS LinksJson
            FROM builds WHERE run_id = @runId ORDER BY id
            """, new { runId }, cancellationToken: ct))).ToList();

    /// <summary>Stores a finished trial and all its samples atomically; returns the trial id.</summary>
    public async Task<long> AddTrialAsync(string runId, NewTrial trial, CancellationToken ct = default) =>
        await WritingAsync($"trial {trial.TrialIndex} of {trial.Sha[..Math.Min(12, trial.Sha.Length)]}", async () =>
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(ct);
            var id = await InsertTrialAsync(tx, runId, trial, ct);
            if (trial.TrialKey is { } trialKey)
            {
                // Same transaction: a trial is either stored and no longer in flight, or neither.
                await _connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM in_flight WHERE run_id = @runId AND kind = 'trial' AND key = @trialKey", new { runId, trialKey }, tx, cancellationToken: ct));
            }

            await tx.CommitAsync(ct);
            return id;
        });

    private async Task<long> InsertTrialAsync(SqliteTransaction tx, string runId, NewTrial t, CancellationToken ct)
    {
        var trialId = await _connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            INSERT INTO trials (run_id, position, sha, trial_index, round, worker, host, outcome, reason, started_at, ended_at, variant)
            VALUES (@runId, @Position, @Sha, @TrialIndex, @Round, @Worker, @Host, @Outcome, @Reason, @startedAt, @endedAt, @Variant);
            SELECT last_insert_rowid();
            """,
            new { runId, t.Position, t.Sha, t.TrialIndex, t.Round, t.Worker, t.Host, t.Outcome, t.Reason, startedAt = Iso(t.StartedAt), endedAt = Iso(t.EndedAt), t.Variant },
            tx, cancellationToken: ct));

        // A prepared command reused for every sample: thousands of rows per trial stay a few milliseconds.
        await using var insert = _connection.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = "INSERT INTO samples (trial_id, seconds, metric, value) VALUES ($trial, $seconds, $metric, $value)";
        var pTrial = insert.Parameters.Add("$trial", SqliteType.Integer);
        var pSeconds = insert.Parameters.Add("$seconds", SqliteType.Real);
        var pMetric = insert.Parameters.Add("$metric", SqliteType.Text);
        var pValue = insert.Parameters.Add("$value", SqliteType.Real);
        pTrial.Value = trialId;
        foreach (var s in t.Samples)
        {
            pSeconds.Value = s.Seconds;
            pMetric.Value = s.Metric;
            pValue.Value = s.Value;
            await insert.ExecuteNonQueryAsync(ct);
        }

        return trialId;
    }

    /// <summary>The search's trials of a run (experiment trials are left out: <see cref="GetVariantTrialsAsync"/>).</summary>
    public async Task<IReadOnlyList<TrialRow>> GetTrialsAsync(string runId, CancellationToken ct = default) =>
        await GetVariantTrialsAsync(runId, "", ct);

    /// <summary>The trials of one experiment of a run ('' = the search's own).</summary>
    public async Task<IReadOnlyList<TrialRow>> GetVariantTrialsAsync(string runId, string variant, CancellationToken ct = default) =>
        (await _connection.QueryAsync<TrialRow>(new CommandDefinition(
            """
            SELECT id AS Id, position AS Position, sha AS Sha, trial_index AS TrialIndex, round AS Round, worker AS Worker,
                   host AS Host, outcome AS Outcome, reason AS Reason, started_at AS StartedAt, ended_at AS EndedAt
            FROM trials WHERE run_id = @runId AND variant = @variant ORDER BY id
            """, new { runId, variant }, cancellationToken: ct))).ToList();

    /// <summary>Records an experiment of a run (replacing an earlier record of the same name).</summary>
    public async Task SaveExperimentAsync(ExperimentRow row, CancellationToken ct = default) =>
        await WritingAsync($"experiment {row.Variant}", () => _connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT OR REPLACE INTO experiments (run_id, variant, recipe_hash, not_run, created_at)
            VALUES (@RunId, @Variant, @RecipeHash, @NotRun, @CreatedAt)
            """, row, cancellationToken: ct)));

    public async Task<IReadOnlyList<ExperimentRow>> GetExperimentsAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<ExperimentRow>(new CommandDefinition(
            """
            SELECT run_id AS RunId, variant AS Variant, recipe_hash AS RecipeHash, not_run AS NotRun, created_at AS CreatedAt
            FROM experiments WHERE run_id = @runId ORDER BY rowid
            """, new { runId }, cancellationToken: ct))).ToList();

    /// <summary>Records (or replaces) a run's revert proof of one culprit.</summary>
    public async Task SaveRevertAsync(RevertRow row, CancellationToken ct = default) =>
        await WritingAsync($"revert proof {row.Variant}", () => _connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT OR REPLACE INTO reverts (run_id, variant, culprit_sha, base_sha, command, status, conflicts, detail, build_key, created_at)
            VALUES (@RunId, @Variant, @CulpritSha, @BaseSha, @Command, @Status, @Conflicts, @Detail, @BuildKey, @CreatedAt)
            """, row, cancellationToken: ct)));

    public async Task<IReadOnlyList<RevertRow>> GetRevertsAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<RevertRow>(new CommandDefinition(
            """
            SELECT run_id AS RunId, variant AS Variant, culprit_sha AS CulpritSha, base_sha AS BaseSha, command AS Command,
                   status AS Status, conflicts AS Conflicts, detail AS Detail, build_key AS BuildKey, created_at AS CreatedAt
            FROM reverts WHERE run_id = @runId ORDER BY rowid
            """, new { runId }, cancellationToken: ct))).ToList();

    public async Task<IReadOnlyList<SampleRow>> GetSamplesAsync(long trialId, string? metric = null, CancellationToken ct = default) =>
        (await _connection.QueryAsync<SampleRow>(new CommandDefinition(
            """
            SELECT trial_id AS TrialId, seconds AS Seconds, metric AS Metric, value AS Value
            FROM samples WHERE trial_id = @trialId AND (@metric IS NULL OR metric = @metric) ORDER BY rowid
            """, new { trialId, metric }, cancellationToken: ct))).ToList();

    public async Task<long> CountSamplesAsync(string runId, CancellationToken ct = default) =>
        await _connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM samples s JOIN trials t ON t.id = s.trial_id WHERE t.run_id = @runId",
            new { runId }, cancellationToken: ct));

    public async Task AddRoundAsync(string runId, int number, IReadOnlyList<int> positions, string reason, CancellationToken ct = default) =>
        await WritingAsync($"round {number}", () => _connection.ExecuteAsync(new CommandDefinition(
            "INSERT OR REPLACE INTO rounds (run_id, number, positions, reason) VALUES (@runId, @number, @positions, @reason)",
            new { runId, number, positions = string.Join(',', positions), reason }, cancellationToken: ct)));

    /// <summary>Records which process on which host runs <paramref name="runId"/> now, replacing an earlier owner.</summary>
    public async Task ClaimRunAsync(RunOwnerRow owner, CancellationToken ct = default) =>
        await WritingAsync($"owner of run {owner.RunId}", () => _connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT OR REPLACE INTO run_owners (run_id, host, pid, pid_start, work_root, claimed_at)
            VALUES (@RunId, @Host, @Pid, @PidStart, @WorkRoot, @ClaimedAt)
            """, owner, cancellationToken: ct)));

    public async Task<RunOwnerRow?> GetOwnerAsync(string runId, CancellationToken ct = default) =>
        await _connection.QuerySingleOrDefaultAsync<RunOwnerRow>(new CommandDefinition(
            """
            SELECT run_id AS RunId, host AS Host, pid AS Pid, pid_start AS PidStart, work_root AS WorkRoot, claimed_at AS ClaimedAt
            FROM run_owners WHERE run_id = @runId
            """, new { runId }, cancellationToken: ct));

    /// <summary>Marks builds or trials as started; what is still here after a crash names the leftovers to look for.</summary>
    public async Task AddInFlightAsync(string runId, string kind, IReadOnlyList<string> keys, CancellationToken ct = default) =>
        await WritingAsync($"in-flight {kind}s of run {runId}", async () =>
        {
            await using var tx = await _connection.BeginTransactionAsync(ct);
            foreach (var key in keys)
            {
                await _connection.ExecuteAsync(new CommandDefinition(
                    "INSERT OR REPLACE INTO in_flight (run_id, kind, key, started_at) VALUES (@runId, @kind, @key, @now)",
                    new { runId, kind, key, now = Now() }, tx, cancellationToken: ct));
            }

            await tx.CommitAsync(ct);
            return keys.Count;
        });

    public async Task RemoveInFlightAsync(string runId, string kind, string? key, CancellationToken ct = default) =>
        await WritingAsync($"in-flight {kind}s of run {runId}", () => _connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM in_flight WHERE run_id = @runId AND kind = @kind AND (@key IS NULL OR key = @key)",
            new { runId, kind, key }, cancellationToken: ct)));

    public async Task<IReadOnlyList<InFlightRow>> GetInFlightAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<InFlightRow>(new CommandDefinition(
            "SELECT kind AS Kind, key AS Key, started_at AS StartedAt FROM in_flight WHERE run_id = @runId ORDER BY started_at, key",
            new { runId }, cancellationToken: ct))).ToList();

    /// <summary>
    /// Runs a write and turns SQLite's failures into a <see cref="StorageException"/> that says what was being stored:
    /// a full disk (SQLITE_FULL, or an I/O error while growing the WAL) must stop the run with a clear message, not a
    /// stack trace. The failed transaction rolled back, so everything stored before it is intact.
    /// </summary>
    private async Task<T> WritingAsync<T>(string what, Func<Task<T>> write)
    {
        try
        {
            return await write();
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 13 or 10)
        {
            throw new StorageException($"cannot store the {what} in {Path}: the disk is full or failing ({e.Message})",
                "Free space in the results folder (or move it with --results), then 'bisector resume' continues; everything stored before is kept", e);
        }
        catch (SqliteException e)
        {
            throw new StorageException($"cannot store the {what} in {Path}: {e.Message}",
                "Check the results folder is writable; 'bisector resume' continues once it is", e);
        }
    }

    public async Task SetCalibrationAsync(string runId, string summary, CancellationToken ct = default) =>
        await _connection.ExecuteAsync(new CommandDefinition(
            "UPDATE runs SET calibration = @summary WHERE id = @runId", new { runId, summary }, cancellationToken: ct));

    public async Task<string?> GetCalibrationAsync(string runId, CancellationToken ct = default) =>
        await _connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT calibration FROM runs WHERE id = @runId", new { runId }, cancellationToken: ct));

    /// <summary>Stores (or replaces) the scan for further changes of a run, as JSON.</summary>
    public async Task SetRangeChangesAsync(string runId, string json, CancellationToken ct = default) =>
        await _connection.ExecuteAsync(new CommandDefinition(
            "UPDATE runs SET range_changes = @json WHERE id = @runId", new { runId, json }, cancellationToken: ct));

    public async Task<string?> GetRangeChangesAsync(string runId, CancellationToken ct = default) =>
        await _connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT range_changes FROM runs WHERE id = @runId", new { runId }, cancellationToken: ct));

    /// <summary>Stores (or replaces) the run's plan of one stage (<c>start</c>, <c>firstround</c>) as JSON.</summary>
    public async Task SavePlanAsync(string runId, string stage, string planJson, CancellationToken ct = default) =>
        await WritingAsync($"plan of run {runId}", () => _connection.ExecuteAsync(new CommandDefinition(
            "INSERT OR REPLACE INTO plans (run_id, stage, plan_json, created_at) VALUES (@runId, @stage, @planJson, @now)",
            new { runId, stage, planJson, now = Now() }, cancellationToken: ct)));

    /// <summary>The run's plan rows, in the order they were last written.</summary>
    public async Task<IReadOnlyList<PlanRow>> GetPlansAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<PlanRow>(new CommandDefinition(
            "SELECT stage AS Stage, plan_json AS PlanJson, created_at AS CreatedAt FROM plans WHERE run_id = @runId ORDER BY created_at, rowid",
            new { runId }, cancellationToken: ct))).ToList();

    public async Task<IReadOnlyList<RoundRow>> GetRoundsAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<RoundRow>(new CommandDefinition(
            "SELECT number AS Number, positions AS Positions, reason AS Reason FROM rounds WHERE run_id = @runId ORDER BY number",
            new { runId }, cancellationToken: ct))).ToList();

    /// <summary>Stores (or replaces, on resume) the run's diagnosis.</summary>
    public async Task SaveDiagnosisAsync(DiagnosisRow row, CancellationToken ct = default) =>
        await _connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT OR REPLACE INTO diagnoses (run_id, good_sha, culprit_sha, kind, headline, details, diff, profile, created_at)
            VALUES (@RunId, @GoodSha, @CulpritSha, @Kind, @Headline, @Details, @Diff, @Profile, @CreatedAt)
            """, row, cancellationToken: ct));

    public async Task<DiagnosisRow?> GetDiagnosisAsync(string runId, CancellationToken ct = default) =>
        await _connection.QuerySingleOrDefaultAsync<DiagnosisRow>(new CommandDefinition(
            """
            SELECT run_id AS RunId, good_sha AS GoodSha, culprit_sha AS CulpritSha, kind AS Kind, headline AS Headline,
                   details AS Details, diff AS Diff, profile AS Profile, created_at AS CreatedAt
            FROM diagnoses WHERE run_id = @runId
            """, new { runId }, cancellationToken: ct));

    /// <summary>Records that <paramref name="worker"/> left the pool; a second call for the same worker keeps the first.</summary>
    public async Task AddRemovedWorkerAsync(string runId, string worker, string reason, CancellationToken ct = default) =>
        await _connection.ExecuteAsync(new CommandDefinition(
            "INSERT OR IGNORE INTO removed_workers (run_id, worker, reason, removed_at) VALUES (@runId, @worker, @reason, @at)",
            new { runId, worker, reason, at = Iso(DateTimeOffset.UtcNow) }, cancellationToken: ct));

    public async Task<IReadOnlyList<RemovedWorkerRow>> GetRemovedWorkersAsync(string runId, CancellationToken ct = default) =>
        (await _connection.QueryAsync<RemovedWorkerRow>(new CommandDefinition(
            "SELECT worker AS Worker, reason AS Reason, removed_at AS RemovedAt FROM removed_workers WHERE run_id = @runId ORDER BY removed_at, worker",
            new { runId }, cancellationToken: ct))).ToList();

    /// <summary>Writes every sample of a run as CSV (one row per sample, with its trial's commit, experiment variant —
    /// empty for the search's own trials — and worker).</summary>
    public async Task ExportCsvAsync(string runId, TextWriter writer, CancellationToken ct = default)
    {
        await writer.WriteLineAsync("run_id,position,sha,variant,trial_id,trial_index,worker,outcome,seconds,metric,value");
        await using var command = _connection.CreateCommand();
        command.CommandText =
            """
            SELECT t.position, t.sha, t.id, t.trial_index, t.worker, t.outcome, s.seconds, s.metric, s.value, t.variant
            FROM samples s JOIN trials t ON t.id = s.trial_id
            WHERE t.run_id = $runId ORDER BY t.id, s.rowid
            """;
        command.Parameters.AddWithValue("$runId", runId);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var line = string.Join(',',
                Csv(runId),
                reader.GetInt64(0).ToString(CultureInfo.InvariantCulture),
                reader.GetString(1),
                Csv(reader.GetString(9)),
                reader.GetInt64(2).ToString(CultureInfo.InvariantCulture),
                reader.GetInt64(3).ToString(CultureInfo.InvariantCulture),
                Csv(reader.GetString(4)),
                reader.GetString(5),
                reader.GetDouble(6).ToString("R", CultureInfo.InvariantCulture),
                Csv(reader.GetString(7)),
                reader.GetDouble(8).ToString("R", CultureInfo.InvariantCulture));
            await writer.WriteLineAsync(line);
        }
    }

    private static string Csv(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;

    public static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Now() => Iso(DateTimeOffset.UtcNow);

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();
}
