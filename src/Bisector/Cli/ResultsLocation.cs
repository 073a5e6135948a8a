using Bisector.Runs;
using Bisector.Storage;

namespace Bisector.Cli;

/// <summary>Where results live when a command is not told: bisect.yaml's 'results:' in the current folder, else ./results.</summary>
internal static class ResultsLocation
{
    public static string Resolve(string? flag)
    {
        if (!string.IsNullOrWhiteSpace(flag))
        {
            return Path.GetFullPath(flag);
        }

        var config = Path.Combine(Directory.GetCurrentDirectory(), "bisect.yaml");
        if (File.Exists(config) && Recipes.ProjectConfigLoader.Load(config) is { Results: { } results })
        {
            return results;
        }

        return Path.GetFullPath("results");
    }

    /// <summary>Opens a database that must already exist: a read command never creates an empty one by accident.</summary>
    public static async Task<ResultsStore> OpenExistingAsync(string resultsDirectory, CancellationToken ct)
    {
        var path = RunEngine.DatabasePath(resultsDirectory);
        if (!File.Exists(path))
        {
            throw new StorageException($"--results: no database at {path}", "Pass the results folder of a run with --results, or start a run first");
        }

        return await ResultsStore.OpenAsync(path, ct);
    }
}
