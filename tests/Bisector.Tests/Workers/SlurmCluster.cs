using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Bisector.Workers;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Tests.Workers;

/// <summary>Skips unless Slurm's daemons and client commands and munge are installed (apt: slurm-wlm munge).</summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        var missing = new[] { "munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo" }
            .FirstOrDefault(tool => !Environment.GetEnvironmentVariable("PATH")!.Split(':').Append("/usr/sbin").Any(d => File.Exists(Path.Combine(d, tool))));
        if (missing is not null)
        {
            Skip = $"{missing} is not installed (apt-get install -y slurm-wlm munge); the slurm tests need a real cluster";
        }
        else if (Environment.UserName != "root")
        {
            Skip = "the slurm fixture runs slurmd as SlurmUser=root (it starts jobs as root, which make cgroups); run the tests as root";
        }
    }
}

/// <summary>
/// A one-node Slurm cluster on localhost, private to one test: its own munge key and socket, free ports, state and spool
/// directories, and a node name of its own (so the cgroups task/cgroup creates, <c>slurm_NODE</c>, are ours alone).
/// Memory limits go through Slurm's cgroup plugin (task/cgroup on cgroup v1; it works here without systemd).
/// Daemons run in the foreground as our children and are stopped by PID; jobs are cancelled first.
/// </summary>
internal sealed class SlurmCluster : IAsyncDisposable
{
    private readonly List<(string Name, Process Process)> _daemons = [];
    private readonly StringWriter _log = new();

    private SlurmCluster(string root, string node)
    {
        Root = root;
        Node = node;
    }

    /// <summary>Short on purpose: munge's socket path must fit 107 bytes.</summary>
    public string Root { get; }

    public string Node { get; }

    public string Conf => Path.Combine(Root, "slurm.conf");

    public string Partition => "bisect";

    public static async Task<SlurmCluster> StartAsync(CancellationToken ct)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var cluster = new SlurmCluster(Path.Combine("/tmp", $"bsl-{id}"), $"bsl{id}");
        try
        {
            await cluster.StartCoreAsync(ct);
            return cluster;
        }
        catch
        {
            var log = cluster.LogText;
            await cluster.DisposeAsync();
            throw new InvalidOperationException($"the slurm fixture did not come up:\n{log}");
        }
    }

    private async Task StartCoreAsync(CancellationToken ct)
    {
        var munge = Path.Combine(Root, "munge");
        foreach (var dir in new[] { munge, Path.Combine(Root, "state"), Path.Combine(Root, "spool"), Path.Combine(Root, "log") })
        {
            Directory.CreateDirectory(dir);
        }

        var key = Path.Combine(munge, "munge.key");
        await File.WriteAllBytesAsync(key, RandomNumberGenerator.GetBytes(1024), ct);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite); // munged refuses a key others can read
        }
        var (ctldPort, slurmdPort) = (FreePort(), FreePort());
        var cgroupV1 = Directory.Exists("/sys/fs/cgroup/memory");
        var conf = string.Join('\n',
            $"ClusterName=bsl{Node[3..]}",
            "SlurmctldHost=localhost",
            string.Create(CultureInfo.InvariantCulture, $"SlurmctldPort={ctldPort}"),
            string.Create(CultureInfo.InvariantCulture, $"SlurmdPort={slurmdPort}"),
            "AuthType=auth/munge",
            $"AuthInfo=socket={Path.Combine(munge, "munge.sock")}",
            "CredType=cred/munge",
            $"StateSaveLocation={Root}/state",
            $"SlurmdSpoolDir={Root}/spool",
            $"SlurmctldPidFile={Root}/slurmctld.pid",
            $"SlurmdPidFile={Root}/slurmd.pid",
            $"SlurmctldLogFile={Root}/log/slurmctld.log",
            $"SlurmdLogFile={Root}/log/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            // The cgroup plugin enforces --mem; without the v1 memory hierarchy the job limit is the worker's own cgroup.
            cgroupV1 ? "TaskPlugin=task/cgroup" : "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SlurmUser=root",
            "MailProg=/bin/true",
            "JobAcctGatherType=jobacct_gather/linux",
            "JobAcctGatherFrequency=1",
            "MinJobAge=600",
            $"NodeName={Node} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=6000 State=UNKNOWN",
            $"PartitionName={Partition} Nodes={Node} Default=YES MaxTime=INFINITE State=UP",
            "");
        await File.WriteAllTextAsync(Conf, conf, ct);
        await File.WriteAllTextAsync(Path.Combine(Root, "cgroup.conf"),
            "CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\nCgroupAutomount=no\nConstrainRAMSpace=yes\nConstrainSwapSpace=yes\n", ct);

        Start("munged", "-F", "-f", $"--socket={Path.Combine(munge, "munge.sock")}", $"--key-file={key}",
            $"--pid-file={Path.Combine(munge, "munged.pid")}", $"--log-file={Path.Combine(munge, "munged.log")}", $"--seed-file={Path.Combine(munge, "seed")}");
        await WaitAsync(() => File.Exists(Path.Combine(munge, "munge.sock")), "munged's socket", ct);
        Start("slurmctld", "-D", "-f", Conf);
        Start("slurmd", "-D", "-N", Node, "-f", Conf);
        await WaitAsync(async () => (await Client("sinfo", "-h", "-o", "%t")).StandardOutput.Trim() == "idle", "the node to be idle", ct);
    }

    private void Start(string tool, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["SLURM_CONF"] = Conf;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Log(tool, e.Data);
        process.ErrorDataReceived += (_, e) => Log(tool, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _daemons.Add((tool, process));
    }

    public Task<BufferedCommandResult> Client(string tool, params string[] args) =>
        CliWrap.Cli.Wrap(tool).WithArguments(args).WithValidation(CommandResultValidation.None)
            .WithEnvironmentVariables(e => e.Set("SLURM_CONF", Conf)).ExecuteBufferedAsync();

    private Task WaitAsync(Func<bool> ready, string what, CancellationToken ct) => WaitAsync(() => Task.FromResult(ready()), what, ct);

    private async Task WaitAsync(Func<Task<bool>> ready, string what, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (!await ready())
        {
            if (_daemons.FirstOrDefault(d => d.Process.HasExited) is { Process: not null } dead)
            {
                throw new InvalidOperationException($"{dead.Name} exited with code {dead.Process.ExitCode} while waiting for {what}");
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"waited 60 s for {what}");
            }

            await Task.Delay(200, ct);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public string LogText
    {
        get
        {
            lock (_log)
            {
                var files = Directory.Exists(Path.Combine(Root, "log"))
                    ? Directory.GetFiles(Path.Combine(Root, "log")).Select(f => $"--- {f}\n{string.Join('\n', File.ReadLines(f).TakeLast(30))}")
                    : [];
                return _log + string.Join('\n', files);
            }
        }
    }

    private void Log(string tool, string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.WriteLine($"{tool}: {line}");
            }
        }
    }

    /// <summary>The cgroups task/cgroup made for this node (memory and the other v1 controllers), deepest first.</summary>
    public IReadOnlyList<string> LeftoverCgroups() =>
        Directory.Exists("/sys/fs/cgroup")
            ? Directory.GetDirectories("/sys/fs/cgroup")
                .Select(c => Path.Combine(c, $"slurm_{Node}"))
                .Where(Directory.Exists)
                .SelectMany(d => Directory.GetDirectories(d, "*", SearchOption.AllDirectories).Append(d))
                .OrderByDescending(d => d.Length)
                .ToList()
            : [];

    public async ValueTask DisposeAsync()
    {
        if (_daemons.Any(d => d.Name == "slurmctld" && !d.Process.HasExited))
        {
            // Jobs first, so no slurmstepd of ours outlives slurmd.
            await Client("scancel", "--partition", Partition);
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(30) && (await Client("squeue", "-h")).StandardOutput.Trim().Length > 0)
            {
                await Task.Delay(200);
            }
        }

        foreach (var (_, process) in Enumerable.Reverse(_daemons))
        {
            if (!process.HasExited)
            {
                Posix.Kill(process.Id, Posix.SigTerm);
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill();
                }
            }

            await process.WaitForExitAsync();
            process.Dispose();
        }

        foreach (var cgroup in LeftoverCgroups())
        {
            try
            {
                Directory.Delete(cgroup);
            }
            catch (IOException)
            {
                // Still populated: a process we did not start; leave it rather than kill it.
            }
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
