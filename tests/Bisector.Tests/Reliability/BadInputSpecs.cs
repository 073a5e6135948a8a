using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Storage;
using Bisector.Tests.Demo;
using Bisector.Workers;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Bisector.Tests.Reliability;

/// <summary>
/// Bad input given to the real tool (child process): a clear message naming the flag or file, an exit code ≠ 0 and
/// nothing already stored is lost. Hostile commit subjects and file names are handled as data, never as shell text.
/// </summary>
[LongRunning(30)]
public sealed class BadInputSpecs : IAsyncLifetime
{
    private const string TinyRecipe = """
        name: tiny
        build:
          steps: ["echo built $BISECTOR_COMMIT > artifact.txt"] # differs per commit, or identical builds would share trials
          artifacts: [artifact.txt]
          timeout: 1m
        run:
          command: exec sleep 30
          memory-limit: 64M
        decide:
          metric: rss_anon
        """;

    private readonly string _root = Directory.CreateTempSubdirectory("bisector-badinput-").FullName;
    private readonly string _marker = Guid.NewGuid().ToString("N");

    private string Repo => Path.Combine(_root, "repo");

    private string Results => Path.Combine(_root, "results");

    private string Recipe => Path.Combine(_root, "tiny.yaml");

    private string Pwned(int n) => $"/tmp/pwned-{n}-{_marker}";

    public async Task InitializeAsync()
    {
        // A repository whose commit messages and file names carry shell metacharacters and newlines.
        Directory.CreateDirectory(Path.Combine(Repo, "src"));
        await DemoTestSupport.GitAsync(Repo, "init", "-q", "-b", "main");
        await File.WriteAllTextAsync(Path.Combine(Repo, "src", "main.c"), "int main(void) { return 0; }\n");
        await CommitAsync("base");
        await File.WriteAllTextAsync(Path.Combine(Repo, "src", "a;b"), "semicolon\n");
        await CommitAsync($"$(touch {Pwned(1)})\n\nbody line `touch {Pwned(2)}`");
        await File.WriteAllTextAsync(Path.Combine(Repo, "src", "new\nline $(touch " + Pwned(3).Replace("/", "_", StringComparison.Ordinal) + ")"), "newline\n");
        await CommitAsync($"`touch {Pwned(4)}`; echo x > {Pwned(5)} && rm -rf \"$HOME/nothing\" <b>bold</b>");
        await File.WriteAllTextAsync(Recipe, TinyRecipe);

        // A database that already holds a run with samples: bad input must not change it.
        await using var store = await ResultsStore.OpenAsync(RunEngine.DatabasePath(Results));
        await store.CreateRunAsync(
            new RunRow("20240101-000000-seed", "2024-01-01T00:00:00.000Z", null, RunStatus.Finished, Repo, "a..b", "[]", "tiny", new string('0', 64),
                Recipe, TinyRecipe, "{}", "{}", "bisector start a..b", "test", "{}", null, "seeded"),
            [new CommitRow(0, "abc", "good", "me", "2024-01-01T00:00:00.000Z", "")]);
        await store.AddTrialAsync("20240101-000000-seed", new NewTrial(0, "abc", 0, 1, "local-1", "h", TrialOutcome.Ok, null, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow,
            [new Sample(0.1, "rss_anon", 1), new Sample(0.2, "rss_anon", 2)]));
    }

    public Task DisposeAsync()
    {
        foreach (var n in Enumerable.Range(1, 5))
        {
            File.Delete(Pwned(n));
        }

        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Theory(Timeout = 120_000)]
    [InlineData("bad-ref", 4, "nosuchref")]
    [InlineData("bad-pathspec", 4, "src/[")]
    [InlineData("missing-recipe", 2, "--recipe")]
    [InlineData("bad-bisect-yaml", 3, "bisect.yaml:3:")]
    [InlineData("bad-window", 2, "--window")]
    [InlineData("bisect-yaml-window-below-interval", 3, "bisect.yaml:2: 'window'")]
    [InlineData("bisect-yaml-repeats-above-flag-cap", 2, "--max-trials")]
    [InlineData("unknown-worker", 2, "--workers: 'bogus:1' is not a known worker spec")]
    [InlineData("term-old-alone", 2, "--term-old: 'broken' was given without --term-new")]
    [InlineData("same-term-twice", 2, "--term-new: 'fixed' is also --term-old")]
    [InlineData("find-fix-on-a-decrease-recipe", 2, "--find-fix: the recipe ")]
    [InlineData("demo-term-new-alone", 2, "--term-new: 'fixed' was given without --term-old")]
    [InlineData("replay-truth-without-run", 2, "--culprit/--features: they describe a stored run, and no --run was given")]
    public async Task I_can_give_bad_input_and_get_a_clear_error_with_the_database_left_as_it_was(string kind, int exitCode, string fragment)
    {
        // Arrange
        var before = await DumpAsync();
        string[] args = ["start", "HEAD~2..HEAD", "--repo", Repo, "--recipe", Recipe, "--results", Results, "--window", "1s", "--warmup", "500ms"];
        switch (kind)
        {
            case "bad-ref":
                args[1] = "nosuchref..HEAD";
                break;
            case "bad-pathspec":
                args = [.. args, "--paths", "src/["];
                break;
            case "missing-recipe":
                args[5] = Path.Combine(_root, "missing.yaml");
                break;
            case "bad-bisect-yaml":
                await File.WriteAllTextAsync(Path.Combine(_root, "bisect.yaml"), "# project defaults\nrepeats: 3\nconfidence: lots\n");
                args = [.. args, "--config", Path.Combine(_root, "bisect.yaml")];
                break;
            case "bad-window":
                args[9] = "soon";
                break;
            case "bisect-yaml-window-below-interval":
                // Valid on its own, wrong against the recipe (it samples every 100 ms): the file is to blame, not a flag.
                await File.WriteAllTextAsync(Path.Combine(_root, "bisect.yaml"), "# project defaults\nwindow: 50ms\n");
                args = [.. args[..8], "--config", Path.Combine(_root, "bisect.yaml")];
                break;
            case "bisect-yaml-repeats-above-flag-cap":
                // bisect.yaml's repeats are fine with the recipe; the flag's cap below them is what is wrong.
                await File.WriteAllTextAsync(Path.Combine(_root, "bisect.yaml"), "repeats: 6\n");
                args = [.. args, "--config", Path.Combine(_root, "bisect.yaml"), "--max-trials", "4"];
                break;
            case "unknown-worker":
                args = [.. args, "--workers", "bogus:1"];
                break;
            case "term-old-alone":
                args = [.. args, "--term-old", "broken"];
                break;
            case "same-term-twice":
                args = [.. args, "--find-fix", "--term-old", "fixed", "--term-new", "fixed"];
                break;
            case "find-fix-on-a-decrease-recipe":
                // The recipe already looks for a decrease: the flag and the recipe's line are both named.
                args[5] = Path.Combine(_root, "decrease.yaml");
                await File.WriteAllTextAsync(args[5], TinyRecipe + "\n  direction: decrease\n");
                args = [.. args, "--find-fix"];
                fragment += args[5] + ":11 already decides on a decrease";
                break;
            case "demo-term-new-alone":
                // Checked before the demo generates anything.
                args = ["demo", "--scenario", "fix", "--term-new", "fixed", "--dir", Path.Combine(_root, "demo"), "--results", Results];
                break;
            case "replay-truth-without-run":
                // Checked before any replay runs: the built-in journald runs have their own culprit.
                args = ["bench", "replay", "--culprit", "3", "--seeds", "1"];
                break;
        }

        // Act
        var (exit, output, error) = await ToolProcess.RunAsync(TimeSpan.FromMinutes(1), args);

        // Assert
        Assert.True(exit == exitCode, $"exit {exit}, expected {exitCode}; stderr:\n{error}");
        Assert.StartsWith("error: ", error);
        Assert.Contains(fragment, error);
        Assert.DoesNotContain("   at ", error); // no stack trace
        Assert.Equal(before, await DumpAsync());
    }

    [Fact(Timeout = 300_000)]
    public async Task I_can_bisect_commits_whose_subjects_and_file_names_hold_shell_metacharacters_without_running_them()
    {
        // Arrange
        var subjects = (await DemoTestSupport.GitAsync(Repo, "log", "-z", "--format=%s", "HEAD~2..HEAD")).Split('\0');

        // Act
        var dryRun = await ToolProcess.RunAsync(TimeSpan.FromMinutes(1), "start", "HEAD~2..HEAD", "--paths", "src", "--repo", Repo, "--recipe", Recipe, "--results", Results, "--dry-run");
        var run = await ToolProcess.RunAsync(TimeSpan.FromMinutes(4),
            "start", "HEAD~2..HEAD", "--paths", "src/a;b", "src/new*", "--repo", Repo, "--recipe", Recipe, "--results", Results,
            "--window", "1s", "--warmup", "500ms", "--repeats", "2", "--max-trials", "2", "--workers", "local:1");

        // Assert
        Assert.True(dryRun.Exit == 0, dryRun.Err);
        Assert.Contains("touch " + Pwned(1), dryRun.Out);
        Assert.True(run.Exit is 0 or 1, $"exit {run.Exit}:\n{run.Err}");
        Assert.Contains("report: ", run.Out);
        foreach (var n in Enumerable.Range(1, 5))
        {
            Assert.False(File.Exists(Pwned(n)), $"a commit message was executed: {Pwned(n)} exists");
        }

        Assert.False(Directory.EnumerateFiles("/tmp", $"*{_marker}*").Any(), "a file name was executed");
        await using var connection = new SqliteConnection($"Data Source={RunEngine.DatabasePath(Results)};Mode=ReadOnly;Pooling=False");
        var stored = (await connection.QueryAsync<string>("SELECT subject FROM run_commits WHERE position > 0 AND run_id <> '20240101-000000-seed' ORDER BY position DESC")).ToList();
        Assert.Equal(subjects.Where(s => s.Length > 0).Select(s => s.Split('\n')[0]), stored);
        Assert.True(await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM trials WHERE outcome = 'Ok' AND run_id <> '20240101-000000-seed'") >= 4);
        var report = await File.ReadAllTextAsync(run.Out.Split('\n').First(l => l.StartsWith("report: ", StringComparison.Ordinal))["report: ".Length..].Trim());
        Assert.DoesNotContain("<b>bold</b>", report);
    }

    /// <summary>Every row of every table of the database, as text: a failed start must not change a byte of it.</summary>
    private async Task<string> DumpAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={RunEngine.DatabasePath(Results)};Mode=ReadOnly;Pooling=False");
        var dump = new System.Text.StringBuilder();
        foreach (var table in await connection.QueryAsync<string>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"))
        {
            dump.Append("== ").Append(table).Append('\n');
            foreach (IDictionary<string, object?> row in await connection.QueryAsync($"SELECT * FROM \"{table}\" ORDER BY rowid"))
            {
                dump.AppendJoin(" | ", row.Select(c => $"{c.Key}={c.Value}")).Append('\n');
            }
        }

        return dump.ToString();
    }

    private async Task CommitAsync(string message)
    {
        await DemoTestSupport.GitAsync(Repo, "add", "-A");
        await DemoTestSupport.GitAsync(Repo, "-c", "user.name=Test", "-c", "user.email=t@example.com", "commit", "-q", "-m", message);
    }
}
