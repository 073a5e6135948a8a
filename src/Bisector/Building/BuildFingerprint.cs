using System.Security.Cryptography;
using System.Text;
using CliWrap;

namespace Bisector.Building;

/// <summary>
/// What an artifact deploys, without what only describes it: two builds with the same fingerprint run the same code
/// on the same data, so they measure the same and share their trials. ELF files are hashed as
/// <c>objcopy --strip-debug --remove-section=.note.gnu.build-id --remove-section=.gnu_debuglink</c> writes them (binutils
/// is the definition of those sections; a comment that moves line numbers changes only the debug info, and the build id
/// hashes the debug info too); every other file by its bytes. Unlike <see cref="Artifact.ContentHash"/>, which names the
/// exact bytes a worker must receive, this is never used to deploy anything.
/// </summary>
public static class BuildFingerprint
{
    /// <summary>The file that keeps an artifact's fingerprint next to its content-hash marker in the cache.</summary>
    public const string MarkerFile = ".bisector-fingerprint";

    private static readonly byte[] ElfMagic = [0x7f, (byte)'E', (byte)'L', (byte)'F'];

    /// <summary>Whether the file starts like an ELF object (executable, shared library).</summary>
    internal static bool IsElf(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        return stream.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && head.SequenceEqual(ElfMagic);
    }

    /// <summary>The fingerprint of <paramref name="files"/> (relative to <paramref name="root"/>), in ordinal order of
    /// their paths. An ELF file objcopy cannot rewrite (or objcopy missing) counts by its bytes, tagged so that it never
    /// equals a stripped one: such builds group only when byte-identical.</summary>
    public static async Task<string> ComputeAsync(string root, IEnumerable<string> files, CancellationToken ct = default)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var relative in files.Order(StringComparer.Ordinal))
        {
            var path = Path.Combine(root, relative);
            var (kind, bytes) = await CodeAndDataAsync(path, ct);
            hash.AppendData(Encoding.UTF8.GetBytes($"{relative}\0{kind}\0"));
            hash.AppendData(bytes);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static async Task<(string Kind, byte[] Bytes)> CodeAndDataAsync(string path, CancellationToken ct)
    {
        var bytes = await File.ReadAllBytesAsync(path, ct);
        if (!bytes.AsSpan().StartsWith(ElfMagic))
        {
            return ("file", bytes);
        }

        var stripped = Path.Combine(Path.GetTempPath(), $"bisector-fp-{Guid.NewGuid():N}");
        try
        {
            var result = await CliWrap.Cli.Wrap("objcopy")
                .WithArguments(["--strip-debug", "--remove-section=.note.gnu.build-id", "--remove-section=.gnu_debuglink", path, stripped])
                .WithValidation(CommandResultValidation.None)
                .ExecuteAsync(ct);
            return result.ExitCode == 0 && File.Exists(stripped)
                ? ("elf-stripped", await File.ReadAllBytesAsync(stripped, ct))
                : ("elf-bytes", bytes);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // objcopy is not installed: identical bytes are still identical builds.
            return ("elf-bytes", bytes);
        }
        finally
        {
            File.Delete(stripped);
        }
    }
}
