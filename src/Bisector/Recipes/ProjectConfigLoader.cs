using System.Globalization;
using System.Text.RegularExpressions;

namespace Bisector.Recipes;

/// <summary>Loads <c>bisect.yaml</c>. Same error contract as <see cref="RecipeLoader"/>: only <see cref="ConfigException"/>.</summary>
public static partial class ProjectConfigLoader
{
    public const string FileName = "bisect.yaml";

    internal static readonly string[] Keys =
        ["recipe", "paths", "workers", "strategy", "confidence", "alpha", "repeats", "max-trials", "window", "warmup", "results"];

    // Recipe keys people will reasonably try here; pointing them at the right file beats "unknown key".
    private static readonly IReadOnlyDictionary<string, string> KeyHome = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["max"] = "the recipe's 'trials' (here it is 'max-trials')",
        ["interval"] = "the recipe's 'sampling'",
        ["metric"] = "the recipe's 'decide'",
        ["memory-limit"] = "the recipe's 'run'",
        ["build"] = "the recipe file",
        ["run"] = "the recipe file",
    };

    /// <summary>Loads <c>bisect.yaml</c> from <paramref name="directory"/>, or returns null when there is none.</summary>
    public static ProjectConfig? LoadIfPresent(string directory)
    {
        var path = System.IO.Path.Combine(directory, FileName);
        return File.Exists(path) ? Load(path) : null;
    }

    public static ProjectConfig Load(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ConfigException("(project config)", null, "no path was given", $"pass the path of a {FileName} file");
        var fullPath = System.IO.Path.GetFullPath(path);
        var text = YamlTree.ReadFile(fullPath, path);
        return Parse(text, path, System.IO.Path.GetDirectoryName(fullPath)!, fullPath);
    }

    /// <summary>Validates bisect.yaml text; relative paths in it are resolved against <paramref name="baseDirectory"/>.</summary>
    public static ProjectConfig Parse(string yaml, string fileName, string baseDirectory) =>
        Parse(yaml, fileName, baseDirectory, fileName);

    private static ProjectConfig Parse(string yaml, string file, string baseDirectory, string sourceFile)
    {
        var node = YamlTree.Parse(yaml, file);
        // All keys are optional, so an empty (or all-comments) bisect.yaml is valid and means "no defaults".
        if (node is null or YamlScalar { IsNull: true })
            return ProjectConfig.Empty(sourceFile);
        var s = ConfigSection.Root(file, node, Keys, KeyHome);

        var recipe = s.String("recipe");
        if (recipe is not null && string.IsNullOrWhiteSpace(recipe))
            throw s.Error("recipe", "'recipe' is empty", "give the recipe path relative to this file, e.g. recipes/mydaemon.yaml");

        var paths = s.StringList("paths");
        var workerItems = s.StringItems("workers", maxItems: 256);
        if (workerItems is { Count: 0 })
            throw s.Error("workers", "'workers' is empty", "list at least one worker, e.g. [local:2], or remove the key");
        foreach (var (worker, line) in workerItems ?? [])
        {
            if (!IsWorkerSpec(worker))
                throw new ConfigException(file, line, $"'workers' entry '{ConfigSection.Shorten(worker)}' is not a worker",
                    "write local:N, ssh://user@host[:port], container:unix:///run/docker.sock?image=NAME or slurm:PARTITION");
        }

        var strategy = s.Choice("strategy", ["bisect", "kary", "exhaustive"]) switch
        {
            null => (SearchStrategyKind?)null,
            "kary" => SearchStrategyKind.Kary,
            "exhaustive" => SearchStrategyKind.Exhaustive,
            _ => SearchStrategyKind.Bisect,
        };

        var repeats = s.Int("repeats", 2, 1000);
        var maxTrials = s.Int("max-trials", 2, 10_000);
        if (repeats is { } r && maxTrials is { } m && m < r)
            throw s.Error("max-trials", $"'max-trials' ({m}) is smaller than 'repeats' ({r})", $"set 'max-trials' to at least {r}");

        var window = s.Duration("window", TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1));
        var warmup = s.Duration("warmup", TimeSpan.Zero, TimeSpan.FromDays(1));

        var results = s.String("results");
        if (results is not null && string.IsNullOrWhiteSpace(results))
            throw s.Error("results", "'results' is empty", "give a folder relative to this file, e.g. results");

        return new ProjectConfig(
            sourceFile,
            recipe is null ? null : Resolve(baseDirectory, recipe),
            paths,
            workerItems?.Select(w => w.Value).ToArray(),
            strategy,
            s.Double("confidence", 0, 1, minExclusive: true, maxExclusive: true),
            s.Double("alpha", 0, 1, minExclusive: true, maxExclusive: true),
            repeats,
            maxTrials,
            window,
            warmup,
            results is null ? null : Resolve(baseDirectory, results))
        {
            Lines = Keys.Where(s.Has).ToDictionary(key => key, s.LineOf, StringComparer.Ordinal),
        };
    }

    private static string Resolve(string baseDirectory, string path) =>
        System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, path));

    private static bool IsWorkerSpec(string worker)
    {
        if (worker == "local")
            return true;
        if (worker.StartsWith("local:", StringComparison.Ordinal))
            return int.TryParse(worker["local:".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 256;
        if (worker.StartsWith("ssh://", StringComparison.Ordinal))
            return SshSyntax().IsMatch(worker);
        return (worker.StartsWith("container:", StringComparison.Ordinal) && worker.Length > "container:".Length)
               || (worker.StartsWith("slurm:", StringComparison.Ordinal) && worker.Length > "slurm:".Length);
    }

    [GeneratedRegex(@"^ssh://(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?/?(?:\?[^\s]*)?$")]
    private static partial Regex SshSyntax();
}
