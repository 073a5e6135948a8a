using System.Diagnostics;
using Bisector.Workers;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Tests.Workers;

/// <summary>Skips unless dockerd (apt: docker.io) and a static busybox (apt: busybox-static) are installed.</summary>
public sealed class DockerdFactAttribute : FactAttribute
{
    public DockerdFactAttribute()
    {
        if ((ContainerEngine.Missing("dockerd", "docker.io") ?? ContainerEngine.Missing("busybox", "busybox-static")) is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>Skips unless podman (apt: podman) and a static busybox (apt: busybox-static) are installed.</summary>
public sealed class PodmanFactAttribute : FactAttribute
{
    public PodmanFactAttribute()
    {
        if ((ContainerEngine.Missing("podman", "podman") ?? ContainerEngine.Missing("busybox", "busybox-static")) is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>
/// A real container engine started for one test with private paths: its own socket, data and state directories, so it
/// never touches a system engine. Stopped by PID (SIGTERM, then SIGKILL) and its directory removed on dispose.
/// </summary>
internal sealed class ContainerEngine : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringWriter _log = new();

    private ContainerEngine(string root, Process process)
    {
        Root = root;
        _process = process;
    }

    /// <summary>Short on purpose: unix socket paths (the engine's and containerd's under it) hold only 107 bytes.</summary>
    public string Root { get; }

    public string Socket => Path.Combine(Root, "engine.sock");

    public string Endpoint => $"unix://{Socket}";

    public static string? Missing(string tool, string package) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(d => File.Exists(Path.Combine(d, tool))) ? null
        : $"{tool} is not installed (apt-get install -y {package}); the container tests need a real engine";

    public static Task<ContainerEngine> StartDockerdAsync(CancellationToken ct) =>
        StartAsync("dockerd", root =>
        [
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--data-root", Path.Combine(root, "data"),
            "--exec-root", Path.Combine(root, "x"), "-H", $"unix://{Path.Combine(root, "engine.sock")}",
            "--pidfile", Path.Combine(root, "dockerd.pid"),
        ], ct);

    public static Task<ContainerEngine> StartPodmanAsync(CancellationToken ct) =>
        // cgroupfs: there is no systemd here to manage cgroups; file events: no journald either.
        StartAsync("podman", root =>
        [
            "--root", Path.Combine(root, "root"), "--runroot", Path.Combine(root, "run"), "--tmpdir", Path.Combine(root, "tmp"),
            "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "system", "service", "--time=0", $"unix://{Path.Combine(root, "engine.sock")}",
        ], ct);

    private static async Task<ContainerEngine> StartAsync(string tool, Func<string, string[]> arguments, CancellationToken ct)
    {
        var root = Path.Combine("/tmp", $"bce-{Guid.NewGuid():N}"[..12]);
        Directory.CreateDirectory(root);
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in arguments(root))
        {
            info.ArgumentList.Add(arg);
        }

        var engine = new ContainerEngine(root, Process.Start(info)!);
        engine._process.OutputDataReceived += (_, e) => engine.Log(e.Data);
        engine._process.ErrorDataReceived += (_, e) => engine.Log(e.Data);
        engine._process.BeginOutputReadLine();
        engine._process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (!File.Exists(engine.Socket))
        {
            if (engine._process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                var log = engine.LogText;
                await engine.DisposeAsync();
                throw new InvalidOperationException($"{tool} did not open {engine.Socket}:\n{log}");
            }

            await Task.Delay(100, ct);
        }

        return engine;
    }

    public string LogText
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private void Log(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.WriteLine(line);
            }
        }
    }

    /// <summary>A rootfs tarball with a static busybox and its applets: the smallest base image that has <c>sh</c>.</summary>
    public static async Task<string> BusyboxRootfsAsync(string dir, CancellationToken ct)
    {
        var rootfs = Path.Combine(dir, "rootfs");
        Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
        foreach (var empty in new[] { "proc", "sys", "dev", "tmp", "run", "etc" })
        {
            Directory.CreateDirectory(Path.Combine(rootfs, empty));
        }

        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "sleep", "cat", "ls", "true", "false" })
        {
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        }

        var tar = Path.Combine(dir, "busybox-rootfs.tar");
        await CliWrap.Cli.Wrap("tar").WithArguments(["-C", rootfs, "-cf", tar, "."]).ExecuteBufferedAsync(ct);
        return tar;
    }

    public async ValueTask DisposeAsync()
    {
        // SIGTERM first: the engine then stops its containers and its own containerd; SIGKILL only if it hangs.
        foreach (var signal in new[] { Posix.SigTerm, Posix.SigKill })
        {
            if (_process.HasExited)
            {
                break;
            }

            Posix.Kill(_process.Id, signal);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _process.Dispose();

        // podman leaves its storage root's overlay mount behind when the service stops; unmount what lies under Root.
        var mounts = File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')[1])
            .Where(m => m.StartsWith(Root + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Length);
        foreach (var mount in mounts)
        {
            await CliWrap.Cli.Wrap("umount").WithArguments([mount]).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync();
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Overlay mounts of a stopped engine are gone; anything still mounted is left for the next boot's /tmp clean-up.
        }
    }
}
