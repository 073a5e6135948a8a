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

        // 2: who runs a run (so resume can tell a dead orchestrator from a live one on another terminal) and what was
        // in flight when it last wrote (so the leftovers of a killed orchestrator can be found by their unique names).
        """
        CREATE TABLE run_owners (
            run_id        TEXT PRIMARY KEY REFERENCES runs(id),
            host          TEXT NOT NULL,
            pid           INTEGER NOT NULL,
            pid_start     TEXT NOT NULL,
            work_root     TEXT NOT NULL,
            claimed_at    TEXT NOT NULL
        );
        CREATE TABLE in_flight (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            kind          TEXT NOT NULL,
            key           TEXT NOT NULL,
            started_at    TEXT NOT NULL,
            PRIMARY KEY (run_id, kind, key)
        );
        """,

        // 3: why memory grew — the culprit's classified effect, its diff and the boundary profile, one row per run.
        """
        CREATE TABLE diagnoses (
            run_id        TEXT PRIMARY KEY REFERENCES runs(id),
            good_sha      TEXT NOT NULL,
            culprit_sha   TEXT NOT NULL,
            kind          TEXT NOT NULL,
            headline      TEXT NOT NULL,
            details       TEXT NOT NULL,
            diff          TEXT,
            profile       TEXT,
            created_at    TEXT NOT NULL
        );
        """,

        // 4: the A/A calibration of a run (`start --calibrate`): one build measured as both ends, and what came of it.
        """
        ALTER TABLE runs ADD COLUMN calibration TEXT;
        """,

        // 5: workers the scheduler took out of the pool during a run, so the report can list them and why.
        """
        CREATE TABLE removed_workers (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            worker        TEXT NOT NULL,
            reason        TEXT NOT NULL,
            removed_at    TEXT NOT NULL,
            PRIMARY KEY (run_id, worker)
        );
        """,

        // 6: diagnosis by experiment. Experiment trials are ordinary trials of the run, told apart by their variant
        // (the experiment's name; '' for the search's own trials, which every search query keeps to), and each
        // experiment records the derived recipe's hash and, when it could not run at all, why.
        """
        ALTER TABLE trials ADD COLUMN variant TEXT NOT NULL DEFAULT '';
        CREATE TABLE experiments (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            variant       TEXT NOT NULL,
            recipe_hash   TEXT NOT NULL,
            not_run       TEXT,
            created_at    TEXT NOT NULL,
            PRIMARY KEY (run_id, variant)
        );
        """,

        // 7: the scan for further changes after a named culprit (every change found in the range and what each segment's
        // search concluded), as JSON: one value per run, replaced when a resumed run scans again. Self-contained.
        """
        ALTER TABLE runs ADD COLUMN range_changes TEXT;
        """,

        // 8: the run's cost plan (issue 18): what the simulated search expected before the run ('start') and after its
        // first round ('firstround'), as JSON, so the report compares plan and spending. Self-contained: one new table.
        """
        CREATE TABLE plans (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            stage         TEXT NOT NULL,
            plan_json     TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            PRIMARY KEY (run_id, stage)
        );
        """,

        // 9: revert proof. Self-contained. The bad end built with the culprit reverted; its trials are ordinary trials of the run at the
        // bad end's position under their own variant ('revert:' and the culprit's SHA), and this row says what was
        // reverted onto what, whether git applied it cleanly (else the conflicting files), and the build's cache key.
        """
        CREATE TABLE reverts (
            run_id        TEXT NOT NULL REFERENCES runs(id),
            variant       TEXT NOT NULL,
            culprit_sha   TEXT NOT NULL,
            base_sha      TEXT NOT NULL,
            command       TEXT NOT NULL,
            status        TEXT NOT NULL,
            conflicts     TEXT NOT NULL,
            detail        TEXT,
            build_key     TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            PRIMARY KEY (run_id, variant)
        );
        """,

        // 10: identical builds. A build's code and data without debug info or build id (Building/BuildFingerprint):
        // commits whose builds share it share their trials. Null for builds stored before it existed.
        """
        ALTER TABLE builds ADD COLUMN fingerprint TEXT;
        """,

        // 11: the shared libraries each ELF file of a build needs (Building/LinkedLibraries), as JSON: the report shows
        // where along the range a build started or stopped linking one. Null for builds stored before it existed.
        """
        ALTER TABLE builds ADD COLUMN links_json TEXT;
        """,
    ];
}
