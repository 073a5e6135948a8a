using System.Reflection;
using System.Runtime.InteropServices;

namespace Bisector.Runs;

/// <summary>What every stored result records about the tool and machine that produced it.</summary>
public static class ToolInfo
{
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    public static string HostDescription() =>
        $"{Environment.MachineName}; {RuntimeInformation.OSDescription}; {Environment.ProcessorCount} cpu; " +
        $"{GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024)} MiB; .NET {Environment.Version}";
}
