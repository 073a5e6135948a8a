using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Bisector.Recipes;
using Bisector.Sampling;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bisector.Workers;

/// <summary>
/// Runs trials on a Linux host over SSH (key authentication only, host key checked against known_hosts). The artifact
/// directory is deployed once per content hash to <c>ROOT/artifacts/HASH</c>; each trial runs the uploaded
/// <c>trial.sh</c>, which starts the daemon and workload like <see cref="LocalWorker"/> does and streams samples back
/// on the command's output, so sampling costs no SSH round trips. A lost connection ends the trial as
/// <see cref="TrialOutcome.WorkerFailed"/>, so the scheduler retries it elsewhere; the remote script still cleans up.
/// </summary>
public sealed partial class SshWorker(SshTarget target) : IWorker
{
    private static readonly Lazy<string> Script = new(() =>
    {
        using var stream = typeof(SshWorker).Assembly.GetManifestResourceStream("Bisector.Workers.Remote.trial.sh")
            ?? throw new InvalidOperationException("the trial.sh resource is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private SshClient? _ssh;
    private SftpClient? _sftp;
    private string? _root;
    private string? _scriptPath;
    private string _remoteName = target.Host;

    public string Name => Target.Name;

    public WorkerKind Kind => WorkerKind.Ssh;

    public SshTarget Target { get; } = target;

    /// <summary>Artifact uploads so far, and the bytes they sent (a deploy of an artifact already on the host sends none).</summary>
    public int Uploads { get; private set; }

    public long UploadedBytes { get; private set; }

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
                for t in sh awk unshare nsenter mount mkfifo sleep; do command -v "$t" >/dev/null 2>&1 && echo "tool $t: $(command -v "$t")" || echo "FAIL tool $t: not found on PATH; install util-linux/mawk"; done
                if [ -e /sys/fs/cgroup/cgroup.controllers ]; then p=/sys/fs/cgroup/bisector; else p=/sys/fs/cgroup/memory/bisector; fi
                if mkdir -p "$p" 2>/dev/null && mkdir "$p/$1" 2>/dev/null && rmdir "$p/$1"; then echo "cgroup $p writable"; else echo "FAIL cgroup $p: not writable; log in as root or delegate a memory cgroup"; fi
                free=$(df -Pk "$2" | awk 'NR == 2 { print int($4 / 1024) }')
                if [ "${free:-0}" -ge 256 ]; then echo "disk: $free MiB free in $2"; else echo "FAIL disk: ${free:-0} MiB free in $2; free space or choose another root"; fi
                """;
            var result = await ExecAsync($"sh -c {ShellQuote.Quote(check)} bisector-check {ShellQuote.Quote($"check-{Guid.NewGuid():N}")} {ShellQuote.Quote(_root!)}", ct);
            findings.AddRange(result.Split('\n', StringSplitOptions.RemoveEmptyEntries));
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
        var isolation = recipe.Run.Isolation;
        var host = LocalWorker.Sanitize(Name.Replace("ssh://", "", StringComparison.Ordinal));
        var unique = $"{host}-{LocalWorker.Sanitize(spec.TrialKey)}-{Guid.NewGuid():N}";
        if (unique.Length > 100)
        {
            unique = $"{host}-{Guid.NewGuid():N}";
        }

        var runDir = $"{_root}/runs/{unique[^12..]}";
        foreach (var tmpfs in isolation.Tmpfs)
        {
            var mountPoint = tmpfs.TrimEnd('/') + "/";
            if ((runDir + "/").StartsWith(mountPoint, StringComparison.Ordinal))
            {
                throw new WorkerException(Name, $"remote root {_root} lies under {tmpfs}, which the recipe covers with a private tmpfs",
                    "choose another root (?root=/path) outside run.isolation.tmpfs");
            }
        }

        await SftpAsync(sftp =>
        {
            sftp.CreateDirectory(runDir);
            foreach (var (relative, content) in recipe.Run.Files)
            {
                var target = Path.GetFullPath(Path.Combine(runDir, relative));
                if (Path.IsPathRooted(relative) || !target.StartsWith(runDir + "/", StringComparison.Ordinal))
                {
                    throw new ConfigException(recipe.SourceFile, null, $"run.files: '{relative}' is not inside $BISECTOR_RUN_DIR", "use a relative path without '..'");
                }

                CreateDirectories(sftp, Path.GetDirectoryName(target)!);
                using var stream = new MemoryStream(Encoding.UTF8.GetBytes(content));
                sftp.UploadFile(stream, target, canOverride: true);
            }
        }, "cannot prepare the run directory " + runDir, ct);

        var (variables, ready, readyTimeout) = TrialVariables(spec, artifact, runDir, unique);
        var command = string.Join(' ', variables.Select(kv => $"{kv.Key}={ShellQuote.Quote(kv.Value)}")) + $" exec sh {ShellQuote.Quote(_scriptPath!)}";

        var wanted = recipe.Sampling.Metrics.Count == 0 ? null : new HashSet<string>(recipe.Sampling.Metrics) { recipe.Decide.Metric };
        var daemonOutput = new OutputTail();
        var workloadOutput = new OutputTail();
        var leftovers = new List<string>();
        string[]? end = null;
        int? scriptPid = null;
        var sawDaemon = false;
        TimeSpan? readyAt = null;

        using var cmd = _ssh!.CreateCommand(command);
        var deadline = readyTimeout + recipe.Sampling.Warmup + recipe.Sampling.Window + recipe.Run.StopTimeout + TrialGrace;
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

        // Cancellation asks the script to stop (it cleans up and still prints its end line); the read goes on.
        await using var onCancel = ct.Register(() =>
        {
            if (scriptPid is { } pid)
            {
                _ = Task.Run(() => TryExec($"kill -TERM {pid.ToString(CultureInfo.InvariantCulture)}"), CancellationToken.None);
            }
        });
        try
        {
            // SSH.NET's output stream blocks its reader; a dedicated thread keeps that off the thread pool, where it
            // would starve other workers' sampling loops (a local worker's ticks then arrive seconds late).
            using var reader = new StreamReader(cmd.OutputStream, Encoding.UTF8);
            var reading = Task.Factory.StartNew(() =>
            {
                while (reader.ReadLine() is { } line)
                {
                    var fields = line.Split(' ', 5);
                    switch (fields[0])
                    {
                        case "s" when fields.Length == 4
                            && double.TryParse(fields[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
                            && double.TryParse(fields[3], NumberStyles.Float, CultureInfo.InvariantCulture, out var value):
                            if (wanted is null || wanted.Contains(fields[2]))
                            {
                                samples.Add(new Sample(seconds, fields[2], value));
                            }

                            break;
                        case "pid" when fields.Length == 2 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid):
                            scriptPid = pid;
                            if (ct.IsCancellationRequested)
                            {
                                TryExec($"kill -TERM {pid.ToString(CultureInfo.InvariantCulture)}");
                            }

                            break;
                        case "d":
                            sawDaemon = true;
                            break;
                        case "ready" when fields.Length == 2 && long.TryParse(fields[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var cs):
                            readyAt = TimeSpan.FromMilliseconds(cs * 10);
                            break;
                        case "o":
                            daemonOutput.Add(line.Length > 2 ? line[2..] : "");
                            break;
                        case "w":
                            workloadOutput.Add(line.Length > 2 ? line[2..] : "");
                            break;
                        case "leftover":
                            leftovers.Add(line["leftover ".Length..]);
                            break;
                        case "end":
                            end = line.Split(' ');
                            break;
                    }
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

        if (end is not { Length: 6 })
        {
            Disconnect();
            throw new WorkerException(Name, $"the trial script ended without its end line (exit status {cmd.ExitStatus}); stderr: {Tail(cmd.Error)}",
                "check the host is up and sh/awk work there ('bisector workers check')");
        }

        var code = int.Parse(end[2], CultureInfo.InvariantCulture);
        var elapsed = Format(TimeSpan.FromMilliseconds(long.Parse(end[3], CultureInfo.InvariantCulture) * 10));
        var oomKills = long.TryParse(end[4], CultureInfo.InvariantCulture, out var k) ? k : 0;
        var limitHits = long.TryParse(end[5], CultureInfo.InvariantCulture, out var h) ? h : 0;
        var oom = string.Create(CultureInfo.InvariantCulture,
            $"the OOM killer killed {oomKills} process(es) in the daemon's cgroup at run.memory-limit {recipe.Run.MemoryLimitBytes} bytes " +
            $"(limit hit {limitHits} times) after {elapsed}; output:\n{daemonOutput}");
        (TrialOutcome, string?) result = end[1] switch
        {
            "ok" => oomKills > 0 ? (TrialOutcome.OutOfMemory, oom) : TrialCommands.Completeness(samples, recipe, readyAt ?? TimeSpan.Zero, Interval(recipe)),
            "exited" when oomKills > 0 || (code == 128 + Posix.SigKill && limitHits > 0) => (TrialOutcome.OutOfMemory, oom),
            "exited" when !sawDaemon && daemonOutput.ToString().Contains("unshare: ", StringComparison.Ordinal) =>
                throw new WorkerException(Name, $"could not start the daemon in its cgroup and namespaces (exit code {code}):\n{daemonOutput}",
                    "check unshare/mount work on the host (root, kernel namespaces enabled)"),
            "exited" => (TrialOutcome.DaemonCrashed,
                $"daemon exited with code {code}{(code > 128 ? $" (signal {code - 128})" : "")} after {elapsed}, before the window ended; output:\n{daemonOutput}"),
            "notready" => (TrialOutcome.NotReady, $"{ready} did not appear within {Format(readyTimeout)} (run.ready.timeout); daemon output:\n{daemonOutput}"),
            "workload" => (TrialOutcome.WorkloadFailed,
                $"workload exited with code {code} after {elapsed} (workload.restart is false); output:\n{workloadOutput}"),
            "cancelled" => (TrialOutcome.Cancelled, "cancelled; the remote daemon, workload, cgroups and run directory were removed"),
            "plumbing" => throw new WorkerException(Name, $"could not set up the trial's cgroups or namespaces:\n{daemonOutput}",
                "log in as root on a host with the memory cgroup controller and util-linux (check with 'bisector workers check')"),
            _ => throw new WorkerException(Name, $"the connection was lost during the trial ({end[1]})", "check the host and the network"),
        };
        if (leftovers.Count > 0)
        {
            result.Item2 = (result.Item2 is null ? "" : result.Item2 + "\n") + "clean-up: " + string.Join("; ", leftovers);
        }

        return result;
    }

    private static TimeSpan Interval(Recipe recipe) =>
        recipe.Sampling.Interval > TimeSpan.Zero ? recipe.Sampling.Interval : TimeSpan.FromMilliseconds(100);

    /// <summary>The environment trial.sh reads: every value is passed quoted, the argument lists pre-quoted word by word.</summary>
    internal static (Dictionary<string, string> Variables, string? Ready, TimeSpan ReadyTimeout) TrialVariables(
        TrialSpec spec, string artifact, string runDir, string unique)
    {
        var recipe = spec.Recipe;
        var isolation = recipe.Run.Isolation;
        var env = new Dictionary<string, string?>
        {
            ["BISECTOR_COMMIT"] = spec.Commit.Sha,
            ["BISECTOR_ARTIFACT"] = artifact,
            ["BISECTOR_RUN_DIR"] = runDir,
            ["BISECTOR_TRIAL"] = spec.TrialKey,
        };
        var ready = recipe.Run.Ready?.File is { } file ? LocalWorker.Expand(file, env) : null;
        if (ready is not null && !ready.StartsWith('/'))
        {
            ready = $"{artifact}/{ready}";
        }

        var raw = new Dictionary<string, string> { [ProcsWord] = "\"$procs\"", [WorkloadProcsWord] = "\"$wprocs\"", [RootWord] = "\"$root\"" };
        var daemon = WithEnv(recipe.Run.Env, TrialCommands.Daemon(ProcsWord, isolation, recipe.Run.Command), recipe.SourceFile);
        var workload = recipe.Workload is { } w
            ? WithEnv(w.Env, TrialCommands.Workload(WorkloadProcsWord, isolation, RootWord, artifact, w.Command), recipe.SourceFile)
            : null;
        var interval = Interval(recipe);
        var readyTimeout = recipe.Run.Ready?.Timeout ?? TimeSpan.FromSeconds(30);
        var measured = recipe.Sampling.Warmup + recipe.Sampling.Window;
        var variables = new Dictionary<string, string>
        {
            ["BISECTOR_COMMIT"] = spec.Commit.Sha,
            ["BISECTOR_ARTIFACT"] = artifact,
            ["BISECTOR_RUN_DIR"] = runDir,
            ["BISECTOR_TRIAL"] = spec.TrialKey,
            ["T_UNIQUE"] = unique,
            ["T_LIMIT"] = recipe.Run.MemoryLimitBytes.ToString(CultureInfo.InvariantCulture),
            ["T_INTERVAL_CS"] = Centis(interval, minimum: 1),
            ["T_MEASURED_CS"] = Centis(measured),
            ["T_READY"] = ready ?? "",
            ["T_READY_TIMEOUT_CS"] = Centis(readyTimeout),
            ["T_PIDNS"] = isolation.Pid ? "1" : "0",
            ["T_MOUNTNS"] = TrialCommands.MountNamespace(isolation) ? "1" : "0",
            ["T_RESTART"] = recipe.Workload?.Restart == true ? "1" : "0",
            ["T_STOP_CS"] = Centis(recipe.Run.StopTimeout),
            ["T_WORKLOAD_STOP_CS"] = "200",
            ["T_DAEMON_ARGV"] = ShellQuote.Join(daemon, raw),
            ["T_WORKLOAD_ARGV"] = workload is null ? "" : ShellQuote.Join(workload, raw),
        };
        return (variables, ready, readyTimeout);
    }

    /// <summary>The remote trial script's text (uploaded once per host and version).</summary>
    internal static string ScriptText => Script.Value;

    // Stand-ins for values only the remote script knows; ShellQuote.Join turns them into "$procs" etc.
    private const string ProcsWord = "\u0001procs\u0001";
    private const string WorkloadProcsWord = "\u0001wprocs\u0001";
    private const string RootWord = "\u0001root\u0001";

    private static List<string> WithEnv(IReadOnlyDictionary<string, string> env, List<string> shArgs, string recipeFile)
    {
        var words = new List<string> { "env" };
        foreach (var (key, value) in env)
        {
            if (!EnvName().IsMatch(key))
            {
                throw new ConfigException(recipeFile, null, $"environment variable name '{key}' is not a valid name", "use letters, digits and '_', not starting with a digit");
            }

            words.Add($"{key}={value}");
        }

        words.Add("sh");
        words.AddRange(shArgs);
        return words;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvName();

    /// <summary>Uploads the artifact directory unless <c>ROOT/artifacts/HASH/.bisector-complete</c> already exists;
    /// files go to a temporary directory that is renamed into place, so a broken upload is never mistaken for a deploy.</summary>
    internal async Task<string> DeployAsync(string localDirectory, string contentHash, CancellationToken ct = default)
    {
        var name = LocalWorker.Sanitize(contentHash);
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
            Uploads++;
            UploadedBytes += bytes;
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
            var script = Script.Value;
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(script)))[..16];
            _scriptPath = $"{_root}/bin/trial-{hash}.sh";
            await SftpAsync(s =>
            {
                CreateDirectories(s, $"{_root}/bin");
                CreateDirectories(s, $"{_root}/artifacts");
                CreateDirectories(s, $"{_root}/runs");
                if (!s.Exists(_scriptPath))
                {
                    using var stream = new MemoryStream(Encoding.UTF8.GetBytes(script));
                    s.UploadFile(stream, _scriptPath + ".tmp", canOverride: true);
                    s.RenameFile(_scriptPath + ".tmp", _scriptPath, isPosix: true);
                }
            }, $"cannot upload the trial script to {_root}/bin", ct, connected: true);
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

    private static string Centis(TimeSpan t, long minimum = 0) =>
        Math.Max(minimum, (long)Math.Round(t.TotalMilliseconds / 10)).ToString(CultureInfo.InvariantCulture);

    private static string Tail(string text) => text.Length > 2000 ? text[^2000..] : text;

    private static string Format(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
}
