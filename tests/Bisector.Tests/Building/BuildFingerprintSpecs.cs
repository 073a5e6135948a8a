using Bisector.Building;
using Bisector.Tests.Demo;

namespace Bisector.Tests.Building;

/// <summary>The fingerprint of identical builds on real gcc builds: code and data count, debug info and build ids do not.</summary>
public sealed class BuildFingerprintSpecs : IDisposable
{
    private readonly TempDir _temp = new();

    private const string Source = """
        #include <stdio.h>
        #include <stdlib.h>

        /* The table the daemon keeps. */
        static int table[64];

        int main(int argc, char **argv) {
                for (int i = 0; i < 64; i++)
                        table[i] = i * argc;
                printf("%d\n", table[argc % 64]);
                return argv[0] == NULL;
        }
        """;

    /// <summary>Compiles <paramref name="source"/> with -O2 -g into its own folder and returns that folder.</summary>
    private async Task<string> CompileAsync(string name, string source, string buildId = "sha1")
    {
        var dir = _temp.Sub(name);
        await Gcc.CompileAsync(dir, source, "daemon", "-g", $"-Wl,--build-id={buildId}");
        return dir;
    }

    private static Task<string> FingerprintAsync(string dir) => BuildFingerprint.ComputeAsync(dir, ["daemon"]);

    private static string Bytes(string dir) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, "daemon"))));

    [Fact(Timeout = 60_000)]
    public async Task I_can_see_a_comment_only_change_built_with_debug_info_as_the_same_build()
    {
        // Arrange: the longer comment moves every later line, so the debug info (and the build id over it) differ
        var before = await CompileAsync("before", Source);
        var after = await CompileAsync("after", Source.Replace("/* The table the daemon keeps. */",
            "/* The table the daemon keeps.\n * It is filled once at startup\n * and never grows. */"));

        // Act
        var (a, b) = (await FingerprintAsync(before), await FingerprintAsync(after));

        // Assert
        Assert.NotEqual(Bytes(before), Bytes(after));
        Assert.Equal(a, b);
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_see_a_code_change_as_a_different_build()
    {
        // Arrange
        var before = await CompileAsync("before", Source);
        var after = await CompileAsync("after", Source.Replace("table[i] = i * argc;", "table[i] = i + argc;"));

        // Act
        var (a, b) = (await FingerprintAsync(before), await FingerprintAsync(after));

        // Assert
        Assert.NotEqual(a, b);
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_see_a_data_change_as_a_different_build()
    {
        // Arrange: only a string constant (.rodata) differs
        var before = await CompileAsync("before", Source);
        var after = await CompileAsync("after", Source.Replace("\"%d\\n\"", "\"%d!\\n\""));

        // Act
        var (a, b) = (await FingerprintAsync(before), await FingerprintAsync(after));

        // Assert
        Assert.NotEqual(a, b);
    }

    [Fact(Timeout = 60_000)]
    public async Task I_can_see_builds_that_differ_only_in_their_build_id_as_the_same_build()
    {
        // Arrange
        var one = await CompileAsync("one", Source, "0x1111111111111111");
        var two = await CompileAsync("two", Source, "0x2222222222222222");

        // Act
        var (a, b) = (await FingerprintAsync(one), await FingerprintAsync(two));

        // Assert
        Assert.NotEqual(Bytes(one), Bytes(two));
        Assert.Equal(a, b);
    }

    [Fact(Timeout = 30_000)]
    public async Task I_can_see_other_files_compared_by_content_and_by_name()
    {
        // Arrange
        var dir = _temp.Sub("files");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "a.conf"), "size = 4\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "b.conf"), "size = 4\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "c.conf"), "size = 5\n");

        // Act
        var a = await BuildFingerprint.ComputeAsync(dir, ["a.conf"]);
        var aAgain = await BuildFingerprint.ComputeAsync(dir, ["a.conf"]);
        var b = await BuildFingerprint.ComputeAsync(dir, ["b.conf"]);
        var c = await BuildFingerprint.ComputeAsync(dir, ["c.conf"]);

        // Assert
        Assert.Equal(a, aAgain);
        Assert.NotEqual(a, b);
        Assert.NotEqual(a, c);
    }

    public void Dispose() => _temp.Dispose();
}
