using System.Globalization;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Statistics;

namespace Bisector.Diagnosis;

/// <summary>Why memory grew between the last good commit and the culprit; for a decision on a decrease (a fix), what
/// the last good commit had that the named commit removed.</summary>
public enum GrowthKind
{
    /// <summary>Live heap (in-use) grows along with RSS: memory is allocated and never freed.</summary>
    Leak,

    /// <summary>Live heap stays flat while the arena's free space (or RSS beyond the live heap) grows.</summary>
    Fragmentation,

    /// <summary>Live heap grows and then levels off: more data is kept, but bounded.</summary>
    WorkingSet,

    /// <summary>Memory sits at a higher level from the start and does not grow.</summary>
    LevelStep,

    /// <summary>Anonymous memory grows outside the malloc heap (mmap, thread stacks, another allocator).</summary>
    NonHeap,

    /// <summary>Memory grows, but without heap counters RSS alone cannot say whether it is a leak or fragmentation.</summary>
    Growth,

    /// <summary>No difference above the threshold between the two sides.</summary>
    NoChange,
}

/// <summary>
/// One side (good or bad) reduced to the numbers the classification uses: level (median of the window's last third)
/// and Theil–Sen slope per minute after the warm-up, each the median over the side's trials. Heap figures are null
/// when the trials carry no heap counters. "In use" includes chunks malloc served with their own mmap.
/// </summary>
public sealed record SideFigures(
    int Trials,
    double WindowSeconds,
    string RssMetric,
    double RssLevel,
    double RssSlope,
    double RssEarlySlope,
    double RssLateSlope,
    double? InUseLevel,
    double? InUseSlope,
    double? InUseEarlySlope,
    double? InUseLateSlope,
    double? FreeLevel,
    double? FreeSlope,
    double? HeapLevel,
    double? HeapSlope,
    double? ReallocShrinksPerMinute = null,
    double? BigRequestsPerMinute = null)
{
    public bool HasHeap => InUseLevel is not null;

    /// <summary>Reduces trials (each a metric → series map) to figures; null when no trial has the RSS metric.</summary>
    public static SideFigures? From(IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>> trials, string rssMetric, double warmupSeconds)
    {
        var rss = trials.Where(t => t.TryGetValue(rssMetric, out var s) && s.Count > 1).Select(t => t[rssMetric]).ToList();
        if (rss.Count == 0)
            return null;
        var heap = trials.Where(t => t.ContainsKey(Metrics.HeapInUse) && t[Metrics.HeapInUse].Count > 1).ToList();
        var inUse = heap.Select(t => Sum(t[Metrics.HeapInUse], t.GetValueOrDefault(Metrics.HeapMmapped))).ToList();
        var free = heap.Where(t => t.ContainsKey(Metrics.HeapFree)).Select(t => t[Metrics.HeapFree]).ToList();
        var arena = heap.Where(t => t.ContainsKey(Metrics.HeapArena)).Select(t => Sum(t[Metrics.HeapArena], t.GetValueOrDefault(Metrics.HeapMmapped))).ToList();
        var has = inUse.Count > 0;
        return new SideFigures(
            rss.Count,
            Median(rss.Select(s => Window(s, warmupSeconds))),
            rssMetric,
            Median(rss.Select(s => Features.Extract(s, FeatureKind.Plateau, warmupSeconds))),
            Median(rss.Select(s => Features.Extract(s, FeatureKind.Slope, warmupSeconds))),
            Median(rss.Select(s => HalfSlope(s, warmupSeconds, late: false))),
            Median(rss.Select(s => HalfSlope(s, warmupSeconds, late: true))),
            has ? Median(inUse.Select(s => Features.Extract(s, FeatureKind.Plateau, warmupSeconds))) : null,
            has ? Median(inUse.Select(s => Features.Extract(s, FeatureKind.Slope, warmupSeconds))) : null,
            has ? Median(inUse.Select(s => HalfSlope(s, warmupSeconds, late: false))) : null,
            has ? Median(inUse.Select(s => HalfSlope(s, warmupSeconds, late: true))) : null,
            free.Count > 0 ? Median(free.Select(s => Features.Extract(s, FeatureKind.Plateau, warmupSeconds))) : null,
            free.Count > 0 ? Median(free.Select(s => Features.Extract(s, FeatureKind.Slope, warmupSeconds))) : null,
            arena.Count > 0 ? Median(arena.Select(s => Features.Extract(s, FeatureKind.Plateau, warmupSeconds))) : null,
            arena.Count > 0 ? Median(arena.Select(s => Features.Extract(s, FeatureKind.Slope, warmupSeconds))) : null,
            CallRate(heap, Metrics.HeapReallocShrinks, warmupSeconds),
            CallRate(heap, Metrics.HeapBigRequests, warmupSeconds));
    }

    /// <summary>Calls per minute after the warm-up: the slope of a cumulative counter, median over the trials that have it.</summary>
    private static double? CallRate(List<IReadOnlyDictionary<string, TrialSeries>> trials, string metric, double warmupSeconds)
    {
        var counters = trials.Where(t => t.TryGetValue(metric, out var s) && s.Count > 1).Select(t => t[metric]).ToList();
        return counters.Count == 0 ? null : Median(counters.Select(s => Features.Extract(s, FeatureKind.Slope, warmupSeconds)));
    }

    private static double Window(TrialSeries s, double warmup)
    {
        var (seconds, _) = Features.AfterWarmup(s, warmup);
        return seconds.Length < 2 ? 0 : seconds[^1] - seconds[0];
    }

    /// <summary>Slope of the first or second half of the post-warm-up window: a plateau shows as a late slope far
    /// below the early one.</summary>
    private static double HalfSlope(TrialSeries s, double warmup, bool late)
    {
        var (seconds, values) = Features.AfterWarmup(s, warmup);
        if (seconds.Length < 4)
            return 0;
        var middle = (seconds[0] + seconds[^1]) / 2;
        var pick = Enumerable.Range(0, seconds.Length).Where(i => late ? seconds[i] >= middle : seconds[i] <= middle).ToList();
        return Features.TheilSenSlopePerMinute(pick.Select(i => seconds[i]).ToList(), pick.Select(i => values[i]).ToList());
    }

    // Samples of one tick share their timestamp, so the two series line up index by index; a missing mmapped
    // series (an old shim) counts as zero.
    private static TrialSeries Sum(TrialSeries a, TrialSeries? b)
    {
        if (b is null)
            return a;
        var n = Math.Min(a.Count, b.Count);
        return new TrialSeries(a.Seconds.Take(n).ToList(), Enumerable.Range(0, n).Select(i => a.Values[i] + b.Values[i]).ToList());
    }

    private static double Median(IEnumerable<double> values)
    {
        var finite = values.Where(double.IsFinite).ToArray();
        return finite.Length == 0 ? double.NaN : Robust.Median(finite);
    }
}

/// <summary>
/// The culprit's effect, classified from the good and bad sides' series, with the numbers that justify it.
/// <see cref="Headline"/> is the one line a terminal prints; <see cref="Details"/> are the figures behind it.
/// </summary>
public sealed record MemoryDiagnosis(GrowthKind Kind, string Headline, IReadOnlyList<string> Details, SideFigures Good, SideFigures Bad)
{
    private const double MiB = 1024 * 1024;

    /// <summary>A share of the RSS growth a heap quantity must explain to be named as its cause.</summary>
    public const double ExplainedShare = 0.5;

    /// <summary>A late-half slope below this share of the early-half slope counts as levelling off.</summary>
    public const double PlateauShare = 0.25;

    /// <summary>Classifies; <paramref name="significantBytes"/> is the smallest change (over the window, or as a level
    /// step) treated as real; 2% of the good side's level is used when that is larger. <paramref name="significantGrowthBytes"/>,
    /// when given, replaces it for growth over the window only: a run decided on the slope states in its min-effect
    /// which growth matters, and a diagnosis must not call "no change" what the verdict called a regression.
    /// <paramref name="direction"/> is the decision's: with <see cref="RegressionDirection.Decrease"/> the named commit
    /// lowered memory (a fix), so the same analysis runs with the sides' roles swapped — the kind names what the good
    /// side had and the named commit removed — and the headline says so ("the growth stops; heap fragmentation is gone").</summary>
    public static MemoryDiagnosis Classify(SideFigures good, SideFigures bad, double significantBytes = MiB, double? significantGrowthBytes = null,
        RegressionDirection direction = RegressionDirection.Increase)
    {
        var threshold = Math.Max(significantBytes, 0.02 * Math.Abs(good.RssLevel));
        var growthThreshold = significantGrowthBytes ?? threshold;
        var heap = good.HasHeap && bad.HasHeap;
        var details = new List<string>
        {
            $"{bad.RssMetric}: good {Mb(good.RssLevel)} MiB, {Rate(good.RssSlope)} MiB/min; bad {Mb(bad.RssLevel)} MiB, {Rate(bad.RssSlope)} MiB/min " +
              $"(early/late half of the window: {Rate(bad.RssEarlySlope)}/{Rate(bad.RssLateSlope)} MiB/min)",
        };
        if (heap)
        {
            details.Add($"heap in use (arena + mmapped chunks): good {Mb(good.InUseLevel!.Value)} MiB, {Rate(good.InUseSlope!.Value)} MiB/min; " +
                          $"bad {Mb(bad.InUseLevel!.Value)} MiB, {Rate(bad.InUseSlope!.Value)} MiB/min (early/late {Rate(bad.InUseEarlySlope!.Value)}/{Rate(bad.InUseLateSlope!.Value)})");
            details.Add($"free inside the arena: good {Mb(good.FreeLevel ?? 0)} MiB, {Rate(good.FreeSlope ?? 0)} MiB/min; bad {Mb(bad.FreeLevel ?? 0)} MiB, {Rate(bad.FreeSlope ?? 0)} MiB/min");
            details.Add($"malloc heap (arena + mmapped): good {Mb(good.HeapLevel ?? 0)} MiB, bad {Mb(bad.HeapLevel ?? 0)} MiB, growing {Rate(bad.HeapSlope ?? 0)} MiB/min");
            if (Calls(good, bad) is { } calls)
                details.Add($"allocation calls: {calls}");
        }

        details.Add($"method: level = median of the window's last third, slope = Theil–Sen after the warm-up, medians of {good.Trials} good and {bad.Trials} bad trial(s) " +
                      $"over a {Seconds(bad.WindowSeconds)} s window; changes below {Mb(threshold)} MiB are treated as noise" +
                      (growthThreshold < threshold ? $" (growth over the window: below {Mb(growthThreshold)} MiB, from decide.min-effect)" : "") +
                      (direction == RegressionDirection.Decrease ? "; the decision looks for a decrease, so what the good side has and the bad side lost is classified" : ""));

        // For a decrease the good side is the one with the growth; the classification asks what it has over the other.
        var fix = direction == RegressionDirection.Decrease;
        var (lower, higher) = fix ? (bad, good) : (good, bad);
        var minutes = Math.Max(bad.WindowSeconds, 1) / 60.0;
        var kind = KindOfChange(lower, higher, heap, minutes, threshold, growthThreshold);
        var headline = kind switch
        {
            GrowthKind.LevelStep => LevelStepHeadline(good, bad, heap),
            GrowthKind.NoChange => $"no memory change that counts between the good and bad sides: {bad.RssMetric} {Signed(bad.RssLevel - good.RssLevel)} MiB " +
                                   $"(a level step counts from {Mb(threshold)} MiB) and {Rate(bad.RssSlope - good.RssSlope)} MiB/min, " +
                                   $"{Signed((bad.RssSlope - good.RssSlope) * minutes)} MiB over the {Seconds(bad.WindowSeconds)} s window (growth counts from {Mb(growthThreshold)} MiB)",
            _ when fix => FixHeadline(kind, good, bad, minutes, growthThreshold),
            _ => GrowthHeadline(kind, good, bad),
        };
        return new MemoryDiagnosis(kind, headline, details, good, bad);
    }

    /// <summary>What <paramref name="higher"/> has over <paramref name="lower"/>: growth first (a change in slope), then
    /// a level step, else no change.</summary>
    private static GrowthKind KindOfChange(SideFigures lower, SideFigures higher, bool heap, double minutes, double threshold, double growthThreshold)
    {
        var rssGrowth = (higher.RssSlope - lower.RssSlope) * minutes;
        if (rssGrowth > growthThreshold)
        {
            if (!heap)
                return LevelsOff(higher.RssEarlySlope, higher.RssLateSlope) ? GrowthKind.WorkingSet : GrowthKind.Growth;
            var inUseGrowth = (higher.InUseSlope!.Value - lower.InUseSlope!.Value) * minutes;
            var heapGrowth = ((higher.HeapSlope ?? 0) - (lower.HeapSlope ?? 0)) * minutes;
            if (inUseGrowth >= ExplainedShare * rssGrowth)
                return LevelsOff(higher.InUseEarlySlope!.Value, higher.InUseLateSlope!.Value) ? GrowthKind.WorkingSet : GrowthKind.Leak;
            if (heapGrowth >= ExplainedShare * rssGrowth || FreeGrowthExplains(lower, higher))
                return GrowthKind.Fragmentation;
            // RSS also grows into free memory the heap already holds, with the arena's size unchanged: pages of free
            // chunks are touched again one by one. journald's culprit holds ~4 MiB free in its arena from the start and
            // its rss_anon climbs 0.2 MiB/min into it (the growth goes under jemalloc and a pinned mmap threshold).
            // The RSS to explain is at most what the higher side holds over the lower one: a step inside a short window
            // extrapolates to a growth its level never reached (the demo's culprit: +73 MiB/min over 6.4 s = 7.8 MiB,
            // for a level 4.0 MiB above the good side's and 7.7 MiB free in the arena, once called non-heap).
            var heldFree = (higher.FreeLevel ?? 0) - (lower.FreeLevel ?? 0);
            // It is never less than a growth that counts, so free memory of noise size explains nothing.
            var excess = Math.Max(growthThreshold, Math.Min(rssGrowth, higher.RssLevel - lower.RssLevel));
            return heldFree >= excess ? GrowthKind.Fragmentation : GrowthKind.NonHeap;
        }

        return Math.Abs(higher.RssLevel - lower.RssLevel) > threshold ? GrowthKind.LevelStep : GrowthKind.NoChange;
    }

    /// <summary>Whether the free space inside the arena grew by at least <see cref="ExplainedShare"/> of RSS's growth (the
    /// window's length cancels out, so slopes compare as growths do).</summary>
    private static bool FreeGrowthExplains(SideFigures lower, SideFigures higher) =>
        (higher.FreeSlope ?? 0) - (lower.FreeSlope ?? 0) >= ExplainedShare * (higher.RssSlope - lower.RssSlope);

    /// <summary>The culprit made memory grow: what grows, and where.</summary>
    private static string GrowthHeadline(GrowthKind kind, SideFigures good, SideFigures bad)
    {
        var grows = $"{bad.RssMetric} grows {Rate(bad.RssSlope)} MiB/min (good: {Rate(good.RssSlope)})";
        return kind switch
        {
            GrowthKind.WorkingSet when good.HasHeap && bad.HasHeap =>
                $"larger working set or cache: heap in-use grew {Rate(bad.InUseEarlySlope!.Value)} MiB/min, then levelled off at {Mb(bad.InUseLevel!.Value)} MiB ({Rate(bad.InUseLateSlope!.Value)} MiB/min); {grows}",
            GrowthKind.Leak =>
                $"leak: heap in-use grows {Rate(bad.InUseSlope!.Value)} MiB/min along with {bad.RssMetric} ({Rate(bad.RssSlope)} MiB/min); free in arena {Rate(bad.FreeSlope ?? 0)} MiB/min",
            GrowthKind.Fragmentation =>
                $"heap fragmentation: in-use flat at {Mb(bad.InUseLevel!.Value)} MiB ({Rate(bad.InUseSlope!.Value)} MiB/min), " +
                (FreeGrowthExplains(good, bad)
                    ? $"free in arena grew {Rate(bad.FreeSlope ?? 0)} MiB/min"
                    : $"free in arena holds {Mb(bad.FreeLevel ?? 0)} MiB (good: {Mb(good.FreeLevel ?? 0)}) that {bad.RssMetric} grows into") + $"; {grows}" +
                (CallPattern(good, bad, "good") is { } pattern ? $"; the culprit {pattern}" : ""),
            GrowthKind.NonHeap =>
                $"non-heap growth: {grows} while the malloc heap grows {Rate(bad.HeapSlope ?? 0)} MiB/min — mmap, thread stacks or another allocator",
            GrowthKind.WorkingSet =>
                $"grows then levels off (a larger working set or cache?): {grows}, late half {Rate(bad.RssLateSlope)} MiB/min; without heap counters (sampling.heap-counters) this is judged from RSS alone",
            _ =>
                $"memory growth: {grows}; without heap counters RSS alone cannot tell a leak from fragmentation — set sampling.heap-counters: true",
        };
    }

    /// <summary>The named commit made memory stop (or slow) growing: what the good side's growth was, and that it is gone.</summary>
    private static string FixHeadline(GrowthKind kind, SideFigures good, SideFigures bad, double minutes, double growthThreshold)
    {
        var stops = Math.Max(bad.RssSlope, 0) * minutes <= growthThreshold ? "stops" : "slows";
        var rss = $"{bad.RssMetric} {Rate(good.RssSlope)} → {Rate(bad.RssSlope)} MiB/min";
        return kind switch
        {
            GrowthKind.WorkingSet when good.HasHeap && bad.HasHeap =>
                $"smaller working set or cache: heap in-use grew {Rate(good.InUseEarlySlope!.Value)} MiB/min and levelled off at {Mb(good.InUseLevel!.Value)} MiB before, {Mb(bad.InUseLevel!.Value)} MiB now; {rss}",
            GrowthKind.Leak =>
                $"the leak is gone: heap in-use grew {Rate(good.InUseSlope!.Value)} MiB/min before, {Rate(bad.InUseSlope!.Value)} MiB/min now; {rss}",
            GrowthKind.Fragmentation =>
                $"the growth {stops}, heap fragmentation is gone: {rss}; inside the malloc heap: free in the arena {Mb(good.FreeLevel ?? 0)} → {Mb(bad.FreeLevel ?? 0)} MiB, " +
                $"the heap {Mb(good.HeapLevel ?? 0)} → {Mb(bad.HeapLevel ?? 0)} MiB, in-use {Mb(good.InUseLevel!.Value)} → {Mb(bad.InUseLevel!.Value)} MiB" +
                (CallPattern(bad, good, "now") is { } pattern ? $"; the big-block/realloc pattern is gone: the good side {pattern}" : ""),
            GrowthKind.NonHeap =>
                $"non-heap growth {stops}: {rss} while the malloc heap's growth goes {Rate(good.HeapSlope ?? 0)} → {Rate(bad.HeapSlope ?? 0)} MiB/min — mmap, thread stacks or another allocator",
            GrowthKind.WorkingSet =>
                $"the growth {stops} (a smaller working set or cache?): {bad.RssMetric} grew then levelled off before (late half {Rate(good.RssLateSlope)} MiB/min), {Rate(bad.RssSlope)} MiB/min now; without heap counters (sampling.heap-counters) this is judged from RSS alone",
            _ =>
                $"the growth {stops}: {rss}; without heap counters RSS alone cannot tell whether a leak or fragmentation went away — set sampling.heap-counters: true",
        };
    }

    /// <summary>A flat level moved: by how much, and whether the malloc heap (live data, or its free space) holds the step.</summary>
    private static string LevelStepHeadline(SideFigures good, SideFigures bad, bool heap)
    {
        var step = bad.RssLevel - good.RssLevel;
        var inUseStep = heap ? bad.InUseLevel!.Value - good.InUseLevel!.Value : 0;
        var heapStep = heap ? (bad.HeapLevel ?? 0) - (good.HeapLevel ?? 0) : 0;
        var where = !heap ? "; judged from RSS alone (no heap counters)"
            : Math.Abs(inUseStep) >= ExplainedShare * Math.Abs(step) ? $"; in the malloc heap (in-use {Signed(inUseStep)} MiB)"
            : Math.Abs(heapStep) >= ExplainedShare * Math.Abs(step) && Math.Sign(heapStep) == Math.Sign(step)
                ? $"; in the malloc heap's free space (heap {Mb(good.HeapLevel ?? 0)} → {Mb(bad.HeapLevel ?? 0)} MiB, in-use {Signed(inUseStep)} MiB)"
            : $"; outside the malloc heap (in-use {Signed(inUseStep)} MiB): static data, mmap or stacks";
        return $"level step without growth: {bad.RssMetric} {Signed(step)} MiB ({Mb(good.RssLevel)} → {Mb(bad.RssLevel)} MiB), flat at {Rate(bad.RssSlope)} MiB/min{where}";
    }

    private static bool LevelsOff(double early, double late) => early > 0 && late < PlateauShare * early;

    /// <summary>Both sides' call rates, or null without the shim's call counters.</summary>
    private static string? Calls(SideFigures good, SideFigures bad) =>
        good.ReallocShrinksPerMinute is { } gs && bad.ReallocShrinksPerMinute is { } bs && good.BigRequestsPerMinute is { } gb && bad.BigRequestsPerMinute is { } bb
            ? $"requests of 1 MiB or more: good {PerMinute(gb)}/min, bad {PerMinute(bb)}/min; realloc() shrinking a block: good {PerMinute(gs)}/min, bad {PerMinute(bs)}/min"
            : null;

    /// <summary>
    /// What <paramref name="more"/> does that <paramref name="less"/> does not, among the two call patterns that fragment
    /// a glibc heap: big requests (they move the top of the heap) and realloc() shrinks (they leave a hole behind the
    /// shrunk block). Named when <paramref name="more"/> makes at least one a second and at least twice as many. For a
    /// regression that is the culprit against its parent; for a fix, the parent against the fixing commit.
    /// </summary>
    private static string? CallPattern(SideFigures less, SideFigures more, string lessName)
    {
        static bool New(double? l, double? m) => m is { } mv && l is { } lv && mv >= 60 && mv >= 2 * lv;
        var parts = new List<string>();
        if (New(less.BigRequestsPerMinute, more.BigRequestsPerMinute))
            parts.Add($"requests blocks of 1 MiB or more {PerMinute(more.BigRequestsPerMinute!.Value)} times a minute ({lessName}: {PerMinute(less.BigRequestsPerMinute!.Value)})");
        if (New(less.ReallocShrinksPerMinute, more.ReallocShrinksPerMinute))
            parts.Add($"shrinks blocks with realloc() {PerMinute(more.ReallocShrinksPerMinute!.Value)} times a minute ({lessName}: {PerMinute(less.ReallocShrinksPerMinute!.Value)})");
        return parts.Count == 0 ? null : string.Join(" and ", parts);
    }

    private static string PerMinute(double rate) => Math.Max(0, rate).ToString("0", CultureInfo.InvariantCulture);

    private static string Mb(double bytes) => (bytes / MiB).ToString("0.0", CultureInfo.InvariantCulture);

    private static string Rate(double bytesPerMinute) => (bytesPerMinute / MiB).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);

    private static string Signed(double bytes) => (bytes / MiB).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);

    // Every number in the text goes through these helpers, so the text is the same under any culture.
    private static string Seconds(double s) => s.ToString("0.#", CultureInfo.InvariantCulture);

}
