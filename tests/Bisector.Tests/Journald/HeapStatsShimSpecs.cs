using System.Diagnostics;
using System.Globalization;

namespace Bisector.Tests.Journald;

public sealed class HeapStatsShimSpecs
{
    // A program whose heap we know: 3 blocks of 2 MiB (above glibc's 128 KiB mmap threshold, so
    // each is its own mmapped chunk), one realloc that shrinks, then it waits until stdin closes.
    private const string ProgramSource = """
        #include <stdlib.h>
        #include <stdio.h>
        #include <string.h>
        int main(void) {
            void *big[3];
            for (int i = 0; i < 3; i++) { big[i] = malloc(2u << 20); memset(big[i], 1, 4096); }
            char *s = malloc(1000);
            s = realloc(s, 100);
            printf("ready\n"); fflush(stdout);
            while (getchar() != EOF) {}
            for (int i = 0; i < 3; i++) free(big[i]);
            free(s);
            return 0;
        }
        """;

    [Fact(Timeout = 60000)]
    public async Task I_can_read_the_heap_counters_the_shim_publishes_for_a_running_process()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(55));
        using var fx = new NativeFixture();
        var shimSource = Path.Combine(fx.Dir, "heapstats.c");
        await File.WriteAllTextAsync(shimSource, NativeFixture.EmbeddedText("heapstats.c"), cts.Token);
        var shim = await fx.GccAsync("heapstats.so", cts.Token, "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", shimSource, "-lpthread");
        var progSource = Path.Combine(fx.Dir, "prog.c");
        await File.WriteAllTextAsync(progSource, ProgramSource, cts.Token);
        var prog = await fx.GccAsync("prog", cts.Token, "-O0", progSource);
        var heapFile = Path.Combine(fx.Dir, "heap.txt");

        var psi = new ProcessStartInfo(prog) { RedirectStandardInput = true, RedirectStandardOutput = true };
        psi.Environment["LD_PRELOAD"] = shim;
        psi.Environment["BISECTOR_HEAP_FILE"] = heapFile;
        psi.Environment["BISECTOR_HEAP_INTERVAL_MS"] = "10";
        using var p = Process.Start(psi)!;
        Dictionary<string, ulong> record;
        byte[] raw;
        try
        {
            Assert.Equal("ready", await p.StandardOutput.ReadLineAsync(cts.Token));

            // Act: wait for a record taken after "ready" (t_ms of a record is monotonic ms)
            var readyAt = Environment.TickCount64;
            do
            {
                await Task.Delay(20, cts.Token);
                raw = await File.ReadAllBytesAsync(heapFile, cts.Token);
                record = raw.Length == 512 ? Parse(raw) : []; // the file is empty until the first publish
            } while (!record.TryGetValue("seq", out var seq) || seq != record["end"] || Environment.TickCount64 - readyAt < 100);
        }
        finally
        {
            p.StandardInput.Close();
            await p.WaitForExitAsync(cts.Token);
        }

        // Assert
        Assert.Equal(512, raw.Length);
        Assert.Equal((byte)'\n', raw[^1]);
        Assert.Equal((ulong)p.Id, record["pid"]);
        Assert.Equal(3UL, record["big"]);
        Assert.Equal(3UL, record["h7"]);
        Assert.Equal(3UL, record["hblks"]);
        Assert.InRange(record["hblkhd"], 3UL * (2 << 20), 3UL * ((2 << 20) + 8192));
        Assert.True(record["realloc_shrink"] >= 1, "the 1000 -> 100 byte realloc is a shrink");
        Assert.True(record["uordblks"] >= 100, "the 100-byte block is in use in the arena");
        Assert.Equal(0, p.ExitCode);
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_run_a_child_of_a_preloaded_process_without_it_overwriting_the_record()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(55));
        using var fx = new NativeFixture();
        var shimSource = Path.Combine(fx.Dir, "heapstats.c");
        await File.WriteAllTextAsync(shimSource, NativeFixture.EmbeddedText("heapstats.c"), cts.Token);
        var shim = await fx.GccAsync("heapstats.so", cts.Token, "-O2", "-shared", "-fPIC", shimSource, "-lpthread");
        var heapFile = Path.Combine(fx.Dir, "heap.txt");
        var env = new Dictionary<string, string>
        {
            ["LD_PRELOAD"] = shim,
            ["BISECTOR_HEAP_FILE"] = heapFile,
            ["BISECTOR_HEAP_INTERVAL_MS"] = "10",
        };

        // The shim stays idle in processes named like shells (they only pass the environment on to the daemon), so the
        // "daemon" here is a copy of the shell under another name.
        var daemon = Path.Combine(fx.Dir, "shelld");
        File.Copy("/bin/sh", daemon);

        // Act: the shell (the "daemon") starts a child that lives longer than itself would otherwise
        var (code, stdout, _) = await NativeFixture.RunAsync(
            daemon, ["-c", "echo $$; sh -c 'echo child:$BISECTOR_HEAP_FILE; sleep 0.3'; sleep 0.1"], env, cts.Token);

        // Assert
        Assert.Equal(0, code);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var record = Parse(await File.ReadAllBytesAsync(heapFile, cts.Token));
        Assert.Equal(ulong.Parse(lines[0], CultureInfo.InvariantCulture), record["pid"]);
        Assert.Equal("child:", lines[1]);
    }

    private static Dictionary<string, ulong> Parse(byte[] raw) =>
        System.Text.Encoding.ASCII.GetString(raw)
            .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => kv.Split('='))
            .ToDictionary(kv => kv[0], kv => ulong.Parse(kv[1], CultureInfo.InvariantCulture));
}
