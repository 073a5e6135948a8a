using System.Diagnostics;
using System.Text;
using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Tests.Journald;

namespace Bisector.Tests.Diagnosis;

/// <summary>The heapstats shim's part of diagnosis by experiment, on a real process: the trim probe gives free heap
/// memory back and marks the moment in its record, and the record says which allocator serves malloc().</summary>
public sealed class TrimProbeShimSpecs
{
    // 40 MiB of 64 KiB blocks (below the mmap threshold, so in the main heap); every block but the last is freed, which
    // leaves the freed memory trapped below a live block at the top: free but held, exactly what a trim returns.
    private const string ProgramSource = """
        #include <stdlib.h>
        #include <stdio.h>
        #include <string.h>
        int main(void) {
            enum { N = 640, SIZE = 64 * 1024 };
            static char *blocks[N];
            for (int i = 0; i < N; i++) { blocks[i] = malloc(SIZE); memset(blocks[i], 1, SIZE); }
            for (int i = 0; i < N - 1; i++) free(blocks[i]);
            printf("ready\n"); fflush(stdout);
            while (getchar() != EOF) {}
            free(blocks[N - 1]);
            return 0;
        }
        """;

    [Fact(Timeout = 120000)]
    public async Task I_can_see_the_trim_probe_give_free_heap_memory_back_at_the_time_asked()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(110));
        using var fx = new NativeFixture();
        var (shim, prog) = await BuildAsync(fx, cts.Token);
        var heapFile = Path.Combine(fx.Dir, "heap.txt");

        // Act: the trim is asked for 1.5 s after start; RSS is read before and after it
        using var p = Start(prog, shim, heapFile, new() { [Experiment.TrimAtEnv] = "1.5" });
        long before, after;
        HeapCounters early, late;
        try
        {
            Assert.Equal("ready", await p.StandardOutput.ReadLineAsync(cts.Token));
            early = await RecordAsync(heapFile, cts.Token);
            before = RssAnon(p.Id);
            while ((late = await RecordAsync(heapFile, cts.Token)).Trims < 1)
                await Task.Delay(50, cts.Token);
            after = RssAnon(p.Id);
        }
        finally
        {
            p.StandardInput.Close();
            await p.WaitForExitAsync(cts.Token);
        }

        // Assert: ~39 MiB were free but held; the trim gave most of it back, and the record marks it (0 → 1)
        Assert.Equal(0, early.Trims);
        Assert.Equal(1, late.Trims);
        Assert.Equal(0, late.ForeignMalloc);
        Assert.True(before - after > 30 << 20, $"RssAnon {before >> 10} kB before the trim, {after >> 10} kB after");
        Assert.Equal(0, p.ExitCode);
    }

    [Fact(Timeout = 120000)]
    public async Task I_can_tell_from_the_shims_record_that_jemalloc_serves_malloc_when_preloaded_before_it()
    {
        Assert.True(Experimenter.LibraryInstalled("libjemalloc.so.2"), "libjemalloc.so.2 is missing: apt-get install libjemalloc2 (scripts/test.sh installs it)");

        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(110));
        using var fx = new NativeFixture();
        var (shim, prog) = await BuildAsync(fx, cts.Token);
        var heapFile = Path.Combine(fx.Dir, "heap.txt");

        // Act: the order the workers use: the recipe's LD_PRELOAD (the experiment's allocator) first, then the shim
        using var p = Start(prog, "libjemalloc.so.2 " + shim, heapFile, []);
        HeapCounters record;
        try
        {
            Assert.Equal("ready", await p.StandardOutput.ReadLineAsync(cts.Token));
            record = await RecordAsync(heapFile, cts.Token);
        }
        finally
        {
            p.StandardInput.Close();
            await p.WaitForExitAsync(cts.Token);
        }

        // Assert: malloc() went to jemalloc, so glibc's arena stayed almost empty
        Assert.Equal(1, record.ForeignMalloc);
        Assert.True(record.InUse < 1 << 20, $"glibc's arena holds {record.InUse} bytes in use");
        Assert.Equal(0, p.ExitCode);
    }

    private static async Task<(string Shim, string Prog)> BuildAsync(NativeFixture fx, CancellationToken ct)
    {
        var shimSource = Path.Combine(fx.Dir, "heapstats.c");
        await File.WriteAllTextAsync(shimSource, NativeFixture.EmbeddedText("heapstats.c"), ct);
        var shim = await fx.GccAsync("heapstats.so", ct, "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", shimSource, "-lpthread");
        var progSource = Path.Combine(fx.Dir, "prog.c");
        await File.WriteAllTextAsync(progSource, ProgramSource, ct);
        return (shim, await fx.GccAsync("prog", ct, "-O0", progSource));
    }

    private static Process Start(string prog, string preload, string heapFile, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(prog) { RedirectStandardInput = true, RedirectStandardOutput = true };
        psi.Environment["LD_PRELOAD"] = preload;
        psi.Environment[HeapShim.FileEnv] = heapFile;
        psi.Environment[HeapShim.IntervalEnv] = "20";
        foreach (var (key, value) in env)
            psi.Environment[key] = value;
        return Process.Start(psi)!;
    }

    private static async Task<HeapCounters> RecordAsync(string heapFile, CancellationToken ct)
    {
        while (true)
        {
            var raw = File.Exists(heapFile) ? await File.ReadAllBytesAsync(heapFile, ct) : [];
            if (HeapCounters.TryParse(raw, out var counters))
                return counters;
            await Task.Delay(20, ct);
        }
    }

    private static long RssAnon(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status", Encoding.ASCII).First(l => l.StartsWith("RssAnon:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
