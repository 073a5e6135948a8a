using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Bisector.Diagnosis;

/// <summary>One allocation site as heaptrack_print reports it: the allocating function and its callers.</summary>
public sealed record AllocationSite(string Function, IReadOnlyList<string> Callers, double PeakBytes, long Calls, long Temporary)
{
    /// <summary>Sites are matched across the two builds by function and first caller: file paths and line numbers
    /// differ between builds of different commits.</summary>
    public string Key => Callers.Count > 0 ? $"{Function} ← {Callers[0]}" : Function;
}

/// <summary>
/// Reads <c>heaptrack_print</c> text (peak consumers and temporary allocations) and compares two builds' sites:
/// the ones whose peak bytes or temporary allocations changed most are where the culprit changed the heap.
/// </summary>
public static partial class BoundaryProfile
{
    public static IReadOnlyList<AllocationSite> Parse(string heaptrackPrint)
    {
        var sites = new Dictionary<string, AllocationSite>();
        var section = "";
        var lines = heaptrackPrint.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line is "PEAK MEMORY CONSUMERS" or "MOST TEMPORARY ALLOCATIONS" or "MOST CALLS TO ALLOCATION FUNCTIONS")
            {
                section = line;
                continue;
            }

            var peak = PeakHeader().Match(line);
            var temporary = TemporaryHeader().Match(line);
            if ((section == "PEAK MEMORY CONSUMERS" && peak.Success) || (section == "MOST TEMPORARY ALLOCATIONS" && temporary.Success))
            {
                // The site's own frames are unindented (function, then "  at"/"  in" lines, then inlined callers); the
                // merged block's first sub-backtrace follows with four-space indented frames.
                var frames = new List<string>();
                for (var j = i + 1; j < lines.Length && lines[j].Trim().Length > 0 && frames.Count < 5; j++)
                {
                    var l = lines[j].TrimEnd('\r');
                    var trimmed = l.Trim();
                    if (trimmed.StartsWith("at ", StringComparison.Ordinal) || trimmed.StartsWith("in ", StringComparison.Ordinal)
                        || trimmed.EndsWith(" from:", StringComparison.Ordinal))
                        continue;
                    // Unresolved frames are raw addresses that differ run to run (ASLR); as "??" they match across builds.
                    if (!l.StartsWith(' ') || l.StartsWith("    ", StringComparison.Ordinal))
                        frames.Add(Address().Replace(trimmed, "??"));
                }

                var function = frames.Count > 0 ? frames[0] : "?";
                var callers = frames.Skip(1).ToList();
                var site = new AllocationSite(function, callers, 0, 0, 0);
                var existing = sites.GetValueOrDefault(site.Key) ?? site;
                sites[site.Key] = peak.Success
                    ? existing with { PeakBytes = existing.PeakBytes + Bytes(peak.Groups[1].Value), Calls = existing.Calls + long.Parse(peak.Groups[2].Value, CultureInfo.InvariantCulture) }
                    : existing with { Temporary = existing.Temporary + long.Parse(temporary.Groups[1].Value, CultureInfo.InvariantCulture) };
            }
        }

        return sites.Values.ToList();
    }

    /// <summary>The sites whose peak bytes, then temporary allocations, changed most from good to bad, as text lines.</summary>
    public static string Compare(IReadOnlyList<AllocationSite> good, IReadOnlyList<AllocationSite> bad, int top = 5)
    {
        var keys = good.Select(s => s.Key).Union(bad.Select(s => s.Key)).ToList();
        var g = good.ToDictionary(s => s.Key);
        var b = bad.ToDictionary(s => s.Key);
        var text = new StringBuilder();
        Section("peak bytes", s => s.PeakBytes, Mb, " MiB", "no site's share of the peak changed");
        Section("temporary allocations", s => s.Temporary, n => n.ToString("0", CultureInfo.InvariantCulture), "", "no change");
        return text.ToString().TrimEnd('\n');

        // The top sites by how much one figure changed, largest change first; sites where it did not change are left out.
        void Section(string title, Func<AllocationSite, double> figure, Func<double, string> format, string unit, string none)
        {
            text.Append(CultureInfo.InvariantCulture, $"{title} (good → bad):\n");
            var changed = keys
                .Select(k => (Site: b.GetValueOrDefault(k) ?? g[k],
                    Good: g.TryGetValue(k, out var before) ? figure(before) : 0, Bad: b.TryGetValue(k, out var after) ? figure(after) : 0))
                .OrderByDescending(r => Math.Abs(r.Bad - r.Good)).Take(top).Where(r => r.Bad != r.Good).ToList();
            foreach (var r in changed)
                text.Append(CultureInfo.InvariantCulture, $"  {format(r.Good)} → {format(r.Bad)}{unit}  {Stack(r.Site)}\n");
            if (changed.Count == 0)
                text.Append(CultureInfo.InvariantCulture, $"  ({none})\n");
        }
    }

    private static string Stack(AllocationSite s) => string.Join(" ← ", new[] { s.Function }.Concat(s.Callers));

    private static string Mb(double bytes) => (bytes / (1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture);

    // heaptrack prints sizes like 4.40M, 72.70K, 512B (binary multiples).
    private static double Bytes(string text)
    {
        var unit = text[^1];
        var number = double.Parse(char.IsDigit(unit) ? text : text[..^1], CultureInfo.InvariantCulture);
        return unit switch
        {
            'K' => number * 1024,
            'M' => number * 1024 * 1024,
            'G' => number * 1024 * 1024 * 1024,
            _ => number,
        };
    }

    [GeneratedRegex(@"^0x[0-9a-f]+$")]
    private static partial Regex Address();

    [GeneratedRegex(@"^([0-9.]+[BKMG]?) peak memory consumed over ([0-9]+) calls from$")]
    private static partial Regex PeakHeader();

    [GeneratedRegex(@"^([0-9]+) temporary allocations of ([0-9]+) allocations in total \([0-9.]+%\) from$")]
    private static partial Regex TemporaryHeader();
}
