using Bisector.Diagnosis;
using Bisector.Sampling;
using Bisector.Statistics;

namespace Bisector.Tests.Diagnosis;

/// <summary>The classification on synthetic series: 10 Hz for 60 s after a 2 s warm-up, values in bytes.</summary>
public sealed class MemoryDiagnosisSpecs
{
    private const double MiB = 1024 * 1024;

    // in-use, free and rss as functions of seconds; arena = in-use + free; no mmapped chunks.
    private static IReadOnlyDictionary<string, TrialSeries> Trial(Func<double, double> inUse, Func<double, double> free, Func<double, double>? rss = null, bool heap = true)
    {
        var t = Enumerable.Range(0, 620).Select(i => i / 10.0).ToList();
        TrialSeries S(Func<double, double> f) => new(t, t.Select(f).ToList());
        var d = new Dictionary<string, TrialSeries> { [Metrics.RssAnon] = S(rss ?? (s => inUse(s) + free(s) + 0.3 * MiB)) };
        if (heap)
        {
            d[Metrics.HeapInUse] = S(inUse);
            d[Metrics.HeapFree] = S(free);
            d[Metrics.HeapArena] = S(s => inUse(s) + free(s));
            d[Metrics.HeapMmapped] = S(_ => 0);
        }

        return d;
    }

    private static MemoryDiagnosis Classify(IReadOnlyDictionary<string, TrialSeries> good, IReadOnlyDictionary<string, TrialSeries> bad) =>
        MemoryDiagnosis.Classify(SideFigures.From([good], Metrics.RssAnon, 2)!, SideFigures.From([bad], Metrics.RssAnon, 2)!);

    private static readonly IReadOnlyDictionary<string, TrialSeries> Flat = Trial(_ => 4 * MiB, _ => 0.2 * MiB);

    [Fact]
    public void I_can_classify_free_space_growing_under_a_flat_in_use_heap_as_fragmentation()
    {
        // Arrange: in-use flat at 1.2 MiB, free in the arena grows 3.4 MiB/min
        var bad = Trial(_ => 1.2 * MiB, s => 0.2 * MiB + 3.4 * MiB * s / 60);

        // Act
        var d = Classify(Flat, bad);

        // Assert
        Assert.Equal(GrowthKind.Fragmentation, d.Kind);
        Assert.StartsWith("heap fragmentation: in-use flat at 1.2 MiB (0.0 MiB/min), free in arena grew +3.4 MiB/min", d.Headline);
    }

    [Fact]
    public void I_can_classify_in_use_growing_with_rss_as_a_leak()
    {
        // Arrange
        var bad = Trial(s => 4 * MiB + 13 * MiB * s / 60, _ => 0.2 * MiB);

        // Act
        var d = Classify(Flat, bad);

        // Assert
        Assert.Equal(GrowthKind.Leak, d.Kind);
        Assert.StartsWith("leak: heap in-use grows +13.0 MiB/min", d.Headline);
    }

    [Fact]
    public void I_can_classify_in_use_growing_then_levelling_off_as_a_larger_working_set()
    {
        // Arrange: grows 10 MiB/min for the first 30 s, then flat
        var bad = Trial(s => 4 * MiB + 10 * MiB * Math.Min(s, 30) / 60, _ => 0.2 * MiB);

        // Act
        var d = Classify(Flat, bad);

        // Assert
        Assert.Equal(GrowthKind.WorkingSet, d.Kind);
        Assert.Contains("levelled off at 9.0 MiB", d.Headline);
    }

    [Fact]
    public void I_can_classify_a_higher_flat_level_as_a_step_and_say_whether_it_is_in_the_heap()
    {
        // Arrange: +16 MiB of live heap, and separately +16 MiB outside it
        var inHeap = Trial(_ => 20 * MiB, _ => 0.2 * MiB);
        var outside = Trial(_ => 4 * MiB, _ => 0.2 * MiB, _ => 20.5 * MiB);

        // Act
        var heapStep = Classify(Flat, inHeap);
        var staticStep = Classify(Flat, outside);

        // Assert
        Assert.Equal(GrowthKind.LevelStep, heapStep.Kind);
        Assert.Contains("in the malloc heap (in-use +16.0 MiB)", heapStep.Headline);
        Assert.Equal(GrowthKind.LevelStep, staticStep.Kind);
        Assert.Contains("outside the malloc heap", staticStep.Headline);
    }

    [Fact]
    public void I_can_classify_rss_growing_into_free_memory_the_heap_already_holds_as_fragmentation()
    {
        // Arrange: journald's culprit (run 20261130-185637-c4b5): in-use flat at 0.3 MiB, 4.4 MiB free in the arena from
        // the start (good: 0.3), the arena's size flat, rss_anon climbing 0.2 MiB/min into it; the run decided on a
        // 200 KiB/min slope, so growth counts from 0.1 MiB over this one-minute window
        var good = Trial(_ => 0.3 * MiB, _ => 0.3 * MiB, _ => 0.8 * MiB);
        var bad = Trial(_ => 0.3 * MiB, _ => 4.4 * MiB, s => 1.0 * MiB + 0.2 * MiB * s / 60);

        // Act
        var d = MemoryDiagnosis.Classify(SideFigures.From([good], Metrics.RssAnon, 2)!, SideFigures.From([bad], Metrics.RssAnon, 2)!, MiB, significantGrowthBytes: 0.1 * MiB);

        // Assert: not "non-heap growth … mmap, thread stacks or another allocator", which the tool said before
        Assert.Equal(GrowthKind.Fragmentation, d.Kind);
        Assert.StartsWith("heap fragmentation: in-use flat at 0.3 MiB (0.0 MiB/min), free in arena holds 4.4 MiB (good: 0.3) that rss_anon grows into", d.Headline);
    }

    [Fact]
    public void I_can_classify_rss_growth_the_heap_does_not_explain_as_non_heap_growth()
    {
        // Arrange: rss grows 20 MiB/min, heap flat
        var bad = Trial(_ => 4 * MiB, _ => 0.2 * MiB, s => 5 * MiB + 20 * MiB * s / 60);

        // Act
        var d = Classify(Flat, bad);

        // Assert
        Assert.Equal(GrowthKind.NonHeap, d.Kind);
    }

    [Fact]
    public void I_can_get_an_honest_rss_only_answer_without_heap_counters()
    {
        // Arrange
        var good = Trial(_ => 4 * MiB, _ => 0.2 * MiB, heap: false);
        var bad = Trial(_ => 1.2 * MiB, s => 0.2 * MiB + 30 * MiB * s / 60, heap: false);

        // Act
        var d = Classify(good, bad);

        // Assert
        Assert.Equal(GrowthKind.Growth, d.Kind);
        Assert.Contains("cannot tell a leak from fragmentation", d.Headline);
        Assert.Contains("sampling.heap-counters: true", d.Headline);
    }

    [Fact]
    public void I_can_see_slow_growth_named_when_the_run_was_decided_on_a_slope_threshold()
    {
        // Arrange: journald-like, without heap counters: flat 1.0 MiB vs +0.3 MiB/min, i.e. +0.3 MiB over this
        // 60 s window — below the 1 MiB level default, above half of a 200 KiB/min min-effect (0.1 MiB over 60 s)
        var good = Trial(_ => 0.5 * MiB, _ => 0.2 * MiB, heap: false);
        var bad = Trial(_ => 0.5 * MiB, s => 0.2 * MiB + 0.3 * MiB * s / 60, heap: false);
        var goodSide = SideFigures.From([good], Metrics.RssAnon, 2)!;
        var badSide = SideFigures.From([bad], Metrics.RssAnon, 2)!;

        // Act
        var byLevelDefault = MemoryDiagnosis.Classify(goodSide, badSide);
        var bySlopeThreshold = MemoryDiagnosis.Classify(goodSide, badSide, MiB, significantGrowthBytes: 200 * 1024 / 2.0);

        // Assert
        Assert.Equal(GrowthKind.NoChange, byLevelDefault.Kind);
        // The "no change" line states each threshold beside the figure it applies to (it used to say "no memory change
        // above 0.2 MiB" next to a +0.4 MiB level difference on journald).
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(byLevelDefault.Headline, @"^no memory change that counts between the good and bad sides: rss_anon \+0\.\d MiB \(a level step counts from 1\.0 MiB\) and \+0\.3 MiB/min, \+0\.\d MiB over the [\d.]+ s window \(growth counts from 1\.0 MiB\)$"), byLevelDefault.Headline);
        Assert.Equal(GrowthKind.Growth, bySlopeThreshold.Kind);
        Assert.StartsWith("memory growth: rss_anon grows +0.3 MiB/min (good: 0.0)", bySlopeThreshold.Headline);
        Assert.Contains("from decide.min-effect", bySlopeThreshold.Details[^1]);
    }

    [Fact]
    public void I_can_see_no_change_when_both_sides_match()
    {
        // Act
        var d = Classify(Flat, Trial(_ => 4.1 * MiB, _ => 0.2 * MiB));

        // Assert
        Assert.Equal(GrowthKind.NoChange, d.Kind);
    }

    [Fact]
    public void I_can_parse_a_heapstats_record_and_reject_a_torn_one()
    {
        // Arrange
        var ok = "seq=7 t_ms=1 pid=2 arena=1000 ordblks=1 uordblks=600 fordblks=400 keepcost=100 hblks=1 hblkhd=4096 malloc=3 end=7   \n"u8;
        var torn = "seq=8 t_ms=1 pid=2 arena=1000 ordblks=1 uordblks=600 fordblks=400 keepcost=100 hblks=1 hblkhd=4096 malloc=3 end=7\n"u8;

        // Act
        var parsed = HeapCounters.TryParse(ok, out var counters);
        var tornParsed = HeapCounters.TryParse(torn, out _);

        // Assert: a record without call counters (an older shim) has them as −1, and adds no samples for them
        Assert.True(parsed);
        Assert.Equal(new HeapCounters(7, 1000, 600, 400, 4096, 100), counters);
        Assert.Equal((-1, -1), (counters.ReallocShrinks, counters.BigRequests));
        var samples = new List<Sample>();
        counters.AddTo(1.5, samples);
        Assert.DoesNotContain(samples, x => x.Metric is Metrics.HeapReallocShrinks or Metrics.HeapBigRequests);
        Assert.False(tornParsed);
        Assert.False(HeapCounters.TryParse(ReadOnlySpan<byte>.Empty, out _));
    }

    [Fact]
    public void I_can_parse_the_shims_call_counters_and_store_them_as_samples()
    {
        // Arrange: a whole record as heapstats.c writes it
        var record = System.Text.Encoding.ASCII.GetBytes("seq=9 t_ms=5 pid=2 arena=1000 ordblks=1 uordblks=600 fordblks=400 keepcost=100 hblks=1 hblkhd=4096 " +
                      "malloc=30 calloc=2 realloc=12 free=28 realloc_shrink=11 realloc_grow=1 big=10 h0=1 h1=2 h2=3 h3=4 h4=5 " +
                      "h5=6 h6=7 h7=10 end=9 \n");

        // Act
        var parsed = HeapCounters.TryParse(record, out var counters);
        var samples = new List<Sample>();
        counters.AddTo(2.5, samples);

        // Assert
        Assert.True(parsed);
        Assert.Equal((11, 10), (counters.ReallocShrinks, counters.BigRequests));
        Assert.Contains(new Sample(2.5, Metrics.HeapReallocShrinks, 11), samples);
        Assert.Contains(new Sample(2.5, Metrics.HeapBigRequests, 10), samples);
    }

    [Fact]
    public void I_can_see_the_culprits_new_call_pattern_named_in_a_fragmentation_diagnosis()
    {
        // Arrange: as the fragmentation case, and the bad side now requests 4 MiB and shrinks it with realloc() 10
        // times a second (600 a minute) where the good side did neither
        var bad = Trial(_ => 1.2 * MiB, s => 0.2 * MiB + 3.4 * MiB * s / 60);
        var good = new Dictionary<string, TrialSeries>(Flat);
        var t = bad[Metrics.RssAnon].Seconds;
        ((Dictionary<string, TrialSeries>)bad)[Metrics.HeapBigRequests] = new(t, t.Select(x => Math.Floor(10 * x)).ToList());
        ((Dictionary<string, TrialSeries>)bad)[Metrics.HeapReallocShrinks] = new(t, t.Select(x => Math.Floor(10 * x)).ToList());
        good[Metrics.HeapBigRequests] = new(t, t.Select(_ => 0.0).ToList());
        good[Metrics.HeapReallocShrinks] = new(t, t.Select(x => Math.Floor(x / 10)).ToList());

        // Act
        var d = Classify(good, bad);

        // Assert
        Assert.Equal(GrowthKind.Fragmentation, d.Kind);
        Assert.EndsWith("; the culprit requests blocks of 1 MiB or more 600 times a minute (good: 0) and shrinks blocks with realloc() 600 times a minute (good: 6)", d.Headline);
        Assert.Contains("allocation calls: requests of 1 MiB or more: good 0/min, bad 600/min; realloc() shrinking a block: good 6/min, bad 600/min", d.Details);
    }

    [Fact]
    public void I_can_compare_two_heaptrack_prints_by_allocation_site()
    {
        // Arrange: the shape heaptrack_print 1.4 writes (-p -T), trimmed; addresses differ between the two runs
        const string good = """
            PEAK MEMORY CONSUMERS
            6.29M peak memory consumed over 1 calls from
            load_catalog
              at src/daemon/main.c:54
              in /a/demod
            main
              at src/daemon/main.c:159
            6.29M consumed over 1 calls from:
                __libc_start_call_main

            72.70K peak memory consumed over 1 calls from
            0x7f197baa57b9
              in /lib/x86_64-linux-gnu/libstdc++.so.6
            72.70K consumed over 1 calls from:
                call_init

            MOST TEMPORARY ALLOCATIONS
            8000 temporary allocations of 8000 allocations in total (100.00%) from
            handle
              at src/daemon/main.c:96
            serve
            8000 temporary allocations of 8000 allocations in total (100.00%) from:
                main
            """;
        var bad = good.Replace("0x7f197baa57b9", "0x7f28d50a57b9").Replace("6.29M", "10.29M")
            + "\n\n16658 temporary allocations of 16658 allocations in total (99.00%) from\nread_small_file\n  at src/store/reader.c:30\ncache_refresh\n";

        // Act
        var text = BoundaryProfile.Compare(BoundaryProfile.Parse(good), BoundaryProfile.Parse(bad));

        // Assert
        var lines = text.Split('\n');
        Assert.Equal("peak bytes (good → bad):", lines[0]);
        Assert.Equal("  6.29 → 10.29 MiB  load_catalog ← main ← __libc_start_call_main", lines[1]);
        Assert.Equal("temporary allocations (good → bad):", lines[2]);
        Assert.Equal("  0 → 16658  read_small_file ← cache_refresh", lines[3]);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public void I_can_see_a_step_inside_a_short_window_held_as_free_heap_memory_diagnosed_as_fragmentation()
    {
        // Arrange: the demo culprit's figures from a fresh-clone suite (6.4 s window): its step extrapolates to +73 MiB/min
        // = 7.8 MiB, but its level is only 4.0 MiB above the good side's and 7.7 MiB sit free in its arena
        const double M = 1024 * 1024;
        var good = new SideFigures(2, 6.4, "rss_anon", 4.4 * M, 0.2 * M, 0.2 * M, 0.2 * M, 4.2 * M, 0.1 * M, 0.1 * M, 0.1 * M, 0.0, -0.1 * M, 4.3 * M, 0.1 * M);
        var bad = new SideFigures(2, 6.4, "rss_anon", 8.4 * M, 73.0 * M, 73.3 * M, 57.5 * M, 0.5 * M, 0.0, 0.2 * M, 0.0, 7.7 * M, 36.2 * M, 8.3 * M, 36.3 * M);

        // Act
        var diagnosis = MemoryDiagnosis.Classify(good, bad);

        // Assert
        Assert.Equal(GrowthKind.Fragmentation, diagnosis.Kind);
    }
}
