using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace Bisector.Recipes;

/// <summary>
/// The recipe's identity for the build cache and stored results: SHA-256 over a canonical JSON form of the validated
/// values. Computed from the record, not the text, so comments, key order, quoting and equivalent spellings
/// (<c>300s</c> vs <c>5m</c>, <c>1G</c> vs <c>1024M</c>) do not change it, while any value that changes behaviour does.
/// </summary>
internal static class RecipeHash
{
    /// <summary>Bump when the canonical form changes, so old cache entries are not mistaken for new ones.</summary>
    private const int FormatVersion = 1;

    /// <param name="patchDigests">SHA-256 of each patch file's content, in order: editing a patch must change the hash
    /// even though its path does not.</param>
    public static string Compute(Recipe recipe, IReadOnlyList<string> patchDigests)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("format", FormatVersion);
            // Description is prose for humans and SourceFile is where the file happens to live: neither changes a result.
            w.WriteString("name", recipe.Name);

            var b = recipe.Build;
            w.WriteStartObject("build");
            w.WriteString("mode", b.Mode.ToString());
            Strings(w, "prepare", b.Prepare);
            Strings(w, "patches", patchDigests);
            Strings(w, "steps", b.Steps);
            Strings(w, "artifacts", b.Artifacts);
            if (b.SparseExclude.Count > 0)
                Strings(w, "sparse-exclude", b.SparseExclude);
            Map(w, "env", b.Env);
            Duration(w, "timeout", b.Timeout);
            w.WriteEndObject();

            var r = recipe.Run;
            w.WriteStartObject("run");
            w.WriteString("command", r.Command);
            Map(w, "env", r.Env);
            Map(w, "files", r.Files);
            if (r.Ready is { } ready)
            {
                w.WriteStartObject("ready");
                w.WriteString("file", ready.File);
                Duration(w, "timeout", ready.Timeout);
                w.WriteEndObject();
            }

            w.WriteNumber("memory-limit", r.MemoryLimitBytes);
            w.WriteStartObject("isolation");
            w.WriteBoolean("mount", r.Isolation.Mount);
            w.WriteBoolean("pid", r.Isolation.Pid);
            w.WriteBoolean("network", r.Isolation.Network);
            Strings(w, "tmpfs", r.Isolation.Tmpfs);
            w.WriteEndObject();
            Duration(w, "stop-timeout", r.StopTimeout);
            w.WriteEndObject();

            if (recipe.Workload is { } workload)
            {
                w.WriteStartObject("workload");
                w.WriteString("command", workload.Command);
                Map(w, "env", workload.Env);
                w.WriteBoolean("restart", workload.Restart);
                w.WriteEndObject();
            }

            var s = recipe.Sampling;
            w.WriteStartObject("sampling");
            Duration(w, "interval", s.Interval);
            Duration(w, "warmup", s.Warmup);
            Duration(w, "window", s.Window);
            Strings(w, "metrics", s.Metrics);
            w.WriteBoolean("heap-counters", s.HeapCounters);
            w.WriteEndObject();

            var d = recipe.Decide;
            w.WriteStartObject("decide");
            w.WriteString("metric", d.Metric);
            w.WriteString("feature", d.Feature.ToString());
            w.WriteString("direction", d.Direction.ToString());
            // "R" round-trips the double exactly, in the invariant culture, so 0.5 and 0.50 hash alike.
            w.WriteString("min-effect", d.MinEffect.ToString("R", CultureInfo.InvariantCulture));
            w.WriteEndObject();

            w.WriteStartObject("trials");
            w.WriteNumber("repeats", recipe.Trials.Repeats);
            w.WriteNumber("max", recipe.Trials.Max);
            w.WriteEndObject();

            w.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var value in values)
            w.WriteStringValue(value);
        w.WriteEndArray();
    }

    private static void Map(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string> map)
    {
        // Sorted ordinally: key order in the YAML is formatting, not meaning.
        w.WriteStartObject(name);
        foreach (var (key, value) in map.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            w.WriteString(key, value);
        w.WriteEndObject();
    }

    private static void Duration(Utf8JsonWriter w, string name, TimeSpan value) => w.WriteNumber(name, value.Ticks);
}
