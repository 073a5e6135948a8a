namespace Bisector.Sampling;

/// <summary>The memory fields of <c>/proc/PID/status</c>, in bytes.</summary>
public readonly record struct ProcMemory(long VmRss, long RssAnon, long RssFile, long VmData = 0);

/// <summary>
/// Allocation-free parsers for the kernel's memory files. They work on raw bytes and never touch the file system,
/// so the same code runs locally and inside the remote sampler the SSH backend ships to hosts.
/// </summary>
public static class MemoryParsers
{
    /// <summary>Parses <c>VmRSS</c>, <c>RssAnon</c>, <c>RssFile</c> and <c>VmData</c> (kB in the file) from <c>/proc/PID/status</c>.
    /// Returns false when VmRSS is missing, which is what a zombie or kernel thread looks like.</summary>
    public static bool TryParseProcStatus(ReadOnlySpan<byte> status, out ProcMemory memory)
    {
        var found = TryFindValue(status, "VmRSS:"u8, out var vmRss);
        TryFindValue(status, "RssAnon:"u8, out var rssAnon);
        TryFindValue(status, "RssFile:"u8, out var rssFile);
        TryFindValue(status, "VmData:"u8, out var vmData);
        memory = new ProcMemory(vmRss * 1024, rssAnon * 1024, rssFile * 1024, vmData * 1024);
        return found;
    }

    /// <summary>Reads one key of a <c>memory.stat</c> / <c>memory.events</c> / <c>memory.oom_control</c> file
    /// ("key value" lines). The key must match a whole line prefix, so <c>rss</c> does not match <c>rss_huge</c>.</summary>
    public static bool TryParseKeyed(ReadOnlySpan<byte> file, ReadOnlySpan<byte> key, out long value)
    {
        Span<byte> withSpace = stackalloc byte[key.Length + 1];
        key.CopyTo(withSpace);
        withSpace[^1] = (byte)' ';
        return TryFindValue(file, withSpace, out value);
    }

    /// <summary>Parses a single-number file such as <c>memory.usage_in_bytes</c> or <c>memory.current</c>;
    /// <c>max</c> (cgroup v2 "no limit") parses as <see cref="long.MaxValue"/>.</summary>
    public static bool TryParseSingle(ReadOnlySpan<byte> file, out long value)
    {
        var text = file.TrimEnd("\n "u8);
        if (text.SequenceEqual("max"u8))
        {
            value = long.MaxValue;
            return true;
        }

        return TryParseNumber(text, out value);
    }

    // Finds "key" at the start of a line and parses the first number after it (spaces/tabs skipped).
    private static bool TryFindValue(ReadOnlySpan<byte> file, ReadOnlySpan<byte> key, out long value)
    {
        var rest = file;
        while (!rest.IsEmpty)
        {
            var eol = rest.IndexOf((byte)'\n');
            var line = eol < 0 ? rest : rest[..eol];
            if (line.StartsWith(key))
            {
                var number = line[key.Length..].TrimStart(" \t"u8);
                var end = number.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
                return TryParseNumber(end < 0 ? number : number[..end], out value);
            }

            rest = eol < 0 ? default : rest[(eol + 1)..];
        }

        value = 0;
        return false;
    }

    private static bool TryParseNumber(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        if (digits.IsEmpty)
        {
            return false;
        }

        foreach (var b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                value = 0;
                return false;
            }

            value = checked((value * 10) + (b - '0'));
        }

        return true;
    }
}
