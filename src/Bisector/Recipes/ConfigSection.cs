using System.Globalization;
using System.Text.RegularExpressions;

namespace Bisector.Recipes;

/// <summary>
/// Typed, line-aware access to one YAML mapping. Constructing it rejects unknown keys (with a suggestion), so a typo
/// can never silently fall back to a default. Every error names the file, the line and the dotted key.
/// </summary>
internal sealed partial class ConfigSection
{
    private readonly Dictionary<string, YamlEntry> _entries;

    public string File { get; }
    public string Path { get; }
    public int Line { get; }

    /// <param name="line">The line of the section's own key ("run:"), where a missing key is reported.</param>
    private ConfigSection(string file, string path, int line, YamlMapping mapping, IReadOnlyCollection<string> keys,
        IReadOnlyDictionary<string, string>? keysElsewhere)
    {
        File = file;
        Path = path;
        Line = line;
        _entries = mapping.Entries.ToDictionary(e => e.Key.Value, StringComparer.Ordinal);

        foreach (var entry in mapping.Entries)
        {
            var key = entry.Key.Value;
            if (keys.Contains(key))
                continue;

            var where = Path.Length == 0 ? "at the top level" : $"in '{Path}'";
            var suggestion = Suggest(key, keys);
            var fix = suggestion is not null
                ? $"did you mean '{suggestion}'?"
                : keysElsewhere is not null && keysElsewhere.TryGetValue(key, out var home)
                    ? $"'{key}' belongs under '{home}'"
                    : $"known keys {where}: {string.Join(", ", keys)}";
            throw new ConfigException(file, entry.Key.Line, $"unknown key '{Qualify(key)}' {where}", fix);
        }
    }

    /// <summary>The document root; an empty document or a non-mapping root is an error here, not later.</summary>
    public static ConfigSection Root(string file, YamlNode? root, IReadOnlyCollection<string> keys,
        IReadOnlyDictionary<string, string>? keysElsewhere = null, string? emptyFix = null)
    {
        return root switch
        {
            null => throw new ConfigException(file, null, "is empty", emptyFix ?? "write the keys the documentation lists"),
            YamlScalar { IsNull: true } => throw new ConfigException(file, root.Line, "is empty", emptyFix ?? "write the keys the documentation lists"),
            YamlMapping mapping => new ConfigSection(file, "", mapping.Line, mapping, keys, keysElsewhere),
            _ => throw new ConfigException(file, root.Line, $"must be a mapping of keys to values, not {Describe(root)}",
                "start the file with 'key: value' lines"),
        };
    }

    public bool Has(string key) => _entries.TryGetValue(key, out var e) && !(e.Value is YamlScalar { IsNull: true });

    /// <summary>The nested section under <paramref name="key"/>, or null when absent.</summary>
    public ConfigSection? Section(string key, IReadOnlyCollection<string> keys, IReadOnlyDictionary<string, string>? keysElsewhere = null)
    {
        var node = Node(key);
        return node switch
        {
            null => null,
            YamlMapping mapping => new ConfigSection(File, Qualify(key), LineOf(key), mapping, keys, keysElsewhere),
            _ => throw Wrong(key, node, "a mapping", $"write '{key}:' followed by indented 'key: value' lines"),
        };
    }

    public ConfigSection RequiredSection(string key, IReadOnlyCollection<string> keys, IReadOnlyDictionary<string, string>? keysElsewhere = null)
        => Section(key, keys, keysElsewhere) ?? throw Missing(key, $"add a '{key}:' section");

    public string? String(string key)
    {
        var node = Node(key);
        return node switch
        {
            null => null,
            YamlScalar s => s.Value,
            _ => throw Wrong(key, node, "a string", "write a single value (quote it if it contains ': ' or '#')"),
        };
    }

    public string RequiredString(string key, string fix)
    {
        var value = String(key) ?? throw Missing(key, fix);
        if (string.IsNullOrWhiteSpace(value))
            throw Error(key, $"'{Qualify(key)}' is empty", fix);
        return value;
    }

    public bool? Bool(string key)
    {
        var (scalar, text) = ScalarOf(key);
        if (scalar is null)
            return null;
        return text.ToLowerInvariant() switch
        {
            "true" => true,
            "false" => false,
            _ => throw Error(key, $"'{Qualify(key)}: {Shorten(text)}' is not a boolean", "write true or false"),
        };
    }

    public int? Int(string key, int min, int max)
    {
        var (scalar, text) = ScalarOf(key);
        if (scalar is null)
            return null;
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw Error(key, $"'{Qualify(key)}: {Shorten(text)}' is not a whole number", $"write a number from {min} to {max}");
        if (value < min || value > max)
            throw Error(key, $"'{Qualify(key)}: {text}' is out of range", $"write a number from {min} to {max}");
        return (int)value;
    }

    public double? Double(string key, double min, double max, bool minExclusive = false, bool maxExclusive = false)
    {
        var (scalar, text) = ScalarOf(key);
        if (scalar is null)
            return null;
        if (!double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw Error(key, $"'{Qualify(key)}: {Shorten(text)}' is not a number", "write a decimal number such as 0.95");
        var low = minExclusive ? value <= min : value < min;
        var high = maxExclusive ? value >= max : value > max;
        if (low || high)
        {
            var range = $"{(minExclusive ? "greater than" : "at least")} {Invariant(min)} and {(maxExclusive ? "less than" : "at most")} {Invariant(max)}";
            throw Error(key, $"'{Qualify(key)}: {text}' is out of range", $"write a number {range}");
        }

        return value;
    }

    public TimeSpan? Duration(string key, TimeSpan min, TimeSpan max)
    {
        var (scalar, text) = ScalarOf(key);
        if (scalar is null)
            return null;
        if (!ConfigValues.TryParseDuration(text, out var value))
        {
            // A bare number is the most common mistake; say which unit-ful spelling was probably meant.
            var fix = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _)
                ? $"add a unit: e.g. {text}s or {text}ms"
                : "write e.g. 5m or 90s (units: ms, s, m, h)";
            throw Error(key, $"'{Qualify(key)}: {Shorten(text)}' is not a duration", fix);
        }

        if (value < min || value > max)
            throw Error(key, $"'{Qualify(key)}: {text}' is out of range",
                $"write a duration from {ConfigValues.FormatDuration(min)} to {ConfigValues.FormatDuration(max)}");
        return value;
    }

    public long? Size(string key, long min, long max)
    {
        var (scalar, text) = ScalarOf(key);
        if (scalar is null)
            return null;
        if (!ConfigValues.TryParseSize(text, out var value))
            throw Error(key, $"'{Qualify(key)}: {Shorten(text)}' is not a size", "write bytes or a K/M/G suffix, e.g. 256M");
        if (value < min || value > max)
            throw Error(key, $"'{Qualify(key)}: {text}' is out of range",
                $"write a size from {ConfigValues.FormatSize(min)} to {ConfigValues.FormatSize(max)}");
        return value;
    }

    /// <summary>
    /// An amount of memory in bytes (<c>200K</c>, <c>1.5M</c>) or, when <paramref name="perMinute"/>, a rate in bytes per
    /// minute (<c>512K/min</c>, <c>10K/s</c>); a plain number is taken in that unit as it always was. A size where a rate
    /// is meant (or the reverse) is an error naming the spelling that was probably meant.
    /// </summary>
    public double? Amount(string key, bool perMinute, double max)
    {
        var (scalar, text) = ScalarOf(key);
        if (scalar is null)
            return null;
        var unit = perMinute ? "bytes per minute" : "bytes";
        var example = perMinute ? "512K/min" : "1M";
        var plain = double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var number);
        if (plain && double.IsFinite(number))
            return number >= 0 && number <= max ? number : throw Error(key, $"'{Qualify(key)}: {text}' is out of range", $"write at most {ConfigValues.FormatAmount(max)}{(perMinute ? "/min" : "")}, e.g. {example}");
        if (!ConfigValues.TryParseAmount(text, out var value, out var per))
            throw Error(key, $"'{Qualify(key)}: {Shorten(text)}' is not {(perMinute ? "a rate" : "a size")}",
                $"write {(perMinute ? "a rate such as 512K/min or 1M/h" : "a size such as 1M or 200K")}, or a plain number of {unit}");
        var isSize = per is null && text.Any(char.IsLetter);
        if (perMinute && per is null && isSize)
            throw Error(key, $"'{Qualify(key)}: {text}' is a size, but this feature is a slope (a rate of growth)",
                $"write a rate such as {text}/min");
        if (!perMinute && per is not null)
            throw Error(key, $"'{Qualify(key)}: {text}' is a rate, but this feature is a level (bytes, not bytes per time)",
                $"write a size such as {text[..text.IndexOf('/', StringComparison.Ordinal)]}, or decide on 'feature: slope'");
        if (per is { } p)
            value = value * TimeSpan.FromMinutes(1).Ticks / p.Ticks;
        if (value > max)
            throw Error(key, $"'{Qualify(key)}: {text}' is out of range", $"write at most {ConfigValues.FormatAmount(max)}{(perMinute ? "/min" : "")}, e.g. {example}");
        return value;
    }

    /// <summary>A list of strings; a single scalar is not promoted to a list, to keep the format one-way.</summary>
    public IReadOnlyList<string>? StringList(string key, int maxItems = 1000) =>
        StringItems(key, maxItems)?.Select(item => item.Value).ToArray();

    /// <summary>A list of strings with the line of each item, for errors about one item (a missing patch file).</summary>
    public IReadOnlyList<(string Value, int Line)>? StringItems(string key, int maxItems = 1000)
    {
        var node = Node(key);
        switch (node)
        {
            case null:
                return null;
            case YamlSequence seq:
                if (seq.Items.Count > maxItems)
                    throw Error(key, $"'{Qualify(key)}' has {seq.Items.Count} items", $"use at most {maxItems}");
                var list = new List<(string, int)>(seq.Items.Count);
                foreach (var item in seq.Items)
                {
                    if (item is not YamlScalar { IsNull: false } s || string.IsNullOrWhiteSpace(s.Value))
                        throw new ConfigException(File, item.Line,
                            $"an item of '{Qualify(key)}' is {(item is YamlScalar ? "empty" : Describe(item))}, not a string",
                            "write each item as a single value on its own '- ' line");
                    list.Add((s.Value, s.Line));
                }

                return list;
            default:
                throw Wrong(key, node, "a list", $"write a list: '{key}: [a, b]' or indented '- a' lines");
        }
    }

    /// <summary>One of a fixed set of lower-case words; a near miss gets a suggestion.</summary>
    public string? Choice(string key, IReadOnlyCollection<string> choices)
    {
        var (scalar, text) = ScalarOf(key);
        if (scalar is null)
            return null;
        if (choices.Contains(text))
            return text;
        var suggestion = Suggest(text, choices);
        var fix = suggestion is not null ? $"did you mean '{suggestion}'?" : $"write one of: {string.Join(", ", choices)}";
        throw Error(key, $"'{Qualify(key)}: {Shorten(text)}' is not one of {string.Join(" | ", choices)}", fix);
    }

    /// <summary>A mapping of names to string values, ordered as written.</summary>
    public IReadOnlyList<(string Key, string Value, int Line)>? StringMap(string key, int maxItems = 1000)
    {
        var node = Node(key);
        switch (node)
        {
            case null:
                return null;
            case YamlMapping map:
                if (map.Entries.Count > maxItems)
                    throw Error(key, $"'{Qualify(key)}' has {map.Entries.Count} entries", $"use at most {maxItems}");
                var list = new List<(string, string, int)>(map.Entries.Count);
                foreach (var entry in map.Entries)
                {
                    if (entry.Value is not YamlScalar value)
                        throw new ConfigException(File, entry.Value.Line,
                            $"'{Qualify(key)}.{entry.Key.Value}' is {Describe(entry.Value)}, not a string",
                            "write a single value; use a YAML block scalar ('|') for multi-line text");
                    // A plain empty value is the empty string here: 'FOO:' sets FOO to "" rather than failing.
                    list.Add((entry.Key.Value, value.IsNull ? "" : value.Value, entry.Key.Line));
                }

                return list;
            default:
                throw Wrong(key, node, "a mapping", $"write '{key}:' followed by indented 'name: value' lines, or '{key}: {{}}'");
        }
    }

    /// <summary>The raw node, for the few keys that accept more than one shape.</summary>
    public YamlNode? Node(string key) =>
        _entries.TryGetValue(key, out var entry) && entry.Value is not YamlScalar { IsNull: true } ? entry.Value : null;

    public int LineOf(string key) => _entries.TryGetValue(key, out var entry) ? entry.Key.Line : Line;

    public string Qualify(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public ConfigException Error(string key, string problem, string fix) => new(File, LineOf(key), problem, fix);

    public ConfigException Missing(string key, string fix) =>
        new(File, Line, $"missing required key '{Qualify(key)}'", fix);

    private ConfigException Wrong(string key, YamlNode node, string expected, string fix) =>
        new(File, node.Line, $"'{Qualify(key)}' must be {expected}, not {Describe(node)}", fix);

    private (YamlScalar? Scalar, string Text) ScalarOf(string key)
    {
        var node = Node(key);
        return node switch
        {
            null => (null, ""),
            YamlScalar s => (s, s.Value.Trim()),
            _ => throw Wrong(key, node, "a single value", $"write '{key}: <value>' on one line"),
        };
    }

    internal static string Describe(YamlNode node) => node switch
    {
        YamlMapping => "a mapping",
        YamlSequence => "a list",
        YamlScalar s => $"'{Shorten(s.Value)}'",
        _ => "an unknown node",
    };

    internal static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";

    private static string Invariant(double value) => value.ToString("0.############", CultureInfo.InvariantCulture);

    /// <summary>The closest known key by edit distance (case and '_' vs '-' ignored), if close enough to be a typo.</summary>
    internal static string? Suggest(string key, IEnumerable<string> known)
    {
        var normalized = Normalize(key);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var distance = EditDistance(normalized, Normalize(candidate));
            if (distance < bestDistance)
                (best, bestDistance) = (candidate, distance);
        }

        var allowed = Math.Max(1, Math.Min(3, normalized.Length / 3));
        return bestDistance <= allowed ? best : null;

        static string Normalize(string s) => SeparatorRun().Replace(s.ToLowerInvariant(), "-");
    }

    /// <summary>Edit distance where swapping two neighbours counts once ("slpoe" is one typo from "slope").</summary>
    private static int EditDistance(string a, string b)
    {
        if (a.Length > 64 || b.Length > 64)
            return int.MaxValue;
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
            d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++)
            d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }

        return d[a.Length, b.Length];
    }

    [GeneratedRegex(@"[-_ ]+")]
    private static partial Regex SeparatorRun();
}
