using System.Diagnostics;
using System.Globalization;
using Bisector.Workers;

namespace Bisector.Tests.Workers;

/// <summary>A fact that needs root, ip, nsenter and sshd (openssh-server); skipped with the reason when one is missing.</summary>
public sealed class SshFactAttribute : FactAttribute
{
    public SshFactAttribute()
    {
        Skip = SshHosts.Missing();
    }
}

/// <summary>The theory form of <see cref="SshFactAttribute"/>.</summary>
public sealed class SshTheoryAttribute : TheoryAttribute
{
    public SshTheoryAttribute()
    {
        Skip = SshHosts.Missing();
    }
}

/// <summary>
/// Real SSH hosts on this machine: each is a network namespace <c>bisector-UNIQUE-hN</c> joined to the host by a veth
/// pair with a private /30 (10.R.N.0/30, R random) and running its own <c>sshd -D</c> (key-only, no PAM, own host key,
/// port and PID file). The namespaces share the file system, so each host gets its own remote root under
/// <see cref="Root"/>. Dispose stops every sshd by PID, deletes the namespaces and veths by name, removes the files.
/// </summary>
public sealed class SshHosts : IAsyncDisposable
{
    /// <summary>Why SSH tests cannot run here, or null when they can.</summary>
    internal static string? Missing() =>
        Environment.UserName != "root" ? "SSH worker tests create network namespaces and cgroups, which needs root"
        : !File.Exists(Sshd) ? $"{Sshd} is not installed (apt-get install -y openssh-server)"
        : Posix.Which("ip") is null || Posix.Which("nsenter") is null || Posix.Which("ssh-keygen") is null
            ? "ip, nsenter or ssh-keygen is missing (apt-get install -y iproute2 util-linux openssh-client)"
            : null;

    public const string Sshd = "/usr/sbin/sshd";

    // Second octets of the 10.R.0.0/16 blocks held by live fixtures of this process. Two fixtures on one block would
    // put the same address on two veths, and the kernel routes to whichever came first: a test then reaches the other
    // fixture's sshd (seen on CI as "host key ... differs").
    private static readonly HashSet<int> SubnetsInUse = [];
    private static readonly SemaphoreSlim SubnetLock = new(1, 1);

    private readonly List<Host> _hosts = [];
    private readonly string _unique = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..3]);
    private int _subnet;

    private SshHosts()
    {
        Root = Directory.CreateTempSubdirectory("bisector-ssh-").FullName;
        Identity = Path.Combine(Root, "id_ed25519");
        KnownHosts = Path.Combine(Root, "known_hosts");
    }

    public string Root { get; }

    public string Identity { get; }

    public string KnownHosts { get; }

    public IReadOnlyList<Host> Hosts => _hosts;

    public sealed record Host(string Namespace, string Address, int Port, string Dir, string RemoteRoot, Process Sshd, string HostPublicKey)
    {
        public int SshdPid { get; } = Sshd.Id;
    }

    /// <summary>Starts <paramref name="count"/> hosts; their keys go to <see cref="KnownHosts"/> unless
    /// <paramref name="trustKeys"/> is false.</summary>
    public static async Task<SshHosts> StartAsync(int count, bool trustKeys = true)
    {
        var hosts = new SshHosts();
        try
        {
            await RunAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hosts.Identity);
            hosts._subnet = await TakeSubnetAsync();
            for (var i = 1; i <= count; i++)
            {
                hosts._hosts.Add(await hosts.StartHostAsync(i, hosts._subnet, trustKeys));
            }

            return hosts;
        }
        catch
        {
            await hosts.DisposeAsync();
            throw;
        }
    }

    /// <summary>A 10.R.0.0/16 block that no live fixture of this process holds and no interface of this machine uses.</summary>
    internal static async Task<int> TakeSubnetAsync()
    {
        await SubnetLock.WaitAsync();
        try
        {
            var addresses = await Output("ip", "-o", "-4", "addr", "show");
            var free = Enumerable.Range(64, 186)
                .Where(r => !SubnetsInUse.Contains(r) && !addresses.Contains(string.Create(CultureInfo.InvariantCulture, $" 10.{r}."), StringComparison.Ordinal))
                .ToList();
            if (free.Count == 0)
            {
                throw new InvalidOperationException("no free 10.R.0.0/16 block for SSH test hosts (R in 64..249)");
            }

            var subnet = free[Random.Shared.Next(free.Count)];
            SubnetsInUse.Add(subnet);
            return subnet;
        }
        finally
        {
            SubnetLock.Release();
        }
    }

    /// <summary>The worker spec for host <paramref name="index"/> (0-based).</summary>
    public string Spec(int index, bool tofu = false)
    {
        var h = _hosts[index];
        return string.Create(CultureInfo.InvariantCulture,
            $"ssh://root@{h.Address}:{h.Port}?identity={Uri.EscapeDataString(Identity)}&known-hosts={Uri.EscapeDataString(KnownHosts)}&root={Uri.EscapeDataString(h.RemoteRoot)}{(tofu ? "&tofu=1" : "")}");
    }

    /// <summary>Kills host <paramref name="index"/>'s sshd and the per-connection sshd processes it forked, by PID, so open
    /// sessions drop and new connections are refused — a host going away.</summary>
    public void Kill(int index)
    {
        var pid = _hosts[index].SshdPid;
        var children = Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var p) ? p : 0)
            .Where(p => p > 0 && Posix.ReadParent(p) == pid)
            .ToList();
        Posix.Kill(pid, Posix.SigKill);
        foreach (var child in children)
        {
            if (Posix.ReadComm(child) == "sshd")
            {
                Posix.Kill(child, Posix.SigKill);
            }
        }
    }

    private async Task<Host> StartHostAsync(int index, int subnet, bool trustKeys)
    {
        var ns = $"bisector-{_unique}-h{index}";
        var (outer, inner) = ($"bs{_unique}h{index}a", $"bs{_unique}h{index}b");
        var prefix = string.Create(CultureInfo.InvariantCulture, $"10.{subnet}.{index}");
        var dir = Directory.CreateDirectory(Path.Combine(Root, $"h{index}")).FullName;
        var remoteRoot = Directory.CreateDirectory(Path.Combine(dir, "remote")).FullName;
        await RunAsync("ip", "netns", "add", ns);
        await RunAsync("ip", "link", "add", outer, "type", "veth", "peer", "name", inner);
        await RunAsync("ip", "link", "set", inner, "netns", ns);
        await RunAsync("ip", "addr", "add", $"{prefix}.1/30", "dev", outer);
        await RunAsync("ip", "link", "set", outer, "up");
        await RunAsync("ip", "-n", ns, "addr", "add", $"{prefix}.2/30", "dev", inner);
        await RunAsync("ip", "-n", ns, "link", "set", inner, "up");
        await RunAsync("ip", "-n", ns, "link", "set", "lo", "up");

        var hostKey = Path.Combine(dir, "host_ed25519");
        await RunAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey);
        File.Copy(Identity + ".pub", Path.Combine(dir, "authorized_keys"));
        var port = 2200 + index;
        await File.WriteAllTextAsync(Path.Combine(dir, "sshd_config"), $"""
            Port {port}
            ListenAddress {prefix}.2
            HostKey {hostKey}
            PidFile {dir}/sshd.pid
            AuthorizedKeysFile {dir}/authorized_keys
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            PermitRootLogin prohibit-password
            StrictModes no
            Subsystem sftp internal-sftp

            """);
        // sshd refuses to start without its privilege separation directory (normally made by the service unit).
        Directory.CreateDirectory("/run/sshd");
        var info = new ProcessStartInfo("nsenter") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { $"--net=/run/netns/{ns}", Sshd, "-D", "-f", Path.Combine(dir, "sshd_config"), "-E", Path.Combine(dir, "sshd.log") })
        {
            info.ArgumentList.Add(arg);
        }

        var sshd = Process.Start(info)!;
        var publicKey = (await File.ReadAllTextAsync(hostKey + ".pub")).Split(' ');
        if (trustKeys)
        {
            await File.AppendAllTextAsync(KnownHosts, $"[{prefix}.2]:{port} {publicKey[0]} {publicKey[1]}\n");
        }

        var host = new Host(ns, $"{prefix}.2", port, dir, remoteRoot, sshd, $"{publicKey[0]} {publicKey[1]}");
        var log = Path.Combine(dir, "sshd.log");
        for (var i = 0; i < 100 && !(File.Exists(log) && (await File.ReadAllTextAsync(log)).Contains("listening", StringComparison.Ordinal)); i++)
        {
            if (sshd.HasExited)
            {
                throw new InvalidOperationException($"sshd in {ns} exited: {(File.Exists(log) ? await File.ReadAllTextAsync(log) : "")}");
            }

            await Task.Delay(50);
        }

        return host;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            if (!host.Sshd.HasExited)
            {
                Kill(_hosts.IndexOf(host));
            }

            await host.Sshd.WaitForExitAsync();
            host.Sshd.Dispose();
        }

        for (var i = 1; i <= _hosts.Count + 1; i++)
        {
            // Deleting the namespace destroys the veth end inside it and so its peer.
            await RunAsync(true, "ip", "netns", "del", $"bisector-{_unique}-h{i}");
            await RunAsync(true, "ip", "link", "del", $"bs{_unique}h{i}a");
        }

        Directory.Delete(Root, recursive: true);
        if (_subnet != 0)
        {
            await ReturnSubnetAsync(_subnet);
        }
    }

    /// <summary>Gives back a block from <see cref="TakeSubnetAsync"/>.</summary>
    internal static async Task ReturnSubnetAsync(int subnet)
    {
        await SubnetLock.WaitAsync();
        SubnetsInUse.Remove(subnet);
        SubnetLock.Release();
    }

    /// <summary>Namespaces and links this fixture created that still exist (empty after dispose).</summary>
    public static async Task<string> LeftoversAsync(string unique) =>
        (await Output("ip", "netns", "list")) + (await Output("ip", "-o", "link")) is var all
            ? string.Join('\n', all.Split('\n').Where(l => l.Contains(unique, StringComparison.Ordinal)))
            : "";

    public string Unique => _unique;

    private static Task RunAsync(params string[] args) => RunAsync(false, args);

    private static async Task RunAsync(bool tolerant, params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args[1..])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0 && !tolerant)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} failed ({process.ExitCode}): {stderr}");
        }
    }

    private static async Task<string> Output(params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true };
        foreach (var arg in args[1..])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var text = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return text;
    }
}
