using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Building;

/// <summary>
/// The shared libraries each ELF file of an artifact needs, as <c>readelf -d</c> (binutils) lists them. A build's
/// configure step links whatever optional libraries the build machine has: journald v247 built where liblzma-dev was
/// installed compressed its journal with xz, whose 4 MiB buffers fragmented every build's heap and hid the regression
/// (docs/case-journald.md, runs 19–21). Listing them in <c>recipe check</c> shows that before a run is spent on it.
/// </summary>
public static class LinkedLibraries
{
    /// <summary>Every ELF file below <paramref name="directory"/> (paths relative to it, ordinal order) with its needed
    /// libraries; null when readelf is not installed.</summary>
    public static async Task<IReadOnlyList<LinkedFile>?> ReadAsync(string directory, CancellationToken ct = default)
    {
        var files = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(BuildFingerprint.IsElf)
            .Select(f => Path.GetRelativePath(directory, f))
            .Order(StringComparer.Ordinal)
            .ToList();
        var linked = new List<LinkedFile>();
        foreach (var file in files)
        {
            BufferedCommandResult result;
            try
            {
                result = await CliWrap.Cli.Wrap("readelf").WithArguments(["-d", "-W", Path.Combine(directory, file)])
                    .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(ct);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
            linked.Add(new LinkedFile(file, Parse(result.StandardOutput)));
        }
        return linked;
    }

    /// <summary>How the results store keeps a build's list (the builds table's links_json).</summary>
    public static string ToJson(IReadOnlyList<LinkedFile> files) => System.Text.Json.JsonSerializer.Serialize(files);

    public static IReadOnlyList<LinkedFile> FromJson(string json) =>
        System.Text.Json.JsonSerializer.Deserialize<List<LinkedFile>>(json) ?? [];

    /// <summary>The names in readelf's <c>(NEEDED) Shared library: [libm.so.6]</c> lines; none for a static binary.</summary>
    internal static IReadOnlyList<string> Parse(string readelfDynamic) =>
        readelfDynamic.Split('\n')
            .Where(line => line.Contains("(NEEDED)", StringComparison.Ordinal))
            .Select(line => line[(line.IndexOf('[', StringComparison.Ordinal) + 1)..line.LastIndexOf(']')])
            .ToList();
}
