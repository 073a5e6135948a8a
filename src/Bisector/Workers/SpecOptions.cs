using System.Globalization;

namespace Bisector.Workers;

/// <summary>
/// The <c>?key=value&amp;…</c> options of one <c>--workers</c> spec, URL-unescaped, every key checked against the ones
/// its scheme knows, and every error naming <c>--workers</c> and the spec. One parser for all schemes.
/// </summary>
internal sealed class SpecOptions
{
    private readonly string _spec;
    private readonly Dictionary<string, string> _values;

    private SpecOptions(string spec, Dictionary<string, string> values)
    {
        _spec = spec;
        _values = values;
    }

    /// <summary>Parses <paramref name="query"/> (the text after <c>?</c>, possibly empty); a key not in <paramref name="known"/> is an error.</summary>
    public static SpecOptions Parse(string spec, string query, params string[] known)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? pair : pair[..eq];
            if (!known.Contains(key, StringComparer.Ordinal))
            {
                throw new UsageException("--workers", $"'{spec}': unknown option '{key}'",
                    $"use {string.Join(", ", known[..^1])} or {known[^1]}");
            }

            values[key] = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
        }

        return new SpecOptions(spec, values);
    }

    /// <summary>Splits <c>HEAD?QUERY</c> at its first <c>?</c>: the head, and the query ("" without one).</summary>
    public static (string Head, string Query) Split(string rest)
    {
        var q = rest.IndexOf('?', StringComparison.Ordinal);
        return q >= 0 ? (rest[..q], rest[(q + 1)..]) : (rest, "");
    }

    public bool Has(string key) => _values.ContainsKey(key);

    public string? Text(string key) => _values.GetValueOrDefault(key);

    /// <summary>A whole number from 1 to <paramref name="max"/>; <paramref name="fallback"/> when the key is not given.</summary>
    public long Number(string key, long fallback, long max)
    {
        if (!_values.TryGetValue(key, out var text))
        {
            return fallback;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max
            ? n
            : throw Error($"{key}={text} is not a number between 1 and {max}", $"e.g. {key}={fallback}");
    }

    /// <summary>An error about this spec, naming <c>--workers</c> and the spec as written.</summary>
    public UsageException Error(string problem, string fix) => new("--workers", $"'{_spec}': {problem}", fix);
}
