namespace Bisector.Storage;

/// <summary>
/// The database schema as an ordered list of migrations. A database records the highest version it has; opening it
/// applies the missing ones in one transaction each, so an older database is upgraded in place and never rewritten.
/// </summary>
internal static class Schema
{
    public static readonly IReadOnlyList<string> Migrations =
    [
        // 1: runs, their candidate commits, builds, trials and every raw sample.
        """
        CREATE TABLE runs (
            id            TEXT PRIMARY KEY,
            created_at    TEXT NOT NULL,
            ended_at      TEXT,
            status        TEXT NOT NULL,
            repo_path     TEXT NOT NULL,
            range_spec    TEXT NOT NULL,
            paths_json    TEXT NOT NULL,
            recipe_name   TEXT NOT NULL,
            recipe_hash   TEXT NOT NULL,
            recipe_file   TEXT NOT NULL,
            recipe_yaml   TEXT NOT NULL,
            recipe_json   TEXT NOT NULL,
            options_json  TEXT NOT NULL,
            command_line  TEXT NOT NULL,
            tool_version  TEXT NOT NULL,
            host_info     TEXT NOT NULL,
            outcome_json  TEXT,
            summary       TEXT
        );
        CREATE TABLE run_commits (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            position      INTEGER NOT NULL,
            sha           TEXT NOT NULL,
            subject       TEXT NOT NULL,
            author        TEXT NOT NULL,
            authored_at   TEXT NOT NULL,
            parents       TEXT NOT NULL,
            PRIMARY KEY (run_id, position)
        );
        CREATE TABLE builds (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id        TEXT NOT NULL REFERENCES runs(id),
            sha           TEXT NOT NULL,
            recipe_hash   TEXT NOT NULL,
            status        TEXT NOT NULL,
            duration_ms   INTEGER NOT NULL,
            log           TEXT NOT NULL,
            fixups_json   TEXT NOT NULL,
            artifact_dir  TEXT,
            content_hash  TEXT,
            created_at    TEXT NOT NULL
        );
        CREATE INDEX builds_run_sha ON builds(run_id, sha);
        CREATE TABLE trials (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id        TEXT NOT NULL REFERENCES runs(id),
            position      INTEGER NOT NULL,
            sha           TEXT NOT NULL,
            trial_index   INTEGER NOT NULL,
            round         INTEGER NOT NULL,
            worker        TEXT NOT NULL,
            host          TEXT NOT NULL,
            outcome       TEXT NOT NULL,
            reason        TEXT,
            started_at    TEXT NOT NULL,
            ended_at      TEXT NOT NULL
        );
        CREATE INDEX trials_run_position ON trials(run_id, position);
        CREATE TABLE samples (
            trial_id      INTEGER NOT NULL REFERENCES trials(id),
            seconds       REAL NOT NULL,
            metric        TEXT NOT NULL,
            value         REAL NOT NULL
        );
        CREATE INDEX samples_trial_metric ON samples(trial_id, metric);
        CREATE TABLE rounds (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            number        INTEGER NOT NULL,
            positions     TEXT NOT NULL,
            reason        TEXT NOT NULL,
            PRIMARY KEY (run_id, number)
        );
        """,

        // 2: workers the scheduler took out of the pool during a run, so the report can list them and why.
        """
        CREATE TABLE removed_workers (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            worker        TEXT NOT NULL,
            reason        TEXT NOT NULL,
            removed_at    TEXT NOT NULL,
            PRIMARY KEY (run_id, worker)
        );
        """,
    ];
}
