using Bisector.Recipes;
using Bisector.Search;
using Bisector.Statistics;

namespace Bisector.Tests.Search;

/// <summary>The scan for further changes on synthetic commit series (the search is pure: no process, git or build).</summary>
public class RangeScanSpecs
{
    private const double Noise = 100e3;
    private const double MiB = 1024 * 1024;

    private static SearchOptions Options(double minEffect = 1 * MiB) =>
        new(SearchStrategy.Bisect, 2, new DecisionSpec("rss_anon", FeatureKind.Plateau, RegressionDirection.Increase, minEffect), 0, InitialTrials: 3, MaxTrialsPerPosition: 12);

    /// <summary>A run's trials in memory, as the Measurer keeps them: the search adds trials, the scan asks for totals;
    /// both see the same list, so the scan reuses what the search measured. Trial k of position p is fixed by (p, k).</summary>
    private sealed class StepLine(Func<int, double> level, int seed)
    {
        private readonly Dictionary<int, List<TrialSeries>> _trials = [];

        public int TrialsRun { get; private set; }

        public int OkTrials(int position) => _trials.TryGetValue(position, out var l) ? l.Count : 0;

        public Task<IReadOnlyList<PositionEvidence>> MeasureAsync(IReadOnlyList<MeasureRequest> requests, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<PositionEvidence>>(requests.Select(r => Grow(r.Position, OkTrials(r.Position) + r.AdditionalTrials)).ToList());

        public Task<IReadOnlyList<PositionEvidence>> EnsureAsync(IReadOnlyList<TrialTarget> targets, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<PositionEvidence>>(targets.Select(t => Grow(t.Position, t.Trials)).ToList());

        private PositionEvidence Grow(int position, int total)
        {
            var list = _trials.TryGetValue(position, out var l) ? l : _trials[position] = [];
            while (list.Count < total)
            {
                // Not HashCode.Combine: it is seeded per process, so a test would see other trials on every run.
                var rng = new Random(unchecked(seed * 1_000_003 + position * 10_007 + list.Count));
                var offset = Noise * Gaussian(rng);
                list.Add(new TrialSeries(
                    Enumerable.Range(1, 10).Select(s => (double)s).ToArray(),
                    Enumerable.Range(1, 10).Select(_ => level(position) + offset + Noise / 4 * Gaussian(rng)).ToArray()));
                TrialsRun++;
            }

            return new PositionEvidence(position, false, list.ToArray());
        }

        private static double Gaussian(Random rng) =>
            Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
    }

    private static async Task<(SearchOutcome Search, RangeChanges Scan, StepLine Line)> SearchAndScanAsync(
        int n, Func<int, double> level, int seed, int budget = 200)
    {
        var line = new StepLine(level, seed);
        var search = await SearchEngine.RunAsync(n, line.MeasureAsync, Options());
        Assert.True(search.Status == SearchStatus.Found, search.Summary);
        var scan = await RangeScan.RunAsync(n, search, line.EnsureAsync, line.OkTrials, Options(), budget);
        return (search, scan!, line);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task I_can_find_both_changes_in_one_range_with_the_earlier_one_marked_as_the_answer(int seed)
    {
        // Arrange: a 16 MiB level step at 9, then 3 MiB more at 22, of 30 candidates
        double Level(int p) => 20 * MiB + (p >= 9 ? 16 * MiB : 0) + (p >= 22 ? 3 * MiB : 0);

        // Act
        var (search, scan, line) = await SearchAndScanAsync(30, Level, seed);

        // Assert: both changes, each with its size; the first (git bisect's first bad commit) is the answer
        Assert.Equal([9, 22], scan.Changes.Select(c => c.Position));
        Assert.All(scan.Changes, c => Assert.Equal(ChangeDirection.Worse, c.Direction));
        Assert.Equal(16, scan.Changes[0].Shift / MiB, 0);
        Assert.InRange(scan.Changes[1].Shift / MiB, 2.5, 3.5);
        Assert.Equal(9, scan.Answer!.Position);
        Assert.Equal(22, scan.Ranked[1].Position);
        // Every trial is counted once: what the search took plus what the scan added, nothing measured twice.
        Assert.Equal(line.TrialsRun, search.TrialsSpent + scan.NewTrials);
        // Each side of each change was searched: before 9, 9..22 (where 22 was found), before 22 and after 22.
        Assert.Contains(scan.Segments, s => s is { From: 0, To: 8, Verdict: SegmentVerdict.NoFurtherChange });
        Assert.Contains(scan.Segments, s => s is { From: 22, To: 30, Verdict: SegmentVerdict.NoFurtherChange });
    }

    /// <summary>The line's measurer, with positions <paramref name="a"/> and <paramref name="b"/> one build: the later-asked
    /// of the two is answered with the first one's trials, named by the run's position, as the Measurer does. Every
    /// position asked is added to <paramref name="asked"/>.</summary>
    private static (MeasureAsync Measure, EnsureTrialsAsync Ensure) Twins(
        StepLine line, int a, int b, List<int> asked)
    {
        int? measuredAt = null;
        PositionEvidence Answer(int position, Func<int, PositionEvidence> grow)
        {
            asked.Add(position);
            if (position == a || position == b)
            {
                measuredAt ??= position;
                if (measuredAt != position)
                    return grow(measuredAt.Value) with { Position = position, SameBuildAs = measuredAt };
            }
            return grow(position);
        }
        Task<IReadOnlyList<PositionEvidence>> Measure(IReadOnlyList<MeasureRequest> requests, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<PositionEvidence>>(requests.Select(r => Answer(r.Position, p => line.MeasureAsync([new MeasureRequest(p, r.AdditionalTrials)], ct).Result[0])).ToList());
        Task<IReadOnlyList<PositionEvidence>> Ensure(IReadOnlyList<TrialTarget> targets, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<PositionEvidence>>(targets.Select(t => Answer(t.Position, p => line.EnsureAsync([new TrialTarget(p, t.Trials)], ct).Result[0])).ToList());
        return (Measure, Ensure);
    }

    [Fact]
    public async Task I_can_see_no_further_change_where_a_segment_ends_on_the_same_build_it_starts_with()
    {
        // Arrange: one 4 MiB step at 7 of 12, and 12 builds exactly like 7 (the commits between them changed nothing the
        // build holds), so the segment after the culprit starts and ends on one build. The measurer answers the
        // later-asked of the two with the first one's trials, as the Measurer does.
        double Level(int p) => 20 * MiB + (p >= 7 ? 4 * MiB : 0);
        var line = new StepLine(Level, seed: 5);
        var (measure, ensure) = Twins(line, 7, 12, []);

        // Act
        var search = await SearchEngine.RunAsync(12, measure, Options());
        var scan = await RangeScan.RunAsync(12, search, ensure, line.OkTrials, Options(), 200);

        // Assert: both directions of 7..12 say "no further change", naming the identical builds, not "undecided"
        Assert.True(search.Status == SearchStatus.Found && search.Culprit == 7, search.Summary);
        var after = scan!.Segments.Where(s => s.From == 7 && s.To == 12).ToArray();
        Assert.Equal(2, after.Length);
        Assert.All(after, s =>
        {
            Assert.Equal(SegmentVerdict.NoFurtherChange, s.Verdict);
            Assert.Contains("identical", s.Explanation);
        });
    }

    [Fact]
    public async Task I_can_scan_a_range_whose_culprit_has_an_identical_build_without_asking_for_positions_outside_it()
    {
        // Arrange: one 4 MiB step at 7 of 12, and 8 builds exactly like 7 (a comment-only commit). The measurer answers
        // the later-asked of the two with the first one's trials, naming it by the run's position, as the Measurer does.
        double Level(int p) => 20 * MiB + (p >= 7 ? 4 * MiB : 0);
        var line = new StepLine(Level, seed: 5);
        var asked = new List<int>();
        var (measure, ensure) = Twins(line, 7, 8, asked);

        // Act
        var search = await SearchEngine.RunAsync(12, measure, Options());
        var scan = await RangeScan.RunAsync(12, search, ensure, line.OkTrials, Options(), 200);

        // Assert: the twin's position is translated into each segment's own numbering, so nothing outside 0..12 is asked
        Assert.True(search.Status == SearchStatus.Found, search.Summary);
        Assert.All(asked, p => Assert.InRange(p, 0, 12));
        Assert.NotNull(scan);
        Assert.Contains(scan!.Changes, c => c.IsAnswer && c.Position == search.Culprit);
    }

    [Fact]
    public async Task I_can_see_a_range_with_one_change_say_no_further_change_only_where_it_was_measured()
    {
        // Arrange: one 4 MiB step at 7 of 12
        double Level(int p) => 20 * MiB + (p >= 7 ? 4 * MiB : 0);

        // Act
        var (_, scan, _) = await SearchAndScanAsync(12, Level, seed: 5);

        // Assert: one change, the answer; both segments measured in both directions, each with the interval of "no regression" and trials
        var change = Assert.Single(scan.Changes);
        Assert.True(change.IsAnswer);
        Assert.True(change.FoundBySearch);
        Assert.Equal(4, scan.Segments.Count);
        Assert.All(scan.Segments, s =>
        {
            Assert.Equal(SegmentVerdict.NoFurtherChange, s.Verdict);
            Assert.Contains("'no regression': ", s.Explanation);
            Assert.Contains("n = ", s.Explanation);
        });
        // The recipe's direction first, earliest segment first (a change before the culprit would be the answer), then
        // the opposite direction.
        Assert.Equal([(0, 6, ChangeDirection.Worse), (7, 12, ChangeDirection.Worse), (0, 6, ChangeDirection.Better), (7, 12, ChangeDirection.Better)],
            scan.Segments.Select(s => (s.From, s.To, s.Direction)));
        // α is spent by halving: each search's α is half the one before.
        Assert.Equal([0.005, 0.0025, 0.00125, 0.000625], scan.Segments.Select(s => s.Alpha));
    }

    [Fact]
    public async Task I_can_find_a_partial_fix_after_the_regression_without_it_becoming_the_answer()
    {
        // Arrange: +8 MiB at 5, then −4 MiB at 15, of 20
        double Level(int p) => 20 * MiB + (p >= 5 ? 8 * MiB : 0) - (p >= 15 ? 4 * MiB : 0);

        // Act
        var (_, scan, _) = await SearchAndScanAsync(20, Level, seed: 2);

        // Assert
        Assert.Equal([5, 15], scan.Changes.Select(c => c.Position));
        var fix = scan.Changes[1];
        Assert.Equal(ChangeDirection.Better, fix.Direction);
        Assert.InRange(fix.Shift / MiB, -4.5, -3.5);
        Assert.False(fix.IsAnswer);
        Assert.Equal(5, scan.Answer!.Position);
    }

    [Fact]
    public async Task I_can_see_segments_left_unchecked_when_the_budget_is_spent_never_called_unchanged()
    {
        // Arrange: a change at 9 and another at 22, and a scan that may not take a single new trial
        double Level(int p) => 20 * MiB + (p >= 9 ? 16 * MiB : 0) + (p >= 22 ? 3 * MiB : 0);

        // Act
        var (_, scan, _) = await SearchAndScanAsync(30, Level, seed: 1, budget: 0);

        // Assert: nothing is claimed about the segments: no 'no further change' without the trials behind it
        Assert.All(scan.Segments, s => Assert.Equal(SegmentVerdict.NotChecked, s.Verdict));
        Assert.Equal(0, scan.NewTrials);
        Assert.Contains("budget", scan.Segments[0].Explanation);
    }

    [Fact]
    public async Task I_can_see_every_segment_get_a_look_when_one_segment_is_ambiguous()
    {
        // Arrange: +4 MiB at 4 of 12, then +0.5 MiB at 8 — half the min-effect, which neither "no further change" nor a
        // change can be shown for, so the segment after the culprit could take every new trial the scan may spend
        double Level(int p) => 20 * MiB + (p >= 4 ? 4 * MiB : 0) + (p >= 8 ? 0.5 * MiB : 0);

        // Act
        var (_, scan, _) = await SearchAndScanAsync(12, Level, seed: 3, budget: 30);

        // Assert: the search after the culprit keeps to about its half of the budget (plus the round in flight), and
        // the segment before it is searched with what is left, not skipped as "budget spent"
        var text = string.Join("; ", scan.Segments.Select(s => $"{s.From}..{s.To} {s.Direction} {s.Verdict} {s.NewTrials}: {s.Explanation}"));
        Assert.True(scan.Segments.First(s => s.From == 4 && s.Direction == ChangeDirection.Worse).NewTrials <= 20, text);
        var before = scan.Segments.First(s => s.From == 0 && s.Direction == ChangeDirection.Worse);
        Assert.DoesNotContain("is spent", before.Explanation, StringComparison.Ordinal);
        Assert.True(before.NewTrials > 0 || before.Verdict != SegmentVerdict.NotChecked, text);
    }

    [Fact]
    public async Task I_can_get_no_scan_when_the_search_named_no_culprit()
    {
        // Arrange: no change at all
        var line = new StepLine(_ => 20 * MiB, seed: 3);
        var search = await SearchEngine.RunAsync(10, line.MeasureAsync, Options());

        // Act
        var scan = await RangeScan.RunAsync(10, search, line.EnsureAsync, line.OkTrials, Options(), 100);

        // Assert
        Assert.Equal(SearchStatus.NoRegression, search.Status);
        Assert.Null(scan);
    }
}
