using System.Globalization;
using System.Text.RegularExpressions;

namespace Bisector.Recipes;

/// <summary>
/// The value syntaxes shared by recipes, bisect.yaml and command-line flags, so <c>--window 10s</c> and
/// <c>window: 10s</c> mean the same thing.
/// </summary>
public static partial class ConfigValues
{
    /// <summary>No duration in Bisector is meaningfully longer than a week; the cap keeps arithmetic far from overflow.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(7);

    /// <summary>One tebibyte: larger "sizes" are typos (an extra digit) rather than intent.</summary>
    public const long MaxSizeBytes = 1L << 40;

    /// <summary>
    /// Parses <c>100ms</c>, <c>2s</c>, <c>5m</c>, <c>1h</c>, decimals (<c>1.5s</c>) and sums (<c>1m30s</c>).
    /// A bare number is rejected: its unit would be a guess. Values beyond <see cref="MaxDuration"/> saturate to
    /// <see cref="TimeSpan.MaxValue"/> so callers report them as out of range rather than as bad syntax.
    /// </summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        if (text.Length is 0 or > 256 || !DurationSyntax().IsMatch(text))
            return false;

        var milliseconds = 0.0;
        foreach (Match part in DurationPart().Matches(text))
        {
            var number = double.Parse(part.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            milliseconds += number * part.Groups[2].Value switch
            {
                "ms" => 1.0,
                "s" => 1_000.0,
                "m" => 60_000.0,
                "h" => 3_600_000.0,
                _ => 86_400_000.0,
            };
        }

        if (!double.IsFinite(milliseconds) || milliseconds > MaxDuration.TotalMilliseconds)
        {
            duration = TimeSpan.MaxValue;
            return true;
        }

        duration = TimeSpan.FromTicks((long)Math.Round(milliseconds * TimeSpan.TicksPerMillisecond));
        return true;
    }

    /// <summary>Parses plain bytes or a binary-multiple suffix: <c>512K</c>, <c>256M</c>, <c>1G</c> (also <c>256MiB</c>, <c>256mb</c>).
    /// Values beyond <see cref="MaxSizeBytes"/> saturate to <see cref="long.MaxValue"/> (reported as out of range).</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        var match = SizeSyntax().Match(text);
        if (!match.Success || text.Length > 256)
            return false;
        bytes = long.MaxValue;
        if (match.Groups[1].Value.TrimStart('0').Length > 15)
            return true;

        var number = long.Parse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture);
        var multiplier = Multiplier(match.Groups[2].Value);
        if (number > MaxSizeBytes / multiplier)
            return true;
        bytes = number * multiplier;
        return true;
    }

    /// <summary>
    /// Parses an amount of memory, or of memory per time: a plain number (<c>1048576</c>, in the unit the caller states),
    /// a size with a binary suffix and optional decimals (<c>200K</c>, <c>1.5M</c>, <c>1MiB</c>), or a rate
    /// (<c>512K/min</c>, <c>10K/s</c>, <c>1M/h</c>). <paramref name="per"/> is the rate's time unit, null for a plain
    /// number or a size. Values are in bytes (bytes per <paramref name="per"/>); no exponent syntax.
    /// </summary>
    public static bool TryParseAmount(string text, out double amount, out TimeSpan? per)
    {
        amount = 0;
        per = null;
        var match = AmountSyntax().Match(text);
        if (text.Length > 256 || !match.Success)
            return false;
        var multiplier = Multiplier(match.Groups[2].Value);
        amount = double.Parse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture) * multiplier;
        per = match.Groups[3].Value.ToLowerInvariant() switch
        {
            "" => null,
            "s" or "sec" => TimeSpan.FromSeconds(1),
            "h" => TimeSpan.FromHours(1),
            _ => TimeSpan.FromMinutes(1),
        };
        return double.IsFinite(amount);
    }

    /// <summary>Formats bytes (or bytes per minute) as a user writes them in a recipe: the largest binary suffix that
    /// keeps at most three decimals exact (<c>1M</c>, <c>200K</c>, <c>1.5M</c>), plain bytes otherwise.</summary>
    public static string FormatAmount(double bytes)
    {
        foreach (var (suffix, shift) in new[] { ("T", 40), ("G", 30), ("M", 20), ("K", 10) })
        {
            var scaled = bytes / (1L << shift);
            if (Math.Abs(scaled) >= 1 && Math.Abs(scaled * 1000 - Math.Round(scaled * 1000)) < 1e-6)
                return scaled.ToString("0.###", CultureInfo.InvariantCulture) + suffix;
        }

        return bytes.ToString("0.###", CultureInfo.InvariantCulture);
    }

    /// <summary>The factor of a binary suffix (<c>K</c>, <c>M</c>, <c>G</c>, <c>T</c>, either case); 1 without one.</summary>
    private static long Multiplier(string suffix) => char.ToUpperInvariant(suffix.FirstOrDefault()) switch
    {
        'K' => 1L << 10,
        'M' => 1L << 20,
        'G' => 1L << 30,
        'T' => 1L << 40,
        _ => 1L,
    };

    /// <summary>Formats a duration the way a user would write it (<c>1m30s</c>, <c>100ms</c>), for messages and reports.</summary>
    public static string FormatDuration(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero)
            return "0s";
        var parts = new List<string>();
        if (duration.Days > 0) parts.Add($"{(int)duration.TotalHours}h");
        else if (duration.Hours > 0) parts.Add($"{duration.Hours}h");
        if (duration.Minutes > 0) parts.Add($"{duration.Minutes}m");
        if (duration.Seconds > 0) parts.Add($"{duration.Seconds}s");
        var subSecond = duration.Ticks % TimeSpan.TicksPerSecond;
        if (subSecond > 0)
            parts.Add(((double)subSecond / TimeSpan.TicksPerMillisecond).ToString("0.###", CultureInfo.InvariantCulture) + "ms");
        return string.Concat(parts);
    }

    /// <summary>Formats bytes with the largest exact binary suffix (<c>256M</c>), so messages echo what users write.</summary>
    public static string FormatSize(long bytes)
    {
        foreach (var (suffix, shift) in new[] { ("T", 40), ("G", 30), ("M", 20), ("K", 10) })
        {
            if (bytes != 0 && bytes % (1L << shift) == 0)
                return (bytes >> shift).ToString(CultureInfo.InvariantCulture) + suffix;
        }

        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationSyntax();

    [GeneratedRegex(@"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPart();

    [GeneratedRegex(@"^([0-9]+)(?:([KMGTkmgt])(?:i?[Bb])?)?$", RegexOptions.CultureInvariant)]
    private static partial Regex SizeSyntax();

    [GeneratedRegex(@"^([0-9]{1,15}(?:\.[0-9]{1,9})?)(?:([KMGTkmgt])(?:i?[Bb])?)?(?:/(s|sec|min|m|h))?$", RegexOptions.CultureInvariant)]
    private static partial Regex AmountSyntax();
}
