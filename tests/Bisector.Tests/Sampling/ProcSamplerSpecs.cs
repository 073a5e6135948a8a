using System.Diagnostics;
using System.Globalization;
using System.Text;
using Bisector.Sampling;
using Bisector.Tests.Workers;

namespace Bisector.Tests.Sampling;

public sealed class ProcSamplerSpecs(TestDaemon daemon) : IClassFixture<TestDaemon>
{
    [Fact(Timeout = 30_000)]
    public async Task I_can_parse_the_status_of_a_real_process_consistently_with_statm()
    {
        // Arrange: statm counts the same resident pages in a different file and unit (pages, not kB). A sleeping child
        // is read, not this test process, whose memory moves while other tests run in parallel.
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        await Task.Delay(200);
        var status = await File.ReadAllBytesAsync($"/proc/{sleeper.Id}/status");
        var statm = (await File.ReadAllTextAsync($"/proc/{sleeper.Id}/statm")).Split(' ');
        sleeper.Kill();
        var residentBytes = long.Parse(statm[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;

        // Act
        var parsed = MemoryParsers.TryParseProcStatus(status, out var memory);

        // Assert
        Assert.True(parsed);
        Assert.InRange(memory.VmRss, residentBytes * 0.8, residentBytes * 1.2);
        Assert.Equal(0, memory.VmRss % 1024);
        Assert.InRange(memory.RssAnon + memory.RssFile, memory.VmRss * 0.8, memory.VmRss * 1.01);
        // statm's data field is VmData plus the stack (VmStk), which is at most a few MiB here.
        var dataAndStack = long.Parse(statm[5], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        Assert.InRange(memory.VmData, Math.Max(4096, dataAndStack - (16L << 20)), dataAndStack);
    }

    [Fact]
    public void I_can_read_a_stat_key_without_confusing_it_with_a_longer_key()
    {
        // Arrange: rss_huge precedes rss here on purpose; v1 memory.stat lists both.
        var stat = Encoding.ASCII.GetBytes("cache 4096\nrss_huge 2097152\nrss 123456789\ntotal_rss 999\n");

        // Act
        var found = MemoryParsers.TryParseKeyed(stat, "rss"u8, out var rss);
        var missing = MemoryParsers.TryParseKeyed(stat, "anon"u8, out _);

        // Assert
        Assert.True(found);
        Assert.Equal(123456789, rss);
        Assert.False(missing);
    }

    [Fact]
    public void I_can_read_max_as_no_limit()
    {
        // Act
        var parsedMax = MemoryParsers.TryParseSingle("max\n"u8, out var max);
        var parsedNumber = MemoryParsers.TryParseSingle("268435456\n"u8, out var number);
        var parsedGarbage = MemoryParsers.TryParseSingle("12ab\n"u8, out _);

        // Assert
        Assert.True(parsedMax);
        Assert.Equal(long.MaxValue, max);
        Assert.True(parsedNumber);
        Assert.Equal(268435456, number);
        Assert.False(parsedGarbage);
    }

    [Fact(Timeout = 30000)]
    public async Task I_can_sample_a_process_in_a_limited_cgroup_of_its_own()
    {
        // Arrange: a real cgroup with a real limit, and the gcc-built test daemon touching 64 MiB of anonymous memory a second.
        var name = $"sampling-test-{Guid.NewGuid():N}";
        var cgroup = CgroupMemory.Create("test", name, 128L << 20);
        var info = new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", "echo $$ > \"$1\" && exec \"$2\"", "sh", cgroup.ProcsFile, Path.Combine(daemon.ArtifactDir, "testd") },
            Environment = { ["TESTD_BYTES_PER_SEC"] = (64L << 20).ToString(CultureInfo.InvariantCulture) },
        };
        using var process = Process.Start(info)!;
        try
        {
            using var sampler = new ProcSampler(cgroup.Files, []);
            sampler.Track(process.Id);
            var samples = new List<Sample>();
            var deadline = Stopwatch.StartNew();

            // Act: sample until the allocation shows (python needs a moment to start).
            while (deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                samples.Clear();
                sampler.SampleInto(deadline.Elapsed.TotalSeconds, samples);
                if (samples.Any(s => s.Metric == Metrics.RssAnon && s.Value > 32 << 20))
                {
                    break;
                }

                await Task.Delay(100);
            }

            // Assert
            var limit = File.ReadAllText(Path.Combine(cgroup.Path, cgroup.Version == CgroupVersion.V1 ? "memory.limit_in_bytes" : "memory.max")).Trim();
            Assert.Equal((128L << 20).ToString(CultureInfo.InvariantCulture), limit);
            Assert.Equal([process.Id], cgroup.ReadProcesses());
            var byMetric = samples.ToDictionary(s => s.Metric, s => s.Value);
            Assert.Equal(6, byMetric.Count);
            Assert.True(byMetric[Metrics.VmData] >= byMetric[Metrics.RssAnon] / 2, $"vm_data {byMetric[Metrics.VmData]}");
            Assert.InRange(byMetric[Metrics.RssAnon], 32 << 20, 128 << 20);
            Assert.True(byMetric[Metrics.CgroupRss] >= 32 << 20, $"cgroup rss {byMetric[Metrics.CgroupRss]}");
            // Two files read one after the other while the daemon grows 64 MiB a second: on a loaded machine the later read
            // can be ahead by what it grew in between, so the check allows 125 ms of growth (8 MiB).
            Assert.True(byMetric[Metrics.CgroupUsage] >= byMetric[Metrics.CgroupRss] - (8 << 20), $"cgroup usage {byMetric[Metrics.CgroupUsage]}, rss {byMetric[Metrics.CgroupRss]}");
            Assert.Equal(0, cgroup.ReadOomKills());
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
            Assert.True(await cgroup.TryRemoveAsync(TimeSpan.FromSeconds(5)));
        }
    }
}
