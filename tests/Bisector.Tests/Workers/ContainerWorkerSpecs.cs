using Bisector.Cli;
using Bisector.Demo;
using Bisector.Reporting;
using Bisector.Search;
using Bisector.Tests.Demo;
using Bisector.Workers;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Data.Sqlite;

namespace Bisector.Tests.Workers;

/// <summary>
/// Bisects the demo repository with trials in real containers: a private dockerd, and a private podman service through
/// the same code path. The base image is a busybox rootfs imported through the Engine API (no registry is reachable);
/// the demo's glibc-linked build runs in it through the host's library directories, bind-mounted read-only.
/// </summary>
[LongRunning(330)]
public sealed class ContainerWorkerSpecs
{
    [DockerdFact(Timeout = 900_000)]
    public async Task I_can_bisect_the_demo_with_trials_in_dockerd_containers()
    {
        await using var engine = await ContainerEngine.StartDockerdAsync(CancellationToken.None);
        await BisectDemoAsync(engine, "dockerd");
    }

    [PodmanFact(Timeout = 900_000)]
    public async Task I_can_bisect_the_demo_with_trials_in_podman_containers()
    {
        await using var engine = await ContainerEngine.StartPodmanAsync(CancellationToken.None);
        await BisectDemoAsync(engine, "podman");
    }

    [DockerdFact(Timeout = 300_000)]
    public async Task I_can_see_a_container_daemon_that_never_gets_ready_end_as_not_ready_with_the_shared_loops_reason()
    {
        // Arrange
        await using var engine = await ContainerEngine.StartDockerdAsync(CancellationToken.None);
        using var temp = new TempDir();
        using var daemon = new TestDaemon();
        var rootfs = await ContainerEngine.BusyboxRootfsAsync(temp.Path, CancellationToken.None);
        var image = $"bisector-busybox-{Guid.NewGuid():N}"[..24];
        await using var worker = WorkerSpecs.Parse([$"container:{engine.Endpoint}?image={image}&rootfs={rootfs}"], temp.Sub("work")).Single();
        var trial = daemon.NeverReady(TimeSpan.FromSeconds(2));

        // Act
        var result = await worker.RunTrialAsync(trial.Spec);

        // Assert: the container sandbox runs the same trial loop, so readiness and its reason text are the local ones.
        trial.AssertEndedWithTheSharedLoopsReason(result);
        using var client = new DockerClientConfiguration(new Uri(engine.Endpoint)).CreateClient();
        Assert.Empty(await client.Containers.ListContainersAsync(new ContainersListParameters { All = true }));
    }

    [Fact]
    public void I_can_not_name_a_container_worker_without_a_unix_socket_or_an_image()
    {
        // Arrange
        string[] bad = ["container:tcp://10.0.0.1:2375?image=x", "container:unix:///run/docker.sock", "container:unix:///run/docker.sock?image=x&color=red"];

        // Act
        var errors = bad.Select(spec => Assert.Throws<UsageException>(() => WorkerSpecs.Parse([spec], "/tmp/unused"))).ToList();

        // Assert
        Assert.All(errors, e => Assert.Contains("--workers", e.Message, StringComparison.Ordinal));
        Assert.Contains("unix socket", errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("no base image", errors[1].Message, StringComparison.Ordinal);
        Assert.Contains("unknown option 'color'", errors[2].Message, StringComparison.Ordinal);
    }

    private static async Task BisectDemoAsync(ContainerEngine engine, string engineName)
    {
        // Arrange
        using var temp = new TempDir();
        var rootfs = await ContainerEngine.BusyboxRootfsAsync(temp.Path, CancellationToken.None);
        var image = $"bisector-busybox-{Guid.NewGuid():N}"[..24];
        var workers = $"container:{engine.Endpoint}?image={image}&rootfs={rootfs}&count=2";

        // Act
        var (demo, run) = await DemoCommand.RunAsync(temp.Sub("repo"), DemoScenario.Fragmentation, "bisect", [workers], temp.Sub("results"), _ => { });

        // Assert
        Assert.Equal(SearchStatus.Found, run.Outcome?.Status);
        Assert.Equal(demo.CulpritSha, run.Selection.Candidates[run.Outcome!.Culprit!.Value - 1].Sha);
        using (var db = new SqliteConnection($"Data Source={run.DatabasePath};Mode=ReadOnly;Pooling=False"))
        {
            db.Open();
            using var query = db.CreateCommand();
            query.CommandText = "SELECT worker, host FROM trials";
            using var rows = query.ExecuteReader();
            var trials = 0;
            while (rows.Read())
            {
                trials++;
                Assert.StartsWith("container-", rows.GetString(0), StringComparison.Ordinal);
                Assert.Contains($"[{engineName} ", rows.GetString(1), StringComparison.Ordinal);
            }

            Assert.True(trials >= 6, $"only {trials} trials were stored");
        }

        var report = await File.ReadAllTextAsync(Path.Combine(run.ReportDirectory, ReportWriter.MarkdownFileName));
        Assert.Contains($"{engineName} ", report, StringComparison.Ordinal);
        Assert.Contains("(container on", report, StringComparison.Ordinal);
        using var client = new DockerClientConfiguration(new Uri(engine.Endpoint)).CreateClient();
        var left = await client.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.Empty(left);
    }
}
