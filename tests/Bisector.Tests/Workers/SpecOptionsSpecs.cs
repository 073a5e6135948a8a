using Bisector.Tests.Demo;
using Bisector.Workers;

namespace Bisector.Tests.Workers;

public sealed class SpecOptionsSpecs
{
    [Fact]
    public void I_get_the_same_option_errors_from_every_worker_scheme()
    {
        // Arrange: one unknown option and one count out of range for each scheme that takes ?key=value options.
        string[] unknown = ["ssh://root@host?colour=red", "container:unix:///run/docker.sock?image=x&colour=red", "slurm:debug?colour=red"];
        string[] badCount = ["container:unix:///run/docker.sock?image=x&count=0", "slurm:debug?count=257"];

        // Act
        var unknownErrors = unknown.Select(spec => Assert.Throws<UsageException>(() => WorkerSpecs.Parse([spec], "/tmp/unused"))).ToList();
        var countErrors = badCount.Select(spec => Assert.Throws<UsageException>(() => WorkerSpecs.Parse([spec], "/tmp/unused"))).ToList();

        // Assert: each names --workers and the spec as written, and lists what the scheme does know.
        Assert.All(unknownErrors.Concat(countErrors), e => Assert.Equal("--workers", e.Option));
        Assert.Equal(
            [
                "--workers: 'ssh://root@host?colour=red': unknown option 'colour'. use identity, known-hosts, tofu or root",
                "--workers: 'container:unix:///run/docker.sock?image=x&colour=red': unknown option 'colour'. use image, rootfs, count, host-libs, nofile or nproc",
                "--workers: 'slurm:debug?colour=red': unknown option 'colour'. use count, conf, extra-mem, time or shared",
            ],
            unknownErrors.Select(e => e.Message));
        Assert.Equal(
            [
                "--workers: 'container:unix:///run/docker.sock?image=x&count=0': count=0 is not a number between 1 and 256. e.g. count=1",
                "--workers: 'slurm:debug?count=257': count=257 is not a number between 1 and 256. e.g. count=1",
            ],
            countErrors.Select(e => e.Message));
    }

    [Fact]
    public void I_can_give_options_url_escaped_and_in_any_order_and_number_workers_across_specs()
    {
        // Arrange
        using var temp = new TempDir();
        var shared = Directory.CreateDirectory(Path.Combine(temp.Path, "shared dir")).FullName;

        // Act
        var workers = WorkerSpecs.Parse([$"slurm:debug?time=90&shared={Uri.EscapeDataString(shared)}&count=2", "local:1", "slurm:debug"], temp.Sub("work"));

        // Assert: numbering continues across specs of one kind.
        Assert.Equal(["slurm-1", "slurm-2", "local-1", "slurm-3"], workers.Select(w => w.Name));
        var cluster = Assert.IsType<SlurmWorker>(workers[0]).Cluster;
        Assert.Equal(new SlurmClusterSpec("debug", null, 512L << 20, TimeSpan.FromMinutes(90), shared), cluster);
    }
}
