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

        return await TrialLoop.RunAsync(new ContainerSandbox(this, spec), spec, Name, host, ct: ct);
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

    /// <summary>A trial in two containers: the daemon's (memory limit, tmpfs, own network unless the recipe shares the
    /// host's) and the workload's, which joins the daemon's network and PID namespaces. Sampled from the host side.</summary>
    private sealed class ContainerSandbox(ContainerWorker worker, TrialSpec spec) : ITrialSandbox
    {
        private readonly string _unique = $"bisector-{TrialLoop.SafeName(worker.Name)}-{Guid.NewGuid():N}"[..48];
        private string? _daemonId;
        private string? _workloadId;
        private int? _initPid;
        private int? _workloadPid;

        // Kept short: recipes put unix sockets in the run directory, and sun_path holds only 107 bytes.
        public string RunDirectory => Path.Combine(worker.WorkRoot, "runs", _unique[^12..]);

        public bool PrivateRoot => true;

        // The shim is compiled against this machine's glibc: it can be preloaded only where the container runs the
        // daemon on this machine's libraries (host-libs, the default). A static build ignores LD_PRELOAD anyway.
        public async Task<string?> HeapShimAsync(CancellationToken ct) =>
            worker.Engine.HostLibraries ? await Diagnosis.HeapShim.EnsureBuiltAsync(worker.Name, ct: ct) : null;

        public CgroupMemory? Cgroup { get; private set; }

        private Recipe Recipe => spec.Recipe;

        private DockerClient Client => worker._client;

        public async Task StartDaemonAsync(IReadOnlyDictionary<string, string?> env, CancellationToken ct)
        {
            _daemonId = await CreateAsync(_unique, TrialCommands.ContainerDaemon(Recipe.Run.Command), env, daemon: true, ct);
            await worker.Call(() => Client.Containers.StartContainerAsync(_daemonId, new ContainerStartParameters(), ct),
                "start the daemon container", "read the engine's log; the message above is its answer");
            _initPid = await PidOfAsync(_daemonId, ct);
            Cgroup = _initPid is { } init ? CgroupMemory.OfProcess(init) : null;
        }

        public int? FindRoot(IReadOnlyDictionary<int, int?> parents) => _initPid;

        public async Task<DaemonExit?> DaemonExitAsync(bool daemonSeen, CancellationToken ct)
        {
            if (_initPid is { } init && Posix.Exists(init))
            {
                return null;
            }

            var inspect = await worker.Call(() => Client.Containers.InspectContainerAsync(_daemonId!, ct), "inspect the daemon container", "check the engine is running");
            if (inspect.State.Running)
            {
                throw new WorkerException(worker.Name, $"container {_daemonId![..12]} runs but its process {_initPid} is not visible in this /proc",
                    "run Bisector in the engine's PID namespace (on the engine's host, not in a container)");
            }

            if (!inspect.State.OOMKilled && !string.IsNullOrEmpty(inspect.State.Error))
            {
                throw new WorkerException(worker.Name, $"the engine could not run the daemon container: {inspect.State.Error}", "check the image has sh and the bind mounts exist");
            }

            return new DaemonExit((int)inspect.State.ExitCode, inspect.State.OOMKilled);
        }

        // The workload runs in the container, whose cgroup is the daemon's: its kills are counted there.
        public long WorkloadOomKills() => 0;

        public async Task StartWorkloadAsync(IReadOnlyDictionary<string, string?> env, int root, CancellationToken ct)
        {
            // A restart starts the same container again: its command, namespaces and logs stay the same.
            _workloadId ??= await CreateAsync(_unique + "-w", ["sh", "-c", Recipe.Workload!.Command], env, daemon: false, ct);
            await worker.Call(() => Client.Containers.StartContainerAsync(_workloadId, new ContainerStartParameters(), ct),
                "start the workload container", "read the engine's log; the message above is its answer");
            _workloadPid = await PidOfAsync(_workloadId, ct);
        }

        public async Task<int?> WorkloadExitAsync(CancellationToken ct)
        {
            if (_workloadPid is { } pid && Posix.Exists(pid))
            {
                return null;
            }

            var inspect = await worker.Call(() => Client.Containers.InspectContainerAsync(_workloadId!, ct), "inspect the workload container", "check the engine is running");
            return inspect.State.Running ? null : (int)inspect.State.ExitCode;
        }

        public Task<string> DaemonOutputAsync(CancellationToken ct) => LogsAsync(_daemonId, ct);

        public Task<string> WorkloadOutputAsync(CancellationToken ct) => LogsAsync(_workloadId, ct);

        private async Task<string> CreateAsync(string containerName, IList<string> cmd, IReadOnlyDictionary<string, string?> env, bool daemon, CancellationToken ct)
        {
            var binds = new List<string> { $"{spec.Artifact.Directory}:{spec.Artifact.Directory}:ro", $"{RunDirectory}:{RunDirectory}" };
            if (worker.Engine.HostLibraries)
            {
                binds.AddRange(LibraryDirectories.Where(Directory.Exists).Select(d => $"{d}:{d}:ro"));
            }

            if (env.TryGetValue("BISECTOR_HEAP_PRELOAD", out var shim) && shim is not null)
            {
                binds.Add($"{shim}:{shim}:ro");
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
                Env = env.Select(kv => $"{kv.Key}={kv.Value}").ToList(),
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

        /// <summary>The last lines a container wrote, for a failed trial's reason; never throws.</summary>
        private async Task<string> LogsAsync(string? id, CancellationToken ct)
        {
            if (id is null)
            {
                return "(no output)";
            }

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

        public async Task<IReadOnlyList<string>> CleanUpAsync(int? daemonPid)
        {
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

            return problems;
        }
    }
}
