using System.Diagnostics;
using System.Globalization;
using System.Text;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Diagnosis;

/// <summary>
/// Cost of sampling.heap-counters: CPU time of an allocation-bound C program with and without the heapstats shim.
/// The program does nothing but malloc/realloc/free over a ring of 4,096 live blocks of mixed sizes, so the shim's
/// per-call counters and its periodic <c>mallinfo2()</c> walk over a busy heap weigh as much as they ever can;
/// a real daemon spends most of its time elsewhere and pays less. Runs alternate (plain, shim) to share the noise.
/// </summary>
public static class HeapShimBenchmark
{
    private const string Program = """
        #define _GNU_SOURCE
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <time.h>
        #define RING 4096
        static void *ring[RING];
        int main(int argc, char **argv) {
            long ops = atol(argv[1]);
            unsigned long x = 88172645463325252UL, sum = 0;
            for (long i = 0; i < ops; i++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                unsigned slot = x % RING;
                size_t size = 16 + (x >> 20) % ((x & 7) == 0 ? 16384 : 512);
                if (x & 0x100) { free(ring[slot]); ring[slot] = malloc(size); }
                else ring[slot] = realloc(ring[slot], size);
                if (ring[slot]) { ((char *)ring[slot])[0] = (char)i; sum += ((unsigned char *)ring[slot])[0]; }
            }
            struct timespec cpu;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
            printf("%.6f %lu\n", cpu.tv_sec + cpu.tv_nsec / 1e9, sum);
            return 0;
        }
        """;

    public static async Task<string> RunAsync(int repeats = 7, long operations = 20_000_000, CancellationToken ct = default)
    {
        var work = Directory.CreateTempSubdirectory("bisector-bench-heap-").FullName;
        try
        {
            var shim = await HeapShim.EnsureBuiltAsync("bench", ct: ct);
            await File.WriteAllTextAsync(Path.Combine(work, "alloc.c"), Program, ct);
            await CliWrap.Cli.Wrap("gcc").WithArguments(["-O2", "-o", "alloc", "alloc.c"]).WithWorkingDirectory(work).ExecuteBufferedAsync(ct);

            var plain = new List<double>();
            var shim100 = new List<double>();
            var shim10 = new List<double>();
            for (var i = 0; i < repeats; i++)
            {
                plain.Add(await CpuSecondsAsync(work, operations, null, null, ct));
                shim100.Add(await CpuSecondsAsync(work, operations, shim, "100", ct));
                shim10.Add(await CpuSecondsAsync(work, operations, shim, "10", ct));
            }

            var basis = Median(plain);
            var text = new StringBuilder();
            text.AppendLine("## Heap counters (sampling.heap-counters): CPU cost of the heapstats shim");
            text.AppendLine();
            text.AppendLine(Inv($"Allocation-bound C loop, {operations:N0} malloc/realloc/free over 4,096 live blocks (16 B – 16 KiB), {repeats} alternating runs each, CPU time of the whole process (all threads) on {Environment.ProcessorCount} shared core(s), {DateTime.UtcNow:yyyy-MM-dd}."));
            text.AppendLine();
            text.AppendLine("| setting | median CPU s | min | max | overhead vs plain |");
            text.AppendLine("|---|---|---|---|---|");
            foreach (var (name, values) in new[] { ("plain (no shim)", plain), ("shim, publish every 100 ms (demo recipe)", shim100), ("shim, publish every 10 ms", shim10) })
            {
                var m = Median(values);
                text.AppendLine(Inv($"| {name} | {m:0.000} | {values.Min():0.000} | {values.Max():0.000} | {(m - basis) / basis * 100:+0.00;-0.00;0.00}% |"));
            }

            return text.ToString();
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static async Task<double> CpuSecondsAsync(string work, long operations, string? shim, string? intervalMs, CancellationToken ct)
    {
        var heapFile = Path.Combine(work, "heapstats");
        var command = CliWrap.Cli.Wrap(Path.Combine(work, "alloc")).WithArguments([operations.ToString(CultureInfo.InvariantCulture)]).WithWorkingDirectory(work);
        if (shim is not null)
        {
            command = command.WithEnvironmentVariables(e => e.Set("LD_PRELOAD", shim).Set(HeapShim.FileEnv, heapFile).Set(HeapShim.IntervalEnv, intervalMs));
        }

        var result = await command.ExecuteBufferedAsync(ct);
        if (shim is not null && !File.Exists(heapFile))
        {
            throw new InvalidOperationException("the shim did not publish; the benchmark would measure nothing");
        }

        return double.Parse(result.StandardOutput.Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
