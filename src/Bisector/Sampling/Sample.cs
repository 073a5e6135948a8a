namespace Bisector.Sampling;

/// <summary>Well-known metric names. A sampler may add others (e.g. heap counters); names are stable in the database.</summary>
public static class Metrics
{
    public const string VmRss = "vm_rss";
    public const string RssAnon = "rss_anon";
    public const string RssFile = "rss_file";

    /// <summary>VmData: the data segment and private anonymous mappings, touched or not — it tracks the size of the
    /// malloc heap and its mmapped chunks without a preloaded shim.</summary>
    public const string VmData = "vm_data";
    public const string CgroupUsage = "cgroup_usage";
    public const string CgroupRss = "cgroup_rss";

    // glibc malloc counters published by the heapstats shim (sampling.heap-counters: true); see HeapCounters.
    public const string HeapArena = "heap_arena";
    public const string HeapInUse = "heap_in_use";
    public const string HeapFree = "heap_free";
    public const string HeapMmapped = "heap_mmapped";
    public const string HeapReleasable = "heap_releasable";

    /// <summary>Cumulative counts of calls the shim saw: realloc() calls that shrank a block, and malloc/calloc/realloc
    /// requests of 1 MiB or more. Their slope is a rate; the journald 248 regression was both at once (allocate 4 MiB,
    /// shrink it to what was read).</summary>
    public const string HeapReallocShrinks = "heap_realloc_shrinks";
    public const string HeapBigRequests = "heap_big_requests";

    /// <summary>Diagnosis by experiment: malloc_trim(0) calls the shim made (the trim probe; 0 → 1 marks the moment),
    /// and whether another preloaded allocator serves malloc() (1) or glibc does (0).</summary>
    public const string HeapTrims = "heap_trims";
    public const string HeapForeignMalloc = "heap_foreign_malloc";

    public static readonly IReadOnlyList<string> Heap = [HeapArena, HeapInUse, HeapFree, HeapMmapped, HeapReleasable];
}

/// <summary>One reading of one metric at a time offset (seconds since the daemon started), in bytes for memory metrics.</summary>
public readonly record struct Sample(double Seconds, string Metric, double Value);
