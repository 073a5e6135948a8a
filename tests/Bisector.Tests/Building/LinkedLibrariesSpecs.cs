using Bisector.Building;
using Bisector.Tests.Demo;

namespace Bisector.Tests.Building;

/// <summary>The shared libraries an artifact's ELF files need, read from real gcc builds with readelf.</summary>
public sealed class LinkedLibrariesSpecs : IDisposable
{
    private readonly TempDir _temp = new();

    private const string Source = """
        #include <math.h>
        #include <stdio.h>

        int main(int argc, char **argv) {
                printf("%f\n", sqrt((double)argc + argv[0][0]));
                return 0;
        }
        """;

    [Fact(Timeout = 60_000)]
    public async Task I_can_see_which_shared_libraries_each_deployed_binary_needs()
    {
        // Arrange: an artifact of a dynamic binary linked with libm (its own compiler flag), a static one, and a data file
        var artifact = _temp.Sub("artifact");
        await Gcc.CompileAsync(artifact, Source, "build/daemon", "-lm");
        await Gcc.CompileAsync(artifact, Source, "build/static-daemon", "-static", "-lm");
        await File.WriteAllTextAsync(Path.Combine(artifact, "build", "daemon.conf"), "Storage=volatile\n");

        // Act
        var linked = await LinkedLibraries.ReadAsync(artifact);

        // Assert: both binaries, in path order, the data file not; libm listed because the build linked it
        Assert.NotNull(linked);
        Assert.Equal(["build/daemon", "build/static-daemon"], linked.Select(l => l.File));
        Assert.Contains("libm.so.6", linked[0].Needed);
        Assert.Contains("libc.so.6", linked[0].Needed);
        Assert.Empty(linked[1].Needed);
    }

    [Fact]
    public void I_can_read_the_needed_entries_of_readelf_output()
    {
        // Arrange: readelf -d -W of journald v247's libsystemd-shared-247.so built with compression off on this machine
        // (the head of its dynamic section), with the liblzma line a build that found liblzma-dev adds
        const string output = """

            Dynamic section at offset 0x3481e0 contains 34 entries:
              Tag        Type                         Name/Value
             0x0000000000000001 (NEEDED)             Shared library: [libcap.so.2]
             0x0000000000000001 (NEEDED)             Shared library: [liblzma.so.5]
             0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
             0x000000000000000e (SONAME)             Library soname: [libsystemd-shared-247.so]
             0x000000000000001d (RUNPATH)            Library runpath: [$ORIGIN]
            """;

        // Act
        var needed = LinkedLibraries.Parse(output);

        // Assert
        Assert.Equal(["libcap.so.2", "liblzma.so.5", "libc.so.6"], needed);
    }

    public void Dispose() => _temp.Dispose();
}
