using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Bisector.Recipes;
using Bisector.Sampling;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bisector.Workers;

/// <summary>
/// Runs trials on a Linux host over SSH (key authentication only, host key checked against known_hosts). The artifact
/// directory is deployed once per content hash to <c>ROOT/artifacts/HASH</c>, and so is the trial agent (a
/// native, ahead-of-time compiled program, so the host needs no .NET); each trial runs <c>bisector-agent trial-agent REQUEST</c>,
/// which runs the same trial loop as <see cref="LocalWorker"/> there and streams samples back on its output, so
/// sampling costs no SSH round trips. A lost connection ends the trial as <see cref="TrialOutcome.WorkerFailed"/>, so the
/// scheduler retries it elsewhere; the agent still cleans up (SIGHUP, or its output failing, stops it).
/// </summary>
public sealed class SshWorker(SshTarget target) : IWorker
{
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private SshClient? _ssh;
    private SftpClient? _sftp;
    private string? _root;
    private string? _agentPath;
    private string _remoteName = target.Host;

    public string Name => Target.Name;

    public WorkerKind Kind => WorkerKind.Ssh;

    public SshTarget Target { get; } = target;

    /// <summary>Artifact uploads so far, and the bytes they sent (a deploy of an artifact already on the host sends none).</summary>
    public int Uploads { get; private set; }

    public long UploadedBytes { get; private set; }

    /// <summary>Bytes sent to deploy the trial agent (0 when the host already had this build).</summary>
    public long AgentUploadedBytes { get; private set; }

    /// <summary>How long a trial may overrun its expected duration before the connection is declared dead.</summary>
    public TimeSpan TrialGrace { get; init; } = TimeSpan.FromSeconds(60);

    public async Task<WorkerCheck> CheckAsync(CancellationToken ct = default)
    {
        var findings = new List<string>();
        try
        {
            await EnsureConnectedAsync(ct);
            findings.Add($"reachable as {Target.User} with key {Target.IdentityFile}; host key matches {Target.KnownHostsFile}");
            var check = """
                for t in sh setsid unshare nsenter mount; do command -v "$t" >/dev/null 2>&1 && echo "tool $t: $(command -v "$t")" || echo "FAIL tool $t: not found on PATH; install util-linux"; done
                if [ -e /sys/fs/cgroup/cgroup.controllers ]; then p=/sys/fs/cgroup/bisector; else p=/sys/fs/cgroup/memory/bisector; fi
                if mkdir -p "$p" 2>/dev/null && mkdir "$p/$1" 2>/dev/null && rmdir "$p/$1"; then echo "cgroup $p writable"; else echo "FAIL cgroup $p: not writable; log in as root or delegate a memory cgroup"; fi
                free=$(df -Pk "$2" | { read -r _; read -r _ _ _ kib _; echo $((kib / 1024)); })
                if [ "${free:-0}" -ge 256 ]; then echo "disk: $free MiB free in $2"; else echo "FAIL disk: ${free:-0} MiB free in $2; free space or choose another root"; fi
                """;
            var result = await ExecAsync($"sh -c {ShellQuote.Quote(check)} bisector-check {ShellQuote.Quote($"check-{Guid.NewGuid():N}")} {ShellQuote.Quote(_root!)}", ct);
            findings.AddRange(result.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            var version = (await ExecAsync($"{ShellQuote.Quote(_agentPath!)} --version 2>&1 || echo FAIL", ct)).Trim();
            findings.Add(version.EndsWith("FAIL", StringComparison.Ordinal)
                ? $"FAIL trial agent {_agentPath} does not run here ({version}); the host must run x86-64 Linux binaries"
                : $"trial agent: {_agentPath} (bisector {version})");
        }
        catch (WorkerException e)
        {
            findings.Add(e.Message);
            return new WorkerCheck(Name, false, findings);
        }

        return new WorkerCheck(Name, !findings.Any(f => f.StartsWith("FAIL", StringComparison.Ordinal)), findings);
    }

    public async Task<TrialResult> RunTrialAsync(TrialSpec spec, CancellationToken ct = default)
    {
        var startedAt = DateTimeOffset.Now;
        var samples = new List<Sample>();
        try
        {
            await EnsureConnectedAsync(ct);
            var artifact = await DeployAsync(spec.Artifact.Directory, spec.Artifact.ContentHash, ct);
            var (outcome, reason) = await RunRemoteAsync(spec, artifact, samples, ct);
            return new TrialResult(outcome, reason, samples, startedAt, DateTimeOffset.Now, Host);
        }
        catch (WorkerException e)
        {
            return new TrialResult(TrialOutcome.WorkerFailed, e.Message, samples, startedAt, DateTimeOffset.Now, Host);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new TrialResult(TrialOutcome.Cancelled, "cancelled before the trial started", samples, startedAt, DateTimeOffset.Now, Host);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _connectGate.WaitAsync();
        try
        {
            Disconnect();
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private string Host => $"{_remoteName}/{Name}";

    private async Task<(TrialOutcome, string?)> RunRemoteAsync(TrialSpec spec, string artifact, List<Sample> samples, CancellationToken ct)
    {
        var recipe = spec.Recipe;
        var request = $"{_root}/runs/{TrialLoop.SafeName(spec.TrialKey)}-{Guid.NewGuid():N}.json";
        var remoteSpec = spec with { Artifact = spec.Artifact with { Directory = artifact } };
        await SftpAsync(sftp =>
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(TrialAgent.Serialize(new TrialRequest(Name, remoteSpec, _root))));
            sftp.UploadFile(stream, request, canOverride: true);
        }, "cannot upload the trial request " + request, ct);

        var wanted = recipe.Sampling.Metrics.Count == 0 ? null : new HashSet<string>(recipe.Sampling.Metrics) { recipe.Decide.Metric };
        TrialResult? end = null;
        int? agentPid = null;
        using var cmd = _ssh!.CreateCommand($"exec {ShellQuote.Join([_agentPath!, "trial-agent", request])}");
        var deadline = (recipe.Run.Ready?.Timeout ?? TimeSpan.FromSeconds(30)) + recipe.Sampling.Warmup + recipe.Sampling.Window + recipe.Run.StopTimeout + TrialGrace;
        using var overrun = new CancellationTokenSource(deadline);
        Task execution;
        try
        {
            execution = cmd.ExecuteAsync(overrun.Token);
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            throw Lost(e);
        }

        // Cancellation asks the agent to stop (it cleans up and still prints its result); the read goes on.
        void Stop()
        {
            if (agentPid is { } pid)
            {
                TryExec($"kill -TERM {pid.ToString(CultureInfo.InvariantCulture)}");
            }
        }

        await using var onCancel = ct.Register(() => Task.Run(Stop, CancellationToken.None));
        try
        {
            // SSH.NET's output stream blocks its reader; a dedicated thread keeps that off the thread pool, where it
            // would starve other workers' sampling loops (a local worker's ticks then arrive seconds late).
            using var reader = new StreamReader(cmd.OutputStream, Encoding.UTF8);
            var reading = Task.Factory.StartNew(() =>
            {
                while (reader.ReadLine() is { } line)
                {
                    var (pid, result) = TrialAgent.ReadLine(line, samples, wanted);
                    if (pid is not null)
                    {
                        agentPid = pid;
                        if (ct.IsCancellationRequested)
                        {
                            Stop();
                        }
                    }

                    end = result ?? end;
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            await reading.WaitAsync(overrun.Token);
            await execution.WaitAsync(overrun.Token);
        }
        catch (Exception e) when (IsConnectionFailure(e) || (e is OperationCanceledException && overrun.IsCancellationRequested))
        {
            Disconnect();
            throw Lost(e);
        }

        if (end is null)
        {
            Disconnect();
            throw new WorkerException(Name, $"the trial agent ended without its result (exit status {cmd.ExitStatus}); stderr: {Tail(cmd.Error)}",
                "check the host is up and runs x86-64 Linux binaries ('bisector workers check')");
        }

        return end.Outcome == TrialOutcome.WorkerFailed
            ? throw new WorkerException(Name, end.Reason ?? "the trial agent failed", "check the host with 'bisector workers check'")
            : (end.Outcome, end.Reason);
    }

    /// <summary>Uploads the artifact directory unless <c>ROOT/artifacts/HASH/.bisector-complete</c> already exists;
    /// files go to a temporary directory that is renamed into place, so a broken upload is never mistaken for a deploy.</summary>
    internal async Task<string> DeployAsync(string localDirectory, string contentHash, CancellationToken ct = default, bool artifact = true)
    {
        var name = TrialLoop.SafeName(contentHash);
        var target = $"{_root}/artifacts/{name}";
        var marker = $"{target}/.bisector-complete";
        await SftpAsync(sftp =>
        {
            if (sftp.Exists(marker))
            {
                return;
            }

            var temporary = $"{_root}/artifacts/.tmp-{Guid.NewGuid():N}";
            sftp.CreateDirectory(temporary);
            var bytes = 0L;
            foreach (var path in Directory.EnumerateFileSystemEntries(localDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var remote = $"{temporary}/{Path.GetRelativePath(localDirectory, path).Replace('\\', '/')}";
                if (Directory.Exists(path))
                {
                    sftp.CreateDirectory(remote);
                    continue;
                }

                using (var stream = File.OpenRead(path))
                {
                    sftp.UploadFile(stream, remote, canOverride: true);
                    bytes += stream.Length;
                }

                // SSH.NET takes the mode as octal digits written in decimal (755), so the bits are re-spelled.
                var mode = OperatingSystem.IsWindows() ? 0x1ed : (int)File.GetUnixFileMode(path) & 0x1ff;
                sftp.ChangePermissions(remote, short.Parse(Convert.ToString(mode, 8), CultureInfo.InvariantCulture));
            }

            using (var empty = new MemoryStream())
            {
                sftp.UploadFile(empty, $"{temporary}/.bisector-complete");
            }

            if (sftp.Exists(marker))
            {
                // Another worker on the same host deployed it meanwhile.
                RemoveTree(sftp, temporary);
                return;
            }

            if (sftp.Exists(target))
            {
                RemoveTree(sftp, target);
            }

            sftp.RenameFile(temporary, target);
            if (artifact)
            {
                Uploads++;
                UploadedBytes += bytes;
            }
            else
            {
                AgentUploadedBytes += bytes;
            }
        }, $"cannot deploy the artifact to {target}", ct);
        return target;
    }

    private async Task EnsureConnectedAsync(CancellationToken ct)
    {
        await _connectGate.WaitAsync(ct);
        try
        {
            if (_ssh is { IsConnected: true } && _sftp is { IsConnected: true })
            {
                return;
            }

            Disconnect();
            if (!File.Exists(Target.IdentityFile))
            {
                throw new WorkerException(Name, $"identity file {Target.IdentityFile} does not exist",
                    "create a key with ssh-keygen and install it on the host, or pass ?identity=FILE");
            }

            PrivateKeyFile key;
            try
            {
                key = new PrivateKeyFile(Target.IdentityFile);
            }
            catch (Exception e) when (e is SshException or InvalidOperationException or ArgumentException or IOException)
            {
                throw new WorkerException(Name, $"cannot read identity file {Target.IdentityFile}: {e.Message}",
                    "use an unencrypted OpenSSH private key (ssh-agent and passphrases are not supported)", e);
            }

            string? hostKeyProblem = null;
            void Verify(object? sender, HostKeyEventArgs e)
            {
                var status = KnownHosts.Check(Target.KnownHostsFile, Target.Host, Target.Port, e.HostKeyName, e.HostKey);
                if (status == HostKeyStatus.Unknown && Target.TrustOnFirstUse)
                {
                    KnownHosts.Append(Target.KnownHostsFile, Target.Host, Target.Port, e.HostKeyName, e.HostKey);
                    status = HostKeyStatus.Known;
                }

                e.CanTrust = status == HostKeyStatus.Known;
                hostKeyProblem = status switch
                {
                    HostKeyStatus.Unknown => $"host key {e.HostKeyName} SHA256:{e.FingerPrintSHA256} is not in {Target.KnownHostsFile}",
                    HostKeyStatus.Changed => $"host key {e.HostKeyName} SHA256:{e.FingerPrintSHA256} differs from the one in {Target.KnownHostsFile} (possible man-in-the-middle)",
                    _ => null,
                };
            }

            // Key authentication only: no password or keyboard-interactive method is ever offered.
            var info = new ConnectionInfo(Target.Host, Target.Port, Target.User, new PrivateKeyAuthenticationMethod(Target.User, key))
            {
                Timeout = TimeSpan.FromSeconds(10),
            };
            var ssh = new SshClient(info) { KeepAliveInterval = TimeSpan.FromSeconds(5) };
            var sftp = new SftpClient(info) { KeepAliveInterval = TimeSpan.FromSeconds(5) };
            ssh.HostKeyReceived += Verify;
            sftp.HostKeyReceived += Verify;
            try
            {
                await ssh.ConnectAsync(ct);
                await sftp.ConnectAsync(ct);
            }
            catch (Exception e) when (hostKeyProblem is not null && e is SshConnectionException)
            {
                ssh.Dispose();
                sftp.Dispose();
                throw new WorkerException(Name, hostKeyProblem, Target.TrustOnFirstUse
                    ? "remove the stale line from known_hosts if the host was really reinstalled"
                    : "add the key with 'ssh-keyscan -p PORT HOST >> known_hosts' after checking it, or opt in with ?tofu=1", e);
            }
            catch (SshAuthenticationException e)
            {
                ssh.Dispose();
                sftp.Dispose();
                throw new WorkerException(Name, $"the host refused key {Target.IdentityFile} for user {Target.User}: {e.Message}",
                    "add the public key to the user's ~/.ssh/authorized_keys on the host", e);
            }
            catch (Exception e) when (IsConnectionFailure(e))
            {
                ssh.Dispose();
                sftp.Dispose();
                throw new WorkerException(Name, $"cannot reach {Target.Host}:{Target.Port}: {e.Message}", "check the host is up, sshd runs and the port is right", e);
            }

            _ssh = ssh;
            _sftp = sftp;
            _root = Target.RemoteRoot ?? $"{sftp.WorkingDirectory.TrimEnd('/')}/.cache/bisector";
            _remoteName = (await ExecAsync("uname -n", ct)).Trim() is { Length: > 0 } n ? n : Target.Host;
            await SftpAsync(s =>
            {
                CreateDirectories(s, $"{_root}/artifacts");
                CreateDirectories(s, $"{_root}/runs");
            }, $"cannot create {_root}/artifacts and {_root}/runs", ct, connected: true);
            var agent = await TrialAgent.EnsurePublishedAsync(ct: ct);
            _agentPath = $"{await DeployAsync(agent.Directory, agent.ContentHash, ct, artifact: false)}/{TrialAgent.ExecutableName}";
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private async Task<string> ExecAsync(string command, CancellationToken ct)
    {
        try
        {
            using var cmd = _ssh!.CreateCommand(command);
            await cmd.ExecuteAsync(ct);
            return cmd.Result;
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            Disconnect();
            throw Lost(e);
        }
    }

    private void TryExec(string command)
    {
        try
        {
            using var cmd = _ssh?.CreateCommand(command);
            cmd?.Execute();
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            // The script ends on its own at the end of the window; nothing else to do.
        }
    }

    private async Task SftpAsync(Action<SftpClient> action, string what, CancellationToken ct, bool connected = false)
    {
        try
        {
            // SSH.NET's synchronous SFTP calls block; keep them off the scheduler's threads.
            await Task.Run(() => action(_sftp!), ct);
        }
        catch (Exception e) when (e is SftpPermissionDeniedException or SftpPathNotFoundException)
        {
            throw new WorkerException(Name, $"{what}: {e.Message}", "check the remote root is writable (?root=DIR)", e);
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            if (!connected)
            {
                Disconnect();
            }

            throw new WorkerException(Name, $"{what}: {e.Message}", "check the host is up and has free disk space", e);
        }
    }

    private static void CreateDirectories(SftpClient sftp, string directory)
    {
        var path = "";
        foreach (var part in directory.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            path += "/" + part;
            if (!sftp.Exists(path))
            {
                sftp.CreateDirectory(path);
            }
        }
    }

    private static void RemoveTree(SftpClient sftp, string path)
    {
        foreach (var entry in sftp.ListDirectory(path))
        {
            if (entry.Name is "." or "..")
            {
                continue;
            }

            if (entry.IsDirectory)
            {
                RemoveTree(sftp, entry.FullName);
            }
            else
            {
                sftp.DeleteFile(entry.FullName);
            }
        }

        sftp.DeleteDirectory(path);
    }

    private void Disconnect()
    {
        _ssh?.Dispose();
        _sftp?.Dispose();
        _ssh = null;
        _sftp = null;
    }

    private static bool IsConnectionFailure(Exception e) =>
        e is SshException or SocketException or IOException or ObjectDisposedException or ProxyException or TimeoutException
        || (e is InvalidOperationException && e.Message.Contains("not connected", StringComparison.OrdinalIgnoreCase));

    private WorkerException Lost(Exception e) =>
        new(Name, $"connection to {Target.Host}:{Target.Port} lost: {e.Message}", "check the host is up; the trial is retried on another worker", e);

    private static string Tail(string text) => text.Length > 2000 ? text[^2000..] : text;

}
