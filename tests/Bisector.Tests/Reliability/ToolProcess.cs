using System.Diagnostics;
using System.Text;
using Bisector.Cli;
using Bisector.Demo;
using Bisector.Runs;
using Bisector.Storage;
using Bisector.Workers;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Bisector.Tests.Reliability;

/// <summary>
/// The built tool (bisector.dll next to the tests) run as a real child process, so kill -9, SIGINT and exit codes are
/// the real thing. Output is collected; disposing SIGKILLs it if it still runs (by its own PID only).
/// </summary>
internal sealed class ToolProcess : IDisposable
{
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();

    private ToolProcess(Process process) => Process = process;

    public Process Process { get; }

    public int Pid => Process.Id;

    public string Out
    {
        get
        {
            lock (_out)
            {
                return _out.ToString();
            }
        }
    }

    public string Err
    {
        get
        {
            lock (_err)
            {
                return _err.ToString();
            }
        }
    }

    public static ToolProcess Start(params string[] args) => Start(ownSession: false, args);

    /// <summary>Starts the tool as a terminal would: leader of its own session and process group (setsid execs
    /// dotnet in place, so <see cref="Pid"/> is the group's id), so a signal to the group is a Ctrl+C.</summary>
    public static ToolProcess StartInOwnSession(params string[] args) => Start(ownSession: true, args);

    private static ToolProcess Start(bool ownSession, string[] args)
    {
        // env --default-signal: the tool gets SIGINT and SIGQUIT at their defaults even when the test run itself ignores
        // them (a suite started in the background by a shell without job control inherits SIG_IGN for both, and a
        // process that starts with SIGINT ignored is meant to stay deaf to Ctrl+C).
        var info = new ProcessStartInfo(ownSession ? "setsid" : "env") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (ownSession)
        {
            info.ArgumentList.Add("env");
        }

        info.ArgumentList.Add("--default-signal=INT,QUIT");
        info.ArgumentList.Add("dotnet");

        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bisector.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        var tool = new ToolProcess(process);
        process.OutputDataReceived += (_, e) => { lock (tool._out) { tool._out.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (tool._err) { tool._err.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return tool;
    }

    /// <summary>Runs the tool to its end; returns the exit code.</summary>
    public static async Task<(int Exit, string Out, string Err)> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var tool = Start(args);
        var exit = await tool.WaitAsync(timeout);
        return (exit, tool.Out, tool.Err);
    }

    public async Task<int> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"bisector did not exit within {timeout}; stderr:\n{Err}");
        }

        Process.WaitForExit();
        return Process.ExitCode;
    }

    public void Signal(int signal) => Assert.True(Posix.Kill(Pid, signal), $"could not signal {Pid}");

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Posix.Kill(Pid, Posix.SigKill);
            Process.WaitForExit(10000);
        }

        Process.Dispose();
    }
}

/// <summary>A demo repository, its recipe and a results folder, all under one unique temporary folder.</summary>
internal sealed class DemoRun : IAsyncDisposable
{
    private DemoRun(string root, DemoRepository demo, string recipe)
    {
        Root = root;
        Demo = demo;
        Recipe = recipe;
        Results = Path.Combine(root, "results");
    }

    public string Root { get; }

    public DemoRepository Demo { get; }

    public string Recipe { get; }

    public string Results { get; }

    public string Database => RunEngine.DatabasePath(Results);

    public static async Task<DemoRun> CreateAsync()
    {
        var root = Directory.CreateTempSubdirectory("bisector-reliability-").FullName;
        var demo = await DemoRepository.CreateAsync(Path.Combine(root, "repo"), DemoScenario.Fragmentation);
        var recipe = Path.Combine(root, "demo-daemon.yaml");
        await using (var resource = typeof(DemoCommand).Assembly.GetManifestResourceStream("Bisector.Demo.demo-daemon.yaml")!)
        await using (var file = File.Create(recipe))
        {
            await resource.CopyToAsync(file);
        }

        return new DemoRun(root, demo, recipe);
    }

    /// <summary>Rewrites the demo recipe this run uses (a test's variant of it).</summary>
    public async Task EditRecipeAsync(Func<string, string> edit)
    {
        var text = await File.ReadAllTextAsync(Recipe);
        var edited = edit(text);
        Assert.NotEqual(text, edited);
        await File.WriteAllTextAsync(Recipe, edited);
    }

    /// <summary>Arguments of 'bisector start' for this demo; the window is short but past the ~4 s the culprit needs.</summary>
    public string[] StartArgs(string? range = null, params string[] extra) =>
    [
        "start", range ?? $"{Demo.GoodRef}..{Demo.BadRef}", "--paths", .. Demo.Paths, "--recipe", Recipe, "--repo", Demo.Path,
        "--results", Results, "--workers", "local:2", "--window", "5s", "--warmup", "1s", "--repeats", "2", .. extra,
    ];

    /// <summary>Polls the database (read-only, as 'bisector status' would) until <paramref name="condition"/> holds.</summary>
    public async Task<T> WaitForAsync<T>(Func<SqliteConnection, Task<T?>> condition, TimeSpan timeout, ToolProcess? alive = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (alive is { Process.HasExited: true })
            {
                throw new InvalidOperationException($"bisector exited early with {alive.Process.ExitCode}; stderr:\n{alive.Err}");
            }

            if (File.Exists(Database))
            {
                try
                {
                    await using var connection = Open();
                    if (await condition(connection) is { } value)
                    {
                        return value;
                    }
                }
                catch (SqliteException)
                {
                    // Schema not created yet.
                }
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"condition not reached within {timeout}; stderr:\n{alive?.Err}");
    }

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>Every stored trial of the database with its outcome and sample count: what must never be lost.</summary>
    public async Task<Dictionary<long, (string Outcome, long Samples)>> TrialsAsync()
    {
        await using var connection = Open();
        var rows = await connection.QueryAsync<(long Id, string Outcome, long Samples)>(
            "SELECT t.id, t.outcome, (SELECT COUNT(*) FROM samples s WHERE s.trial_id = t.id) FROM trials t");
        return rows.ToDictionary(r => r.Id, r => (r.Outcome, r.Samples));
    }

    public async Task<long> CountAsync(string table)
    {
        await using var connection = Open();
        return await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {table}");
    }

    public async ValueTask DisposeAsync()
    {
        // Whatever a test left (it failed half-way) is removed by run id, as 'bisector clean' would.
        if (File.Exists(Database))
        {
            await using var connection = Open();
            foreach (var id in await connection.QueryAsync<string>("SELECT id FROM runs"))
            {
                await RunJanitor.RemoveLeftoversAsync(id, Demo.Path);
            }
        }

        Directory.Delete(Root, recursive: true);
    }
}
