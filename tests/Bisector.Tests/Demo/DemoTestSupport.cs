using System.Diagnostics;
using System.Globalization;
using Bisector.Recipes;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Tests.Demo;

/// <summary>A temporary directory removed on dispose; git worktrees inside it are pruned by removing the directory.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bisector-demo-").FullName;

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}

internal static class DemoTestSupport
{
    /// <summary>A recipe that builds the demo daemon with <paramref name="step"/> and keeps <paramref name="artifacts"/>:
    /// enough to build and cache the demo's commits, not to measure them.</summary>
    public static Recipe BuildRecipe(string root, string step = "make -j2", string artifacts = "demod, demo-client", string name = "demo-build") =>
        RecipeLoader.Parse(
            $$"""
            name: {{name}}
            build:
              steps: ['{{step.Replace("'", "''")}}']
              artifacts: [{{artifacts}}]
              timeout: 2m
            run:
              command: ./demod "$BISECTOR_RUN_DIR/demod.sock"
            decide:
              metric: rss_anon
            """,
            Path.Combine(root, "recipe.yaml"),
            root);

    public static async Task<string> GitAsync(string repo, params string[] args)
    {
        var result = await CliWrap.Cli.Wrap("git").WithArguments(args).WithWorkingDirectory(repo)
            .WithEnvironmentVariables(e => e.Set("GIT_CONFIG_GLOBAL", "/dev/null").Set("GIT_CONFIG_NOSYSTEM", "1"))
            .ExecuteBufferedAsync();
        return result.StandardOutput.Trim();
    }

    /// <summary>Checks <paramref name="commit"/> out into <paramref name="dir"/> (no worktree metadata left behind) and runs make.</summary>
    public static async Task<string> BuildAsync(string repo, string commit, string dir, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        await (CliWrap.Cli.Wrap("git").WithArguments(["archive", commit]).WithWorkingDirectory(repo)
            | CliWrap.Cli.Wrap("tar").WithArguments(["-x", "-C", dir])).ExecuteAsync(ct);
        await CliWrap.Cli.Wrap("make").WithArguments(["-j2"]).WithWorkingDirectory(dir).ExecuteBufferedAsync(ct);
        return dir;
    }

    /// <summary>
    /// Runs the build's demod with demo-client driving it and samples RssAnon (bytes) every 100 ms for
    /// <paramref name="duration"/> from the workload's start. Returns (seconds since the workload started, bytes). Kills exactly the two processes it started.
    /// </summary>
    public static async Task<IReadOnlyList<(double Seconds, double Bytes)>> SampleRssAnonAsync(
        string buildDir, string runDir, TimeSpan duration, CancellationToken ct)
    {
        Directory.CreateDirectory(runDir);
        var socket = System.IO.Path.Combine(runDir, "demod.sock");
        using var daemon = Start(System.IO.Path.Combine(buildDir, "demod"), socket, buildDir);
        Process? client = null;
        try
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(socket))
            {
                if (daemon.HasExited)
                    throw new InvalidOperationException($"demod exited with {daemon.ExitCode} before creating its socket");
                await Task.Delay(10, ct);
            }
            client = Start(System.IO.Path.Combine(buildDir, "demo-client"), socket, buildDir);
            // The series' clock starts with the workload, not the daemon: on a loaded machine the daemon's start-up can
            // take seconds of wall time, and a warm-up counted from it would cut into the ramp the load causes.
            clock.Restart();

            var samples = new List<(double, double)>();
            while (clock.Elapsed < duration)
            {
                samples.Add((clock.Elapsed.TotalSeconds, ReadRssAnon(daemon.Id)));
                await Task.Delay(100, ct);
            }
            Assert.False(client.HasExited, "demo-client stopped before the end of the window");
            return samples;
        }
        finally
        {
            if (client is { HasExited: false })
                client.Kill();
            client?.Dispose();
            if (!daemon.HasExited)
                daemon.Kill();
            await daemon.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static Process Start(string file, string socket, string cwd)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = cwd, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(socket);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        // Drain stderr so a chatty daemon can never block on a full pipe.
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return process;
    }

    private static double ReadRssAnon(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                return double.Parse(line["RssAnon:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException($"/proc/{pid}/status has no RssAnon line");
    }

    /// <summary>Theil–Sen slope in bytes per minute of the samples at or after <paramref name="warmupSeconds"/>.</summary>
    public static double SlopePerMinute(IReadOnlyList<(double Seconds, double Bytes)> samples, double warmupSeconds)
    {
        var window = samples.Where(s => s.Seconds >= warmupSeconds).ToArray();
        var slopes = new List<double>();
        for (var i = 0; i < window.Length; i++)
            for (var j = i + 1; j < window.Length; j++)
                if (window[j].Seconds > window[i].Seconds)
                    slopes.Add((window[j].Bytes - window[i].Bytes) / (window[j].Seconds - window[i].Seconds));
        slopes.Sort();
        return slopes[slopes.Count / 2] * 60;
    }

    /// <summary>Median of the last third of the samples: the level the series settles at.</summary>
    public static double Plateau(IReadOnlyList<(double Seconds, double Bytes)> samples)
    {
        var tail = samples.Skip(samples.Count * 2 / 3).Select(s => s.Bytes).Order().ToArray();
        return tail[tail.Length / 2];
    }
}
