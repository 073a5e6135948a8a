using System.Globalization;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search;

/// <summary>
/// Finds the first bad position among 1..N given a good anchor at 0, through the <see cref="MeasureAsync"/> callback
/// only: a pure function of its inputs and what the callback returns. The steps: confirm the ends differ (more trials
/// while the verdict is Unknown, up to the cap), then measure positions chosen by the strategy until the culprit
/// posterior reaches the requested confidence, then re-measure the culprit and its good neighbour with fresh trials
/// and only name it if those fresh trials alone say Regressed and the posterior, with them added, still reaches the
/// confidence. Every batch after a position's first adds <see cref="SearchOptions.InitialTrials"/> more (a sequential
/// look every few trials, instead of doubling), and the ends are compared again before every round: when the trials
/// the anchors gather during the search show "Same", the search ends with no regression rather than chase noise.
/// </summary>
public static class SearchEngine
{
    public static async Task<SearchOutcome> RunAsync(int candidateCount, MeasureAsync measure, SearchOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(measure);
        ArgumentNullException.ThrowIfNull(options);
        if (candidateCount < 1)
            throw new UsageException("range", "the range holds no candidate commits", "Widen the range or the path filter so at least one commit is between good and bad");
        options.Validate();
        var run = new Run(candidateCount, measure, options, ct);
        return await run.ExecuteAsync().ConfigureAwait(false);
    }

    private sealed class Run(int n, MeasureAsync measure, SearchOptions o, CancellationToken ct)
    {
        private readonly Dictionary<int, PositionEvidence> _evidence = new();
        private readonly Dictionary<int, List<double>> _features = new();
        private readonly List<SearchRound> _rounds = new();
        private int _trialsSpent;
        private bool _capHit;

        private RegressionDirection Direction => o.Decision.Direction;
        private int Count(int p) => _features.TryGetValue(p, out var f) ? f.Count : 0;
        private bool Skipped(int p) => _evidence.TryGetValue(p, out var e) && e.Skipped;
        private IReadOnlyList<double> Values(int p) => _features.TryGetValue(p, out var f) ? f : [];
        private bool BudgetLeft => _trialsSpent < o.TrialBudget && _rounds.Count < o.MaxRounds;

        private Comparison Compare(IReadOnlyList<double> a, IReadOnlyList<double> b) =>
            Comparisons.Compare(a, b, Direction, o.Decision.MinEffect, o.Alpha, o.SameAlpha, o.Scale);

        /// <summary>Next batch: the initial trials for a new position, else as many again, never above the cap. Small
        /// steps are sequential looks: a search stops a position's measuring as soon as the evidence suffices, where
        /// doubling (5 → 10 → 20 → 40) overshot by half a batch on average.</summary>
        private int NextBatch(int p) => Math.Min(o.InitialTrials, o.MaxTrialsPerPosition - Count(p));

        private async Task MeasureAsync(IReadOnlyList<MeasureRequest> requests, string reason)
        {
            var wanted = requests.Where(r => r.AdditionalTrials > 0).ToList();
            if (wanted.Count == 0)
                return;
            ct.ThrowIfCancellationRequested();
            var results = await measure(wanted, ct).ConfigureAwait(false);
            foreach (var e in results)
            {
                _evidence[e.Position] = e;
                var list = _features.TryGetValue(e.Position, out var l) ? l : _features[e.Position] = new List<double>();
                // Evidence is cumulative: only trials beyond those already seen are new.
                for (var i = list.Count; i < e.Trials.Count; i++)
                {
                    list.Add(Features.Extract(e.Trials[i], o.Decision.Feature, o.WarmupSeconds));
                    _trialsSpent++;
                }
            }
            _rounds.Add(new SearchRound(_rounds.Count + 1, wanted.Select(r => r.Position).ToArray(), reason));
        }

        public async Task<SearchOutcome> ExecuteAsync()
        {
            await MeasureAsync([new(0, o.InitialTrials), new(n, o.InitialTrials)], "anchors: good end (0) and bad end (N)").ConfigureAwait(false);
            if (Skipped(0) || Skipped(n))
                return Finish(SearchStatus.Undecided, null, 0, 0, 0, null,
                    $"the {(Skipped(0) ? "good anchor (position 0)" : $"bad end (position {n})")} could not be built; choose a buildable commit for that end");

            var ends = Compare(Values(0), Values(n));
            while (ends.Verdict == Verdict.Unknown && BudgetLeft)
            {
                if (NextBatch(0) <= 0 && NextBatch(n) <= 0) { _capHit = true; break; }
                await MeasureAsync([new(0, NextBatch(0)), new(n, NextBatch(n))], "ends undecided: more trials at both ends").ConfigureAwait(false);
                ends = Compare(Values(0), Values(n));
            }
            switch (ends.Verdict)
            {
                case Verdict.Same or Verdict.Improved:
                    return Finish(SearchStatus.NoRegression, null, 0, 0, 0, ends, $"the bad end is not worse than the good end ({ends.Verdict}): {ends.Explanation}");
                case Verdict.Unknown:
                    return Finish(SearchStatus.Undecided, null, 0, 0, 0, ends, $"could not tell the ends apart within the trial cap: {ends.Explanation}");
            }
            if (n == 1)
                return Finish(SearchStatus.Found, 1, 1, 1, 1, ends, "the only candidate is the bad end, which differs from the good anchor");

            if (o.Strategy == SearchStrategy.Exhaustive)
                await MeasureAsync(Enumerable.Range(1, n - 1).Select(p => new MeasureRequest(p, o.InitialTrials)).ToArray(), "exhaustive: every position").ConfigureAwait(false);

            var verifications = 0;
            while (true)
            {
                // The anchors gain trials as the search goes (see Pick); if they now show no regression, the first
                // verdict was a false alarm and the rest of the search would only chase noise.
                var again = Compare(Values(0), Values(n));
                if (again.Verdict is Verdict.Same or Verdict.Improved)
                    return Finish(SearchStatus.NoRegression, null, 0, 0, 0, again,
                        $"with the trials gathered since, the bad end is not worse than the good end ({again.Verdict}): {again.Explanation}");
                // Everything rests on the ends differing; if at the cap they no longer do, measuring every commit to the
                // cap (what a diffuse posterior asks for) cannot make them.
                if (again.Verdict == Verdict.Unknown && NextBatch(0) <= 0 && NextBatch(n) <= 0)
                {
                    _capHit = true;
                    return Finish(SearchStatus.Undecided, null, 0, 0, 0, again,
                        $"with both ends at the cap of {o.MaxTrialsPerPosition} trials they no longer differ clearly: {again.Explanation}");
                }
                var post = Posterior();
                var (first, last, mass) = TopBlock(post);
                if (mass >= o.Confidence)
                {
                    // A refuted culprit is not the end: the fresh trials join the evidence and the posterior moves on.
                    var verified = await VerifyAsync(first, last, ++verifications >= MaxVerifications).ConfigureAwait(false);
                    if (verified is not null)
                        return verified;
                    continue;
                }
                if (!BudgetLeft)
                    return Finish(SearchStatus.Undecided, null, first, last, mass, null,
                        $"budget spent ({_trialsSpent} trials, {_rounds.Count} rounds) with the best guess {Describe(first, last)} at {mass:P1}");
                var picks = Pick(post);
                if (picks.Count == 0)
                {
                    _capHit = true;
                    return Finish(SearchStatus.Undecided, null, first, last, mass, null,
                        $"every informative position reached the cap of {o.MaxTrialsPerPosition} trials; best guess {Describe(first, last)} at {mass:P1}");
                }
                await MeasureAsync(picks, string.Create(CultureInfo.InvariantCulture,
                    $"posterior top {Describe(first, last)} at {mass:P1} < {o.Confidence:P0}: split the remaining probability")).ConfigureAwait(false);
            }
        }

        private double[] Posterior() => CulpritPosterior.Compute(n, Values(0), Values(n), Values);

        /// <summary>A skipped commit cannot be told from the next buildable one, so blame goes to blocks: a run of
        /// skipped positions plus the buildable position that ends it.</summary>
        private (int First, int Last, double Mass) TopBlock(double[] post)
        {
            (int, int, double) best = (n, n, 0);
            for (var c = 1; c <= n; c++)
            {
                if (Skipped(c)) continue;
                var first = c;
                var mass = post[c - 1];
                while (first > 1 && Skipped(first - 1)) { first--; mass += post[first - 1]; }
                if (mass > best.Item3) best = (first, c, mass);
            }
            return best;
        }

        private List<MeasureRequest> Pick(double[] post)
        {
            // cdf[i] = P(culprit ≤ i) = P(position i already looks like the bad end).
            var cdf = new double[n];
            double acc = 0;
            for (var i = 1; i < n; i++) { acc += post[i - 1]; cdf[i] = acc; }
            var targets = o.Strategy == SearchStrategy.Bisect ? 1 : o.Workers;
            var chosen = new List<MeasureRequest>();
            for (var k = 1; k <= targets; k++)
            {
                var q = k / (double)(targets + 1);
                int best = -1;
                var bestDistance = double.MaxValue;
                for (var i = 1; i < n; i++)
                {
                    if (Skipped(i) || NextBatch(i) <= 0 || chosen.Any(r => r.Position == i)) continue;
                    // Beyond the first pick, a position whose side is all but known cannot move the posterior; a
                    // round with fewer positions is filled with more trials of the useful ones (RunEngine).
                    if (k > 1 && Math.Min(cdf[i], 1 - cdf[i]) < SettledSide) continue;
                    var d = Math.Abs(cdf[i] - q);
                    if (d < bestDistance - 1e-12) { best = i; bestDistance = d; }
                }
                if (best >= 0) chosen.Add(new MeasureRequest(best, NextBatch(best)));
            }
            // Every split's side levels lean on the anchors; an anchor known from 5 trials cannot tell a 40-trial
            // position apart from itself, so the anchors keep up with the most-measured position.
            if (chosen.Count > 0)
            {
                var most = chosen.Max(r => Count(r.Position) + r.AdditionalTrials);
                foreach (var anchor in new[] { 0, n })
                    if (Count(anchor) < most && NextBatch(anchor) > 0)
                        chosen.Add(new MeasureRequest(anchor, NextBatch(anchor)));
            }
            return chosen;
        }

        /// <summary>Beyond its first pick, a k-ary round skips positions whose side (good or bad) is known with
        /// probability above 1 − this (113 → 105 trials for a level step at N = 10, same accuracy and rounds;
        /// docs/benchmarks-search.md).</summary>
        private const double SettledSide = 0.05;

        /// <summary>Verification attempts before a refuted culprit ends the search as Undecided.</summary>
        private const int MaxVerifications = 3;

        private async Task<SearchOutcome?> VerifyAsync(int first, int last, bool lastAttempt)
        {
            var good = first - 1; // buildable by construction (or the anchor)
            int goodBefore = Count(good), badBefore = Count(last), fresh = 0;
            Comparison check;
            while (true)
            {
                var add = Math.Min(o.InitialTrials, o.MaxTrialsPerPosition - fresh);
                await MeasureAsync([new(good, add), new(last, add)],
                    $"verify: fresh trials of {good} (good side) and {last} (culprit)").ConfigureAwait(false);
                fresh += add;
                check = Compare(Values(good).Skip(goodBefore).ToArray(), Values(last).Skip(badBefore).ToArray());
                if (check.Verdict != Verdict.Unknown || fresh >= o.MaxTrialsPerPosition || !BudgetLeft)
                    break;
            }
            if (check.Verdict == Verdict.Unknown && fresh >= o.MaxTrialsPerPosition)
                _capHit = true;
            var post = Posterior();
            var mass = Enumerable.Range(first, last - first + 1).Sum(c => post[c - 1]);
            // The fresh trials are evidence for the posterior too: if they pull it below the confidence, the boundary
            // is less certain than it looked, even when the fresh pair alone differs.
            var confirmed = check.Verdict == Verdict.Regressed && mass >= o.Confidence;
            if (!confirmed && !lastAttempt && BudgetLeft)
                return null;
            if (check.Verdict != Verdict.Regressed)
                return Finish(SearchStatus.Undecided, null, first, last, mass, check,
                    $"the posterior pointed at {Describe(first, last)}, but fresh trials did not confirm it ({check.Verdict}): {check.Explanation}");
            if (!confirmed)
                return Finish(SearchStatus.Undecided, null, first, last, mass, check,
                    string.Create(CultureInfo.InvariantCulture, $"fresh trials confirmed a difference at {Describe(first, last)}, but with them the posterior fell to {mass:P1} < {o.Confidence:P0}: {check.Explanation}"));
            var status = first == last ? SearchStatus.Found : SearchStatus.FoundRange;
            return Finish(status, first == last ? last : null, first, last, mass, check,
                $"{Describe(first, last)} with posterior {mass:P1}, confirmed by fresh trials: {check.Explanation}");
        }

        private static string Describe(int first, int last) =>
            first == last ? $"position {last}" : $"positions {first}..{last} (unbuildable commits in between)";

        private SearchOutcome Finish(SearchStatus status, int? culprit, int first, int last, double confidence, Comparison? boundary, string summary)
        {
            // The final table is computed as 'bisector status' computes it during a run: one place for both.
            var standing = SearchStanding.From(n, p => Skipped(p) ? [] : Values(p), o.Decision, o.Alpha);
            var (versusGood, posterior) = (standing.VersusGood, standing.Posterior);
            var bimodal = _features.Keys.Order().Select(p => Modality.Check(p, Values(p), o.Decision.MinEffect / 2, o.Scale)).OfType<BimodalityWarning>().ToArray();
            var warning = bimodal.Length == 0 ? "" : $" Warning: {bimodal.Length} commit(s) with bimodal trials: {bimodal[0].Message}.";
            return new SearchOutcome(status, culprit, first, last, confidence, boundary, posterior, versusGood, _rounds,
                _trialsSpent, _capHit, string.Create(CultureInfo.InvariantCulture, $"{status}: {summary}{warning}"))
            {
                Strategy = o.Strategy,
                ChangePoints = o.Strategy == SearchStrategy.Exhaustive ? DetectChanges() : [],
                Bimodal = bimodal,
            };
        }

        /// <summary>Runs detection on the plateau and on the slope: a level step moves only the plateau, a change in
        /// growth rate moves the slope (and, over time, the plateau too).</summary>
        private IReadOnlyList<ChangePoint> DetectChanges()
        {
            var positions = _evidence.Values.Where(e => !e.Skipped && e.Trials.Count > 0).Select(e => e.Position).Order().ToArray();
            var found = new List<ChangePoint>();
            foreach (var kind in new[] { FeatureKind.Plateau, FeatureKind.Slope })
            {
                var values = positions.Select(p => (IReadOnlyList<double>)_evidence[p].Trials
                    .Select(t => Features.Extract(t, kind, o.WarmupSeconds)).ToArray()).ToArray();
                found.AddRange(ChangePoints.Detect(positions, values, kind, o.Alpha));
            }
            return found;
        }
    }
}
