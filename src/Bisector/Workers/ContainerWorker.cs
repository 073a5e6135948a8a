using System.Diagnostics;
using System.Globalization;
using Bisector.Recipes;
using Bisector.Sampling;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Bisector.Workers;

/// <summary>Where a <see cref="ContainerWorker"/> finds its engine and what every trial container gets.</summary>
/// <param name="Endpoint">The engine's API socket, e.g. <c>unix:///run/docker.sock</c> or podman's service socket.</param>
/// <param name="Image">The base image trials run in; it needs <c>sh</c> (busybox is enough).</param>
/// <param name="Rootfs">A rootfs tarball imported as <see cref="Image"/> when the engine does not have it yet.</param>
/// <param name="HostLibraries">Bind the host's library directories read-only, so dynamically linked builds run in a
/// minimal image without a second toolchain.</param>
/// <param name="NoFile">RLIMIT_NOFILE for the containers. Engines copy their own limits otherwise, and runc fails with
/// EPERM when it may not set them (podman raises its own limits on start-up, a host without CAP_SYS_RESOURCE refuses).</param>
/// <param name="NProc">RLIMIT_NPROC for the containers, for the same reason.</param>
public sealed record ContainerEngineSpec(Uri Endpoint, string Image, string? Rootfs, bool HostLibraries, long NoFile, long NProc);

/// <summary>
/// Runs trials in containers through a Docker-compatible Engine API (dockerd, or podman's <c>podman system service</c>
/// through the same code). Per trial: the daemon in a fresh container with the recipe's memory limit and the artifact and
/// run directories bind-mounted at their host paths (so <c>$BISECTOR_*</c> paths mean the same inside and out); the
/// workload in a second container that joins the daemon's network namespace, so its memory is not counted. Memory is
/// sampled from the host side: <c>/proc/PID/status</c> of the daemon and the container's own memory cgroup. Both
/// containers and the run directory are removed afterwards, also on cancellation.
/// </summary>
public sealed class ContainerWorker(string name, ContainerEngineSpec engine, string workRoot) : IWorker
{
    private static readonly HashSet<string> Shells = ["sh", "dash", "bash", "ash", "busybox"];
    private static readonly string[] LibraryDirectories = ["/lib", "/lib64", "/usr/lib", "/usr/lib64"];

    private readonly DockerClient _client = new DockerClientConfiguration(engine.Endpoint).CreateClient();
    private readonly SemaphoreSlim _imageGate = new(1, 1);
    private string? _engineName;
    private bool _imageReady;

    public string Name { get; } = name;

    public WorkerKind Kind => WorkerKind.Container;

    public ContainerEngineSpec Engine { get; } = engine;

    public string WorkRoot { get; } = Path.GetFullPath(workRoot);

    /// <summary>How long the workload container gets to stop before it is killed.</summary>
    public TimeSpan WorkloadStopTimeout { get; init; } = TimeSpan.FromSeconds(2);

    public async Task<WorkerCheck> CheckAsync(CancellationToken ct = default)
    {
        var findings = new List<string>();
        try
        {
            findings.Add($"engine: {await EngineNameAsync(ct)} at {Engine.Endpoint}");
            await EnsureImageAsync(ct);
            findings.Add($"image: {Engine.Image} present");
            Directory.CreateDirectory(WorkRoot);
            findings.Add($"work root: {WorkRoot}");
            return new WorkerCheck(Name, true, findings);
        }
        catch (WorkerException e)
        {
            findings.Add(e.Message);
            return new WorkerCheck(Name, false, findings);
        }
    }

    public async Task<TrialResult> RunTrialAsync(TrialSpec spec, CancellationToken ct = default)
    {
        var startedAt = DateTimeOffset.Now;
        string host;
        try
        {
            await EnsureImageAsync(ct);
            // The engine goes before the final "/name": the run engine takes the worker name from the host's last segment.
            host = $"{Environment.MachineName} [{await EngineNameAsync(ct)}, {Engine.Endpoint}]/{Name}";
        }
        catch (WorkerException e)
        {
            return new TrialResult(TrialOutcome.WorkerFailed, e.Message, [], startedAt, DateTimeOffset.Now, $"{Environment.MachineName}/{Name}");
        }

        var trial = new Trial(this, spec);
        try
        {
            var (outcome, reason) = await trial.RunAsync(ct);
            if (await trial.CleanUpAsync() is { } leftovers)
            {
                reason = reason is null ? leftovers : $"{reason}\n{leftovers}";
            }

            return new TrialResult(outcome, reason, trial.Samples, startedAt, DateTimeOffset.Now, host);
        }
        catch (WorkerException e)
        {
            await trial.CleanUpAsync();
            return new TrialResult(TrialOutcome.WorkerFailed, e.Message, trial.Samples, startedAt, DateTimeOffset.Now, host);
        }
        catch
        {
            await trial.CleanUpAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        _imageGate.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>"dockerd 20.10.24" or "podman 4.3.1": recorded on every trial so the report says which engine ran it.</summary>
    private async Task<string> EngineNameAsync(CancellationToken ct)
    {
        if (_engineName is not null)
        {
            return _engineName;
        }

        var version = await Call(() => _client.System.GetVersionAsync(ct), "query the engine version",
            "start the engine (dockerd -H unix://…, or podman system service unix://…) and check the socket path");
        var podman = version.Components?.Any(c => c.Name.Contains("Podman", StringComparison.OrdinalIgnoreCase)) == true;
        return _engineName = $"{(podman ? "podman" : "dockerd")} {version.Version}";
    }

    private async Task EnsureImageAsync(CancellationToken ct)
    {
        await _imageGate.WaitAsync(ct);
        try
        {
            if (_imageReady)
            {
                return;
            }

            var images = await Call(() => _client.Images.ListImagesAsync(new ImagesListParameters { All = true }, ct),
                "list images", "check the engine is running");
            var present = images.Any(i => i.RepoTags?.Any(t => t == Engine.Image || t == Engine.Image + ":latest" || t.EndsWith("/" + Engine.Image + ":latest", StringComparison.Ordinal)) == true);
            if (!present)
            {
                if (Engine.Rootfs is not { } rootfs)
                {
                    throw new WorkerException(Name, $"image '{Engine.Image}' is not present in the engine",
                        "import one (docker import rootfs.tar NAME) or add &rootfs=/path/to/rootfs.tar to the container worker spec");
                }

                await ImportAsync(rootfs, ct);
            }

            _imageReady = true;
        }
        finally
        {
            _imageGate.Release();
        }
    }

    /// <summary>Imports a rootfs tarball as the base image (Engine API image create with fromSrc=-); no registry needed.</summary>
    private async Task ImportAsync(string rootfs, CancellationToken ct)
    {
        if (!File.Exists(rootfs))
        {
            throw new WorkerException(Name, $"rootfs tarball {rootfs} does not exist", "fix &rootfs= in the container worker spec");
        }

        var (repo, tag) = Engine.Image.LastIndexOf(':') is var colon and > 0 && !Engine.Image[colon..].Contains('/')
            ? (Engine.Image[..colon], Engine.Image[(colon + 1)..])
            : (Engine.Image, "latest");
        var errors = new List<string>();
        await using var tar = File.OpenRead(rootfs);
        await Call(() => _client.Images.CreateImageAsync(new ImagesCreateParameters { FromSrc = "-", Repo = repo, Tag = tag }, tar, null,
            new Progress<JSONMessage>(m =>
            {
                if (m.Error is { } error)
                {
                    lock (errors)
                    {
                        errors.Add(error.Message);
                    }
                }
            }), ct), $"import {rootfs} as {Engine.Image}", "check the file is a tar archive of a root filesystem");
        if (errors.Count > 0)
        {
            throw new WorkerException(Name, $"importing {rootfs} as {Engine.Image} failed: {string.Join("; ", errors)}", "check the file is a tar archive of a root filesystem");
        }
    }

    /// <summary>Engine API failures are the worker's, not the trial's: they become <see cref="WorkerException"/>s.</summary>
    private async Task<T> Call<T>(Func<Task<T>> call, string what, string fix)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            var detail = e is DockerApiException api ? $"{(int)api.StatusCode} {api.ResponseBody.Trim()}" : e.Message;
            throw new WorkerException(Name, $"cannot {what} via {Engine.Endpoint}: {detail}", fix, e);
        }
    }

    private Task Call(Func<Task> call, string what, string fix) => Call(async () =>
    {
        await call();
        return 0;
    }, what, fix);

    private sealed class Trial(ContainerWorker worker, TrialSpec spec)
    {
        private readonly Stopwatch _clock = new();
        private readonly string _unique = $"bisector-{LocalWorker.Sanitize(worker.Name)}-{Guid.NewGuid():N}"[..48];
        private string? _runDir;
        private string? _daemonId;
        private string? _workloadId;
        private int? _initPid;
        private int? _workloadPid;
        private int? _daemonPid;
        private bool _daemonSettled;
        private CgroupMemory? _cgroup;
        private bool _cleaned;

        public List<Sample> Samples { get; } = [];

        private Recipe Recipe => spec.Recipe;

        private DockerClient Client => worker._client;

        public async Task<(TrialOutcome, string?)> RunAsync(CancellationToken ct)
        {
            try
            {
                return await RunCoreAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return (TrialOutcome.Cancelled, "cancelled; the containers and run directory were removed");
            }
        }

        private async Task<(TrialOutcome, string?)> RunCoreAsync(CancellationToken ct)
        {
            var env = PrepareRunDirectory();
            _clock.Start();
            _daemonId = await CreateAsync(_unique, ["sh", "-c", Recipe.Run.Command], env, Recipe.Run.Env, daemon: true, ct);
            await worker.Call(() => Client.Containers.StartContainerAsync(_daemonId, new ContainerStartParameters(), ct),
                "start the daemon container", "read the engine's log; the message above is its answer");
            _initPid = await PidOfAsync(_daemonId, ct);

            var metrics = Recipe.Sampling.Metrics.Count == 0 ? [] : new HashSet<string>(Recipe.Sampling.Metrics) { Recipe.Decide.Metric };
            ProcSampler? sampler = null;
            try
            {
                var interval = Recipe.Sampling.Interval > TimeSpan.Zero ? Recipe.Sampling.Interval : TimeSpan.FromMilliseconds(100);
                var readyFile = Recipe.Run.Ready?.File is { } file ? ResolveReadyPath(LocalWorker.Expand(file, env)) : null;
                var readyTimeout = Recipe.Run.Ready?.Timeout ?? TimeSpan.FromSeconds(30);
                TimeSpan? readyAt = readyFile is null ? TimeSpan.Zero : null;
                var measured = Recipe.Sampling.Warmup + Recipe.Sampling.Window;
                for (var tick = 0L; ; tick++)
                {
                    ct.ThrowIfCancellationRequested();
                    if (_initPid is not { } init || !Posix.Exists(init))
                    {
                        return await DaemonEndedAsync(ct);
                    }

                    if (_cgroup is null && CgroupMemory.OfProcess(init) is { } cgroup)
                    {
                        _cgroup = cgroup;
                        sampler = new ProcSampler(cgroup.Files, metrics);
                    }

                    if (sampler is not null)
                    {
                        if (TrialCommands.SettledProcessGone(_daemonSettled, _daemonPid))
                        {
                            _daemonSettled = false;
                        }

                        if (!_daemonSettled)
                        {
                            ResolveDaemon(init, sampler, readyAt);
                        }

                        sampler.SampleInto(_clock.Elapsed.TotalSeconds, Samples);
                    }

                    if (readyAt is null)
                    {
                        // Through the container's own root, so a ready file in a tmpfs or the image is found as well.
                        if (File.Exists($"/proc/{init}/root{readyFile}"))
                        {
                            readyAt = _clock.Elapsed;
                        }
                        else if (_clock.Elapsed >= readyTimeout)
                        {
                            return (TrialOutcome.NotReady,
                                $"{readyFile} did not appear within {Format(readyTimeout)} (run.ready.timeout); daemon output:\n{await LogsAsync(_daemonId)}");
                        }
                    }

                    if (readyAt is { } ready)
                    {
                        if (Recipe.Workload is { } workload && await CheckWorkloadAsync(workload, env, ct) is { } failed)
                        {
                            return failed;
                        }

                        if (_clock.Elapsed >= ready + measured)
                        {
                            var kills = _cgroup?.ReadOomKills() ?? 0;
                            return kills > 0 ? (TrialOutcome.OutOfMemory, await OomReasonAsync(ct)) : TrialCommands.Completeness(Samples, Recipe, ready, interval);
                        }
                    }

                    var wait = interval * (tick + 1) - _clock.Elapsed;
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, ct);
                    }
                }
            }
            finally
            {
                sampler?.Dispose();
            }
        }

        private Dictionary<string, string?> PrepareRunDirectory()
        {
            // Kept short: recipes put unix sockets in the run directory, and sun_path holds only 107 bytes.
            _runDir = Path.Combine(worker.WorkRoot, "runs", _unique[^12..]);
            TrialCommands.WriteRunDirectory(worker.Name, _runDir, Recipe);
            return TrialCommands.Environment(spec, _runDir);
        }

        private async Task<string> CreateAsync(string containerName, IList<string> cmd, Dictionary<string, string?> env,
            IReadOnlyDictionary<string, string> extra, bool daemon, CancellationToken ct)
        {
            var binds = new List<string> { $"{spec.Artifact.Directory}:{spec.Artifact.Directory}:ro", $"{_runDir}:{_runDir}" };
            if (worker.Engine.HostLibraries)
            {
                binds.AddRange(LibraryDirectories.Where(Directory.Exists).Select(d => $"{d}:{d}:ro"));
            }

            var isolation = Recipe.Run.Isolation;
            var hostConfig = new HostConfig
            {
                Binds = binds,
                // The daemon gets its own network namespace (loopback only) unless the recipe wants the host's network;
                // the workload joins whichever the daemon has, as the local worker's nsenter does.
                NetworkMode = daemon ? (isolation.Network ? "none" : "host") : $"container:{_daemonId}",
                // Same PID namespace as the daemon: daemons that look up their peers (SO_PEERCRED, /proc/PID, like
                // journald) see pid 0 across namespaces.
                PidMode = daemon ? null : $"container:{_daemonId}",
                Ulimits =
                [
                    new Ulimit { Name = "nofile", Soft = worker.Engine.NoFile, Hard = worker.Engine.NoFile },
                    new Ulimit { Name = "nproc", Soft = worker.Engine.NProc, Hard = worker.Engine.NProc },
                ],
            };
            if (daemon)
            {
                // Swap equal to memory: the limit bounds the daemon instead of pushing it into swap.
                hostConfig.Memory = Recipe.Run.MemoryLimitBytes;
                hostConfig.MemorySwap = Recipe.Run.MemoryLimitBytes;
                hostConfig.Tmpfs = isolation.Tmpfs.ToDictionary(p => p, _ => "mode=0755");
            }

            var parameters = new CreateContainerParameters
            {
                Name = containerName,
                Image = worker.Engine.Image,
                Cmd = cmd,
                WorkingDir = spec.Artifact.Directory,
                Env = env.Concat(extra.Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value))).Select(kv => $"{kv.Key}={kv.Value}").ToList(),
                Labels = new Dictionary<string, string> { ["bisector.worker"] = worker.Name, ["bisector.trial"] = spec.TrialKey },
                HostConfig = hostConfig,
            };
            var created = await worker.Call(() => Client.Containers.CreateContainerAsync(parameters, ct),
                $"create container {containerName} from image {worker.Engine.Image}", "check the image exists and the engine accepts the options above");
            return created.ID;
        }

        private async Task<int?> PidOfAsync(string id, CancellationToken ct)
        {
            var inspect = await worker.Call(() => Client.Containers.InspectContainerAsync(id, ct), $"inspect container {id[..12]}", "check the engine is running");
            return inspect.State.Pid > 0 ? (int)inspect.State.Pid : null;
        }

        /// <summary>Finds the daemon behind the container's <c>sh -c</c>: down through shells with exactly one child.</summary>
        private void ResolveDaemon(int init, ProcSampler sampler, TimeSpan? readyAt)
        {
            var current = init;
            while (Shells.Contains(Posix.ReadComm(current) ?? "") && Children(current) is [var only])
            {
                current = only;
            }

            _daemonPid = current;
            sampler.Track(current);
            _daemonSettled = TrialCommands.DaemonSettled(Posix.ReadComm(current), readyAt, _clock.Elapsed);
        }

        private static List<int> Children(int pid)
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/task/{pid}/children")
                    .Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return [];
            }
        }

        private string ResolveReadyPath(string path) =>
            Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(spec.Artifact.Directory, path));

        private async Task<(TrialOutcome, string?)?> CheckWorkloadAsync(WorkloadSpec workload, Dictionary<string, string?> env, CancellationToken ct)
        {
            if (_workloadId is null)
            {
                // Restarting happens inside the container, so one container serves the whole window.
                string[] cmd = workload.Restart
                    ? ["sh", "-c", "while :; do sh -c \"$1\"; done", "bisector-workload", workload.Command]
                    : ["sh", "-c", workload.Command];
                _workloadId = await CreateAsync(_unique + "-w", cmd, env, workload.Env, daemon: false, ct);
                await worker.Call(() => Client.Containers.StartContainerAsync(_workloadId, new ContainerStartParameters(), ct),
                    "start the workload container", "read the engine's log; the message above is its answer");
                _workloadPid = await PidOfAsync(_workloadId, ct);
                return null;
            }

            if (_workloadPid is { } pid && Posix.Exists(pid))
            {
                return null;
            }

            var inspect = await worker.Call(() => Client.Containers.InspectContainerAsync(_workloadId, ct), "inspect the workload container", "check the engine is running");
            if (inspect.State.Running)
            {
                return null;
            }

            return inspect.State.ExitCode == 0
                ? null
                : (TrialOutcome.WorkloadFailed,
                    $"workload exited with code {inspect.State.ExitCode} after {Format(_clock.Elapsed)} (workload.restart is false); output:\n{await LogsAsync(_workloadId)}");
        }

        private async Task<(TrialOutcome, string?)> DaemonEndedAsync(CancellationToken ct)
        {
            var inspect = await worker.Call(() => Client.Containers.InspectContainerAsync(_daemonId!, ct), "inspect the daemon container", "check the engine is running");
            if (inspect.State.Running)
            {
                throw new WorkerException(worker.Name, $"container {_daemonId![..12]} runs but its process {_initPid} is not visible in this /proc",
                    "run Bisector in the engine's PID namespace (on the engine's host, not in a container)");
            }

            if (inspect.State.OOMKilled || (_cgroup?.ReadOomKills() ?? 0) > 0)
            {
                return (TrialOutcome.OutOfMemory, await OomReasonAsync(ct));
            }

            if (!string.IsNullOrEmpty(inspect.State.Error))
            {
                throw new WorkerException(worker.Name, $"the engine could not run the daemon container: {inspect.State.Error}", "check the image has sh and the bind mounts exist");
            }

            var code = inspect.State.ExitCode;
            var signal = code > 128 ? $" (signal {code - 128})" : "";
            return (TrialOutcome.DaemonCrashed,
                $"daemon exited with code {code}{signal} after {Format(_clock.Elapsed)}, before the window ended; output:\n{await LogsAsync(_daemonId!)}");
        }

        private async Task<string> OomReasonAsync(CancellationToken ct)
        {
            var logs = await LogsAsync(_daemonId!, ct);
            return string.Create(CultureInfo.InvariantCulture,
                $"the OOM killer killed the daemon's container at run.memory-limit {Recipe.Run.MemoryLimitBytes} bytes " +
                $"(limit hit {_cgroup?.ReadLimitHits() ?? 0} times) after {Format(_clock.Elapsed)}; output:\n{logs}");
        }

        /// <summary>The last lines a container wrote, for a failed trial's reason; never throws.</summary>
        private async Task<string> LogsAsync(string id, CancellationToken ct = default)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                using var stream = await Client.Containers.GetContainerLogsAsync(id, false,
                    new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = "30" }, timeout.Token);
                var (stdout, stderr) = await stream.ReadOutputToEndAsync(timeout.Token);
                return (stdout + stderr).TrimEnd();
            }
            catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or OperationCanceledException)
            {
                return $"(logs unavailable: {e.Message})";
            }
        }

        /// <summary>Stops the workload, then the daemon (SIGTERM, SIGKILL after run.stop-timeout), removes both containers
        /// and the run directory. Returns what could not be removed, if anything.</summary>
        public async Task<string?> CleanUpAsync()
        {
            if (_cleaned)
            {
                return null;
            }

            _cleaned = true;
            var problems = new List<string>();
            foreach (var (id, grace) in new[] { (_workloadId, worker.WorkloadStopTimeout), (_daemonId, Recipe.Run.StopTimeout) })
            {
                if (id is null)
                {
                    continue;
                }

                try
                {
                    using var limit = new CancellationTokenSource(grace + TimeSpan.FromSeconds(30));
                    await Client.Containers.StopContainerAsync(id, new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Ceiling(grace.TotalSeconds) }, limit.Token);
                    await Client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true }, limit.Token);
                }
                catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or OperationCanceledException)
                {
                    problems.Add($"container {id[..12]} could not be removed: {e.Message}");
                }
            }

            TrialCommands.RemoveRunDirectory(_runDir, problems);

            return problems.Count == 0 ? null : "clean-up: " + string.Join("; ", problems);
        }

        private static string Format(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
    }
}
