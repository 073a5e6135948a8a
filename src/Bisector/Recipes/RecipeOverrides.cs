using System.Security.Cryptography;

namespace Bisector.Recipes;

/// <summary>
/// Applies the values bisect.yaml and command-line flags may override (repeats, max trials, window, warm-up) to a
/// validated recipe, re-checking the combinations the loader checks and recomputing the hash, since these values change
/// what a result means.
/// </summary>
public static class RecipeOverrides
{
    /// <summary>Overrides from command-line flags; errors are <see cref="UsageException"/>s naming the flag.</summary>
    public static Recipe WithFlags(Recipe recipe, int? repeats = null, int? maxTrials = null, TimeSpan? window = null, TimeSpan? warmup = null) =>
        Apply(recipe, repeats, maxTrials, window, warmup, static (key, problem, fix) => new UsageException("--" + key, problem, fix));

    /// <summary>Overrides from bisect.yaml; errors are <see cref="ConfigException"/>s naming that file and key.</summary>
    public static Recipe WithProjectConfig(Recipe recipe, ProjectConfig config) =>
        Apply(recipe, config.Repeats, config.MaxTrials, config.Window, config.Warmup,
            (key, problem, fix) => new ConfigException(config.SourceFile, config.LineOf(key), $"'{key}': {problem}", fix));

    /// <summary>Overrides a run stored at its start; failing now means the recipe file changed since (its sampling
    /// interval, say), which the error says instead of blaming a flag nobody typed this time.</summary>
    public static Recipe WithStoredRun(Recipe recipe, string runId, int? repeats, int? maxTrials, TimeSpan? window, TimeSpan? warmup) =>
        Apply(recipe, repeats, maxTrials, window, warmup, (key, problem, fix) => new ConfigException(recipe.SourceFile, null,
            $"run {runId}'s {key} no longer fits this recipe: {problem}", "restore the recipe the run started with, or start a new run"));

    /// <summary>
    /// <c>--find-fix</c>: the run decides on the opposite of the direction the recipe calls a regression, so a recipe
    /// written for regressions (<c>direction: increase</c>) finds the commit that lowered the feature. The hash changes
    /// with the direction, as it would for the recipe edited by hand, and a resume applies the same flip. A recipe that
    /// already decides on a decrease would be flipped to look for an increase, the opposite of a fix: an error naming
    /// the flag and the recipe line.
    /// </summary>
    /// <exception cref="UsageException">The recipe already says <c>direction: decrease</c>.</exception>
    public static Recipe FindingFix(Recipe recipe)
    {
        if (recipe.Decide.Direction == RegressionDirection.Decrease)
        {
            var at = DirectionLine(recipe.SourceFile) is { } line ? $"{recipe.SourceFile}:{line}" : recipe.SourceFile;
            throw new UsageException("--find-fix", $"the recipe {at} already decides on a decrease ('decide.direction: decrease'), " +
                "so --find-fix would turn it into a search for an increase",
                "Leave out --find-fix (the recipe already looks for the commit that lowered memory), or write 'direction: increase' in the recipe and keep --find-fix");
        }

        var flipped = recipe with { Decide = recipe.Decide with { Direction = RegressionDirection.Decrease } };
        return flipped with { Hash = RecipeHash.Compute(flipped, PatchDigests(recipe)) };
    }

    private static int? DirectionLine(string file)
    {
        try
        {
            var lines = File.ReadAllLines(file);
            var index = Array.FindIndex(lines, l => l.TrimStart().StartsWith("direction:", StringComparison.Ordinal));
            return index < 0 ? null : index + 1;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static Recipe Apply(Recipe recipe, int? repeats, int? maxTrials, TimeSpan? window, TimeSpan? warmup,
        Func<string, string, string, BisectorException> error)
    {
        if (repeats is null && maxTrials is null && window is null && warmup is null)
            return recipe;

        var r = repeats ?? recipe.Trials.Repeats;
        if (r is < 2 or > 1000)
            throw error("repeats", $"{r} is out of range", "use 2 to 1000 trials per commit");
        // As in the loader: raising repeats alone lifts the cap with it.
        var max = maxTrials ?? Math.Max(recipe.Trials.Max, r);
        if (max is < 2 or > 10_000)
            throw error("max-trials", $"{max} is out of range", "use 2 to 10000");
        if (max < r)
            throw error("max-trials", $"{max} is smaller than the {r} repeats", $"use at least {r}");

        var interval = recipe.Sampling.Interval;
        var w = window ?? recipe.Sampling.Window;
        if (w <= interval || w > TimeSpan.FromDays(1))
            throw error("window", $"{ConfigValues.FormatDuration(w)} is not longer than the sampling interval ({ConfigValues.FormatDuration(interval)}) or is over 24h",
                "use a window several intervals long, e.g. 10s");
        var wu = warmup ?? recipe.Sampling.Warmup;
        if (wu < TimeSpan.Zero || wu > TimeSpan.FromDays(1))
            throw error("warmup", $"{ConfigValues.FormatDuration(wu)} is out of range", "use 0s to 24h");
        if ((wu + w) / interval > RecipeLoader.MaxSamplesPerTrial)
            throw error("window", $"warm-up plus window is more than {RecipeLoader.MaxSamplesPerTrial} samples at the recipe's interval",
                "use a shorter window, or a longer sampling.interval in the recipe");

        var changed = recipe with
        {
            Trials = new TrialsSpec(r, max),
            Sampling = recipe.Sampling with { Window = w, Warmup = wu },
        };
        return changed with { Hash = RecipeHash.Compute(changed, PatchDigests(recipe)) };
    }

    private static string[] PatchDigests(Recipe recipe)
    {
        try
        {
            return recipe.Build.Patches.Select(path =>
            {
                using var stream = File.OpenRead(path);
                return Convert.ToHexStringLower(SHA256.HashData(stream));
            }).ToArray();
        }
        catch (IOException ex)
        {
            throw new ConfigException(recipe.SourceFile, null, $"a patch file can no longer be read: {ex.Message}", "restore the patch file the recipe lists");
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ConfigException(recipe.SourceFile, null, $"a patch file can no longer be read: {ex.Message}", "check the patch file's permissions");
        }
    }
}
