using System.Security.Cryptography;
using System.Text;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Diagnosis;

/// <summary>
/// The heapstats LD_PRELOAD shim (Assets/heapstats.c), compiled with this machine's gcc on first use and cached by
/// source hash, so every trial after the first reuses one <c>.so</c> and a changed shim never meets a stale binary.
/// </summary>
public static class HeapShim
{
    public const string FileEnv = "BISECTOR_HEAP_FILE";
    public const string IntervalEnv = "BISECTOR_HEAP_INTERVAL_MS";

    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static string Source { get; } = ReadSource();

    public static string SourceHash { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Source)))[..16];

    /// <summary>~/.cache/bisector (or $XDG_CACHE_HOME/bisector): outlives runs, so the shim is compiled once per machine.</summary>
    public static string DefaultCacheDirectory =>
        Path.Combine(
            Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
            "bisector");

    /// <summary>Returns the path of the compiled shim, compiling it when this source hash has no cached copy.</summary>
    /// <exception cref="WorkerException">gcc is missing or fails; names the command and its stderr.</exception>
    public static async Task<string> EnsureBuiltAsync(string worker, string? cacheDirectory = null, CancellationToken ct = default)
    {
        var directory = cacheDirectory ?? DefaultCacheDirectory;
        var library = Path.Combine(directory, $"heapstats-{SourceHash}.so");
        if (File.Exists(library))
            return library;

        await Gate.WaitAsync(ct);
        try
        {
            if (File.Exists(library))
                return library;
            Directory.CreateDirectory(directory);
            // Compiled under a unique name and renamed: another bisector process may compile the same hash at once,
            // and a half-written .so must never be preloaded.
            var unique = Path.Combine(directory, $".heapstats-{SourceHash}-{Guid.NewGuid():N}");
            await File.WriteAllTextAsync(unique + ".c", Source, ct);
            string[] args = ["-O2", "-shared", "-fPIC", "-o", unique + ".so", unique + ".c", "-lpthread"];
            BufferedCommandResult result;
            try
            {
                result = await CliWrap.Cli.Wrap("gcc").WithArguments(args).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(ct);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new WorkerException(worker, $"sampling.heap-counters needs gcc to compile the heapstats shim, but gcc cannot be started ({e.Message})",
                    "install gcc (apt-get install gcc libc6-dev) or set sampling.heap-counters: false", e);
            }
            finally
            {
                File.Delete(unique + ".c");
            }

            if (result.ExitCode != 0)
            {
                File.Delete(unique + ".so");
                throw new WorkerException(worker,
                    $"gcc {string.Join(' ', args)} failed with exit code {result.ExitCode} in {Environment.CurrentDirectory}:\n{result.StandardError.Trim()}",
                    "install libc6-dev (glibc ≥ 2.33 for mallinfo2) or set sampling.heap-counters: false");
            }

            File.Move(unique + ".so", library, overwrite: true);
            return library;
        }
        finally
        {
            Gate.Release();
        }
    }

    private static string ReadSource()
    {
        using var stream = typeof(HeapShim).Assembly.GetManifestResourceStream("Bisector.Diagnosis.Assets.heapstats.c")
            ?? throw new InvalidOperationException("the embedded heapstats.c is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
