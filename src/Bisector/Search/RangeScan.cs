using System.Globalization;
using System.Text.Json.Serialization;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search;

/// <summary>At least this many Ok trials of one position: the callback measures only what is missing.</summary>
public sealed record TrialTarget(int Position, int Trials);

/// <summary>The effectful edge of the scan: make sure each target position has at least that many Ok trials (measuring
/// only the missing ones; trials already taken are reused) and return each position's cumulative evidence.</summary>
public delegate Task<IReadOnlyList<PositionEvidence>> EnsureTrialsAsync(IReadOnlyList<TrialTarget> targets, CancellationToken ct);

/// <summary>A change's direction relative to the recipe's: <see cref="Worse"/> is a regression as the recipe defines
/// it, <see cref="Better"/> the opposite (a fix or partial fix).</summary>
public enum ChangeDirection
{
    Worse,
    Better,
}

public enum SegmentVerdict
{
    /// <summary>The segment's ends do not differ by the smallest effect that counts, in this direction (the search's
    /// "no regression"), or are the same build.</summary>
    NoFurtherChange,

    /// <summary>A change was named and confirmed by fresh trials (the e-value reached 1/α of this search).</summary>
    ChangeFound,

    /// <summary>The search ended without a decision either way.</summary>
    Undecided,

    /// <summary>Not searched: the scan's budget or its number of searches ran out.</summary>
    NotChecked,

    /// <summary>The segment holds no candidate commit.</summary>
    Empty,
}

/// <summary>One change of the deciding feature found in the range: where, how large (bad side − good side, in the
/// feature's raw units, with its interval), in which direction, and which search named it at what α.</summary>
public sealed record RangeChange(
    int Position,
    ChangeDirection Direction,
    double Shift,
    double ShiftLow,
    double ShiftHigh,
    double Level,
    int TrialsBefore,
    int TrialsAfter,
    double EValue,
    double Alpha,
    int SegmentFrom,
    int SegmentTo,
    bool FoundBySearch)
{
    /// <summary>The first change in the recipe's direction (git bisect's "first bad commit"): the one that answers
    /// the question the run was started with.</summary>
    public bool IsAnswer { get; init; }

    /// <summary>With unbuildable neighbours, the change is somewhere in <see cref="RangeFirst"/>..<see cref="Position"/>.</summary>
    public int RangeFirst { get; init; }
}

/// <summary>One search of one segment (positions <paramref name="From"/>..<paramref name="To"/>: the anchor and the
/// candidates after it) in one direction, and what it concluded.</summary>
public sealed record SegmentCheck(
    int From,
    int To,
    ChangeDirection Direction,
    SegmentVerdict Verdict,
    double Alpha,
    int NewTrials,
    string Explanation);

/// <summary>Every change of at least the smallest effect found in the range, and what was measured of the rest: the
/// search's culprit first, then the scan of the segments before and after it (<see cref="RangeScan"/>).</summary>
public sealed record RangeChanges(
    IReadOnlyList<RangeChange> Changes,
    IReadOnlyList<SegmentCheck> Segments,
    int NewTrials,
    int Budget,
    double Alpha)
{
    [JsonIgnore]
    public RangeChange? Answer => Changes.FirstOrDefault(c => c.IsAnswer);

    /// <summary>Largest change first (by the size of its shift).</summary>
    [JsonIgnore]
    public IReadOnlyList<RangeChange> Ranked => Changes.OrderByDescending(c => Math.Abs(c.Shift)).ThenBy(c => c.Position).ToArray();

    /// <summary>How the scan spent α, for the report.</summary>
    [JsonIgnore]
    public string AlphaStatement => string.Create(CultureInfo.InvariantCulture,
        $"the search named its culprit at α = {Alpha}; the scan's k-th search runs at α/2^k (α/2, α/4, …), so all the scan's 'change found' claims together are false with probability below α (union bound over Σ α/2^k < α); each 'no further change' holds at β = α/2^k/4 of its search");
}

/// <summary>
/// After a culprit is named, the scan for further changes: the segments after the culprit (culprit..bad end) and
/// before it (good end..the culprit's parent) are each searched with <see cref="SearchEngine"/> itself, on a sub-line
/// whose positions map onto the run's (sub-position 0 = the segment's anchor), so every trial already taken is reused
/// and never measured again. Each segment is searched in the recipe's direction and, when that finds nothing, in the
/// opposite one (a partial fix); a change found splits its segment in two, which are scanned in turn. The k-th search
/// runs at α/2^k, so the scan's claims together hold α (docs/benchmarks-search.md, "Several changes in one range").
/// The searches in the recipe's direction run first, earliest segment first (a change before the culprit would be the
/// answer), then the opposite direction. Cost is bounded by a budget of new trials (<see cref="Budget"/>), shared by the
/// segments still to search — a search in the recipe's direction may take all of it but <see cref="MinBudget"/> for each
/// other segment waiting, one in the opposite direction an equal share (a search that would exceed its share is stopped
/// after the round in flight) — and by <see cref="MaxSearches"/>.
/// </summary>
public static class RangeScan
{
    /// <summary>New trials the scan may spend after <paramref name="outcome"/>: <see cref="BudgetPerSearchTrial"/> times
    /// what the search spent, at least <see cref="MinBudget"/> (a segment without a change needs 7 trials at each of its
    /// ends for "no change" at α = 0.01; docs/benchmarks.md), plus at most the trials of the round in flight when it runs
    /// out. Runs and `bench scan` both take it from here.</summary>
    public static int Budget(SearchOutcome outcome) => Math.Max(BudgetPerSearchTrial * outcome.TrialsSpent, MinBudget);

    /// <summary>The scan's budget per trial of the search. A range with one change leaves most of it unspent (its quiet
    /// segments end early); with two 1-IQR changes it decides how often the first is found. `bench scan`, N = 30 / 100,
    /// 400 seeds: at 2 the answer was the first of two changes in 85.9 / 93.0 % of ranges and a partial fix found in
    /// 52.2 / 52.3 %; at 3, 92.3 / 96.4 % and 77.8 / 75.3 %, for +18 / +19 new trials there and +1 in one-change
    /// ranges (docs/benchmarks-search.md, session 17).</summary>
    public const int BudgetPerSearchTrial = 3;

    public const int MinBudget = 24;

    /// <summary>Searches the scan runs at most (the last at α/2^8).</summary>
    public const int MaxSearches = 8;

    /// <param name="okTrials">How many Ok trials a position holds now (stored or taken by the search).</param>
    /// <param name="budget">New trials the scan may spend (it may overshoot by one round's trials).</param>
    /// <returns>Null when the outcome names no single culprit: there is nothing to scan around.</returns>
    public static async Task<RangeChanges?> RunAsync(
        int n, SearchOutcome outcome, EnsureTrialsAsync ensure, Func<int, int> okTrials, SearchOptions options, int budget, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (outcome.Status != SearchStatus.Found || outcome.Culprit is not { } culprit || outcome.Boundary is not { } boundary)
            return null;

        var changes = new List<RangeChange>
        {
            new(culprit, ChangeDirection.Worse, boundary.Effect, boundary.EffectLow, boundary.EffectHigh, boundary.ConfidenceLevel,
                boundary.Baseline.Count, boundary.Candidate.Count, outcome.ErrorControl?.EValue ?? double.NaN, options.Alpha, 0, n, FoundBySearch: true)
            { RangeFirst = outcome.RangeFirst },
        };
        var checks = new List<SegmentCheck>();
        // Searches still to run, in the order of what they can change: a change in the recipe's direction before every
        // one found so far would be the new answer, so the recipe's direction comes first, earliest segment first; the
        // opposite direction (a partial fix) only after every search in the recipe's direction, and for a segment only
        // when that found nothing in it. Until session 17 the segment after the culprit went first, in both directions:
        // with two 1-IQR regressions, the earlier one was missed and the later one stood as the answer in 12–17 % of
        // `bench scan` ranges (docs/benchmarks-search.md).
        var pending = new List<(int From, int To, ChangeDirection Direction)> { (0, outcome.RangeFirst - 1, ChangeDirection.Worse), (culprit, n, ChangeDirection.Worse) };
        var searches = 0;
        var spent = 0;
        while (pending.Count > 0)
        {
            var next = pending.OrderBy(t => t.Direction).ThenBy(t => t.From).First();
            pending.Remove(next);
            var (from, to, direction) = next;
            if (to <= from)
            {
                checks.Add(new SegmentCheck(from, to, ChangeDirection.Worse, SegmentVerdict.Empty, 0, 0,
                    from == 0 ? "no candidate commit before the change: it is the first candidate" : "no candidate commit after the change: it is the bad end"));
                continue;
            }
            if (searches >= MaxSearches || spent >= budget)
            {
                checks.Add(new SegmentCheck(from, to, direction, SegmentVerdict.NotChecked, 0, 0, searches >= MaxSearches
                    ? $"not checked: the scan runs at most {MaxSearches} searches"
                    : $"not checked: the scan's budget of {budget} new trials is spent"));
                if (direction == ChangeDirection.Worse)
                    pending.Add((from, to, ChangeDirection.Better));
                continue;
            }

            searches++;
            var alpha = options.Alpha / Math.Pow(2, searches);
            // This segment and every other one with a search waiting share what is left of the budget equally, so one
            // ambiguous segment cannot spend it all and leave the others "not checked" (the demo under load did); what a
            // search leaves unspent flows on to the next.
            var waiting = pending.Select(t => (t.From, t.To)).Distinct().Count(segment => segment != (from, to));
            var share = (budget - spent + waiting) / (waiting + 1);
            // A search in the recipe's direction may take all but a quiet segment's worth (MinBudget) for each other
            // segment waiting: the earliest one can change the answer, and a segment without a change rarely needs more
            // (`bench scan`, 1-IQR changes, N = 30 / 100, budget 2× the search: the answer was the first of two changes in
            // 85.9 / 93.0 % of ranges instead of 78.2 / 82.2 % with equal shares; docs/benchmarks-search.md, session 17).
            if (direction == ChangeDirection.Worse)
                share = Math.Max(share, budget - spent - MinBudget * waiting);
            var (check, change) = await SearchSegmentAsync(from, to, direction, alpha, share, ensure, okTrials, options, ct).ConfigureAwait(false);
            spent += check.NewTrials;
            checks.Add(check);
            if (change is not null)
            {
                changes.Add(change);
                // The two sides of the new change are scanned in turn, in both directions.
                pending.Add((from, change.RangeFirst - 1, ChangeDirection.Worse));
                pending.Add((change.Position, to, ChangeDirection.Worse));
            }
            else if (direction == ChangeDirection.Worse)
                pending.Add((from, to, ChangeDirection.Better));
        }

        var answer = changes.Where(c => c.Direction == ChangeDirection.Worse).MinBy(c => c.Position);
        return new RangeChanges(changes.Select(c => c with { IsAnswer = c == answer }).OrderBy(c => c.Position).ToArray(), checks, spent, budget, options.Alpha);
    }

    private static async Task<(SegmentCheck Check, RangeChange? Change)> SearchSegmentAsync(
        int from, int to, ChangeDirection direction, double alpha, int allowance, EnsureTrialsAsync ensure, Func<int, int> okTrials,
        SearchOptions options, CancellationToken ct)
    {
        var decision = direction == ChangeDirection.Worse ? options.Decision : options.Decision with { Direction = Flip(options.Decision.Direction) };
        // A segment is searched by bisection whatever the run's strategy: an exhaustive pass over it again would only
        // re-read what the run's own exhaustive pass measured.
        var subOptions = options with
        {
            Alpha = alpha,
            Decision = decision,
            Strategy = options.Strategy == SearchStrategy.Exhaustive ? SearchStrategy.Bisect : options.Strategy,
            PositionBase = options.PositionBase + from,
        };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var line = new SubLine(from, to, ensure, okTrials, allowance, stop);
        SearchOutcome sub;
        try
        {
            sub = await SearchEngine.RunAsync(to - from, line.MeasureAsync, subOptions, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (new SegmentCheck(from, to, direction, SegmentVerdict.NotChecked, alpha, line.NewTrials,
                $"not finished: this search's share of the scan's budget ({allowance} new trials, the rest kept for the other segments) ran out after {line.NewTrials} new trial(s)"), null);
        }

        var what = direction == ChangeDirection.Worse ? "change in the recipe's direction" : "change in the opposite direction";
        var scale = options.Scale;
        switch (sub.Status)
        {
            case SearchStatus.Found or SearchStatus.FoundRange when sub.Boundary is { } b:
                var position = from + sub.RangeLast;
                var change = new RangeChange(position, direction, b.Effect, b.EffectLow, b.EffectHigh, b.ConfidenceLevel, b.Baseline.Count, b.Candidate.Count,
                    sub.ErrorControl?.EValue ?? double.NaN, alpha, from, to, FoundBySearch: false)
                { RangeFirst = from + sub.RangeFirst };
                return (new SegmentCheck(from, to, direction, SegmentVerdict.ChangeFound, alpha, line.NewTrials, string.Create(CultureInfo.InvariantCulture,
                    $"{what} at position {position}: shift {scale.Format(b.Effect, signed: true)}, e-value {EValueText.Value(change.EValue)} ≥ 1/α = {1 / alpha:G4}, confirmed by fresh trials (n = {b.Baseline.Count} vs {b.Candidate.Count})")), change);
            case SearchStatus.NoRegression when sub.Boundary is { } b:
                return (new SegmentCheck(from, to, direction, SegmentVerdict.NoFurtherChange, alpha, line.NewTrials, string.Create(CultureInfo.InvariantCulture,
                    $"no {what} of {scale.Format(options.Decision.MinEffect)} or more between positions {from} and {to} (measured: {b.Explanation})")), null);
            case SearchStatus.NoRegression:
                // No comparison at all: the segment's two ends are the same build, so nothing between them can change
                // what it measures (a revert, or changes that cancel out in the code).
                return (new SegmentCheck(from, to, direction, SegmentVerdict.NoFurtherChange, alpha, line.NewTrials,
                    $"no {what} between positions {from} and {to}: {sub.Summary}"), null);
            default:
                return (new SegmentCheck(from, to, direction, SegmentVerdict.Undecided, alpha, line.NewTrials,
                    $"undecided, no claim either way: {sub.Summary}"), null);
        }
    }

    private static RegressionDirection Flip(RegressionDirection d) =>
        d == RegressionDirection.Increase ? RegressionDirection.Decrease : RegressionDirection.Increase;

    /// <summary>Positions <c>from..to</c> of the run seen by a search as 0..to−from: requests become "at least this
    /// many trials" of the run's position, so what the run already measured there is handed over first.</summary>
    private sealed class SubLine(int from, int to, EnsureTrialsAsync ensure, Func<int, int> okTrials, int allowance, CancellationTokenSource stop)
    {
        private readonly Dictionary<int, int> _seen = [];
        private readonly Dictionary<int, int> _before = [];

        /// <summary>Ok trials this search added to the run.</summary>
        public int NewTrials => _before.Sum(kv => okTrials(kv.Key) - kv.Value);

        public async Task<IReadOnlyList<PositionEvidence>> MeasureAsync(IReadOnlyList<MeasureRequest> requests, CancellationToken ct)
        {
            if (NewTrials >= allowance)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }

            foreach (var r in requests)
                _before.TryAdd(from + r.Position, okTrials(from + r.Position));
            var targets = requests.Select(r => new TrialTarget(from + r.Position, _seen.GetValueOrDefault(r.Position) + r.AdditionalTrials)).ToList();
            var evidence = await ensure(targets, ct).ConfigureAwait(false);
            return evidence.Select(e =>
            {
                // An identical build is named by the run's position: inside the segment it becomes the sub-line's, outside
                // it the trials simply stand for this position (the sub-search cannot ask for a position it does not have).
                var local = e with
                {
                    Position = e.Position - from,
                    SameBuildAs = e.SameBuildAs is { } twin && twin >= from && twin <= to ? twin - from : null,
                };
                _seen[local.Position] = e.Features?.Count ?? e.Trials.Count;
                return local;
            }).ToList();
        }
    }
}
