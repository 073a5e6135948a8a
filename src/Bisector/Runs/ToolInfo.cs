using System.Reflection;
using System.Runtime.InteropServices;
using Bisector.Reporting;

namespace Bisector.Runs;

/// <summary>What every stored result records about the tool and machine that produced it.</summary>
public static class ToolInfo
{
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    public static HostInfo Host() => new(
        Environment.MachineName,
        RuntimeInformation.OSDescription,
        ReadKernel(),
        Environment.ProcessorCount,
        GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
        $".NET {Environment.Version}");

    private static string ReadKernel()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>The command a user types to reproduce this invocation, quoted for a POSIX shell.</summary>
    public static string ReproduceCommand(IEnumerable<string> args) =>
        "bisector " + string.Join(' ', args.Select(a =>
            a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@^~%+".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'"));
}
