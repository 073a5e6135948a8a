using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Tests.Building;

/// <summary>Real gcc builds for the build tests: one C source compiled into a folder, the source removed afterwards so
/// the folder holds only what a build deploys.</summary>
internal static class Gcc
{
    public static async Task CompileAsync(string dir, string source, string output, params string[] flags)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, output))!);
        // One name for every build: the file name is part of the symbol table, which a fingerprint keeps.
        var file = Path.Combine(dir, "daemon.c");
        await File.WriteAllTextAsync(file, source);
        var result = await CliWrap.Cli.Wrap("gcc")
            .WithArguments(["-O2", "-o", output, "daemon.c", .. flags])
            .WithWorkingDirectory(dir)
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync();
        File.Delete(file);
        Assert.True(result.ExitCode == 0, result.StandardError);
    }
}
