namespace Bisector.Sampling;

/// <summary>
/// One record of the heapstats shim (Diagnosis/Assets/heapstats.c): glibc's <c>mallinfo2()</c> as the daemon saw it.
/// Bytes throughout. <see cref="InUse"/> counts arena chunks only; chunks big enough for their own mmap are in
/// <see cref="Mmapped"/>, so "all live heap" is their sum.
/// </summary>
/// <see cref="ReallocShrinks"/> and <see cref="BigRequests"/> are cumulative call counts, −1 when the record has none.
public readonly record struct HeapCounters(long Sequence, long Arena, long InUse, long Free, long Mmapped, long Releasable,
    long ReallocShrinks = -1, long BigRequests = -1)
{
    /// <summary>malloc_trim(0) calls the shim made for the trim probe (BISECTOR_HEAP_TRIM_AT); −1 when the record has none.</summary>
    public long Trims { get; init; } = -1;

    /// <summary>1 when another allocator preloaded before the shim serves malloc(), 0 when glibc does; −1 when unknown.</summary>
    public long ForeignMalloc { get; init; } = -1;

    /// <summary>Parses one record (<c>seq=N … end=N</c>). False for an empty, partial or torn record (seq ≠ end: the
    /// shim rewrote it while we read), which the sampler treats as "no reading this tick".</summary>
    public static bool TryParse(ReadOnlySpan<byte> record, out HeapCounters counters)
    {
        counters = default;
        long seq = -1, end = -2, arena = -1, inUse = -1, free = -1, mmapped = -1, releasable = -1, shrinks = -1, big = -1, trims = -1, foreign = -1;
        while (!record.IsEmpty)
        {
            var space = record.IndexOfAny((byte)' ', (byte)'\n');
            var token = space < 0 ? record : record[..space];
            record = space < 0 ? default : record[(space + 1)..];
            var eq = token.IndexOf((byte)'=');
            if (eq <= 0 || !TryParseDecimal(token[(eq + 1)..], out var value))
                continue;
            var key = token[..eq];
            if (key.SequenceEqual("seq"u8)) seq = value;
            else if (key.SequenceEqual("end"u8)) end = value;
            else if (key.SequenceEqual("arena"u8)) arena = value;
            else if (key.SequenceEqual("uordblks"u8)) inUse = value;
            else if (key.SequenceEqual("fordblks"u8)) free = value;
            else if (key.SequenceEqual("hblkhd"u8)) mmapped = value;
            else if (key.SequenceEqual("keepcost"u8)) releasable = value;
            else if (key.SequenceEqual("realloc_shrink"u8)) shrinks = value;
            else if (key.SequenceEqual("big"u8)) big = value;
            else if (key.SequenceEqual("trims"u8)) trims = value;
            else if (key.SequenceEqual("foreign"u8)) foreign = value;
        }

        if (seq != end || arena < 0 || inUse < 0 || free < 0 || mmapped < 0 || releasable < 0)
            return false;
        counters = new HeapCounters(seq, arena, inUse, free, mmapped, releasable, shrinks, big) { Trims = trims, ForeignMalloc = foreign };
        return true;
    }

    public void AddTo(double seconds, List<Sample> into)
    {
        into.Add(new Sample(seconds, Metrics.HeapArena, Arena));
        into.Add(new Sample(seconds, Metrics.HeapInUse, InUse));
        into.Add(new Sample(seconds, Metrics.HeapFree, Free));
        into.Add(new Sample(seconds, Metrics.HeapMmapped, Mmapped));
        into.Add(new Sample(seconds, Metrics.HeapReleasable, Releasable));
        if (ReallocShrinks >= 0)
            into.Add(new Sample(seconds, Metrics.HeapReallocShrinks, ReallocShrinks));
        if (BigRequests >= 0)
            into.Add(new Sample(seconds, Metrics.HeapBigRequests, BigRequests));
        if (Trims >= 0)
            into.Add(new Sample(seconds, Metrics.HeapTrims, Trims));
        if (ForeignMalloc >= 0)
            into.Add(new Sample(seconds, Metrics.HeapForeignMalloc, ForeignMalloc));
    }

    private static bool TryParseDecimal(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > 19)
            return false;
        foreach (var d in digits)
        {
            if (d is < (byte)'0' or > (byte)'9')
                return false;
            value = value * 10 + (d - '0');
        }

        return true;
    }
}
