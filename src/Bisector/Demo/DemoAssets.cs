using System.Reflection;

namespace Bisector.Demo;

/// <summary>The C sources of the demo daemon, embedded from <c>Demo/Assets/</c> so the tool can generate the repository anywhere.</summary>
internal static class DemoAssets
{
    private const string Prefix = "Bisector.Demo.Assets.";

    /// <summary>Repository-relative paths of the files in the first commit.</summary>
    public static readonly IReadOnlyList<string> InitialFiles =
    [
        "Makefile",
        "src/daemon/main.c",
        "src/store/cache.c",
        "src/store/cache.h",
        "src/store/reader.c",
        "src/store/reader.h",
        "src/client/demo-client.c",
    ];

    public static string Read(string repoPath)
    {
        // MSBuild names embedded resources after their folder path with dots; our folder names are plain identifiers.
        var name = Prefix + repoPath.Replace('/', '.');
        using var stream = typeof(DemoAssets).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded demo asset '{name}' is missing; check the EmbeddedResource glob in Bisector.csproj.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    }
}
