using System.Globalization;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Search;

/// <summary>
/// Finds the first bad position among 1..N given a good anchor at 0, through the <see cref="MeasureAsync"/> callback
/// only: a pure function of its inputs and what the callback returns.
/// <para>Error control is per search, by construction (docs/benchmarks-search.md, "Error control"): a regression is
/// only ever named once the e-value "the range holds a change" — the two-sample t e-value of
/// <see cref="SequentialTests.EValue(IReadOnlyList{double}, IReadOnlyList{double})"/> on the two sides of every possible
/// culprit, averaged with the weight of that culprit's commits — reaches 1/α. An average of e-processes is an
/// e-process, so by Ville's inequality a range without a change is blamed with probability at most α, however many
/// looks the search takes. "No regression" at the ends (<see cref="Run.NoRegressionAtEnds"/>) needs the ends' exact
/// shift interval on one boundary calibrated over every look to end below the min-effect, or the t e-value that the bad
/// end less the min-effect is below the good end to reach its bound: a regression of the min-effect is missed with
/// probability at most β = <see cref="SearchOptions.SameAlpha"/> per search.</para>
/// <para>Trials are sized by the evidence: each position gets as many trials as the fitted two-level model (per-side
/// level and scale) says it needs for about <see cref="ProbeEvidence"/> nats, one when one trial decides; workers that
/// would idle measure the next positions the search may need (both halves' next midpoints) instead. When the posterior
/// reaches the confidence, the culprit and its good neighbour get fresh trials, scored against the two-level model
/// fitted without them; the culprit is named only when they alone give ln(1/α) nats for the split, the posterior with
/// them still reaches the confidence and the e-value has reached 1/α.</para>
/// </summary>
public static class SearchEngine
{
    /// <summary>Evidence in nats a probe aims at: ln 19, a side probability of 95 % from an even start.</summary>
    public const double ProbeEvidence = 2.944;

    /// <summary>Trials a side at the first look at the ends: the fewest an e-value can decide on.</summary>
    public const int FirstLook = 2;

    /// <summary>Expected evidence a trial gives (the fitted model's, in nats) from which one trial is a probe: the
    /// next round looks at the posterior again and re-measures the position if that trial left it ambiguous, so a
    /// probe of 1 trial at 2 nats costs at most what a planned second trial would (10-IQR steps: the first probes'
    /// fits give 2.6–3.2 nats a trial, below <see cref="ProbeEvidence"/>, and got 2 trials each).</summary>
    public const double OneTrialEvidence = 2;

    /// <summary>The e-value of the ends' first look from which, with the fitted model expecting at least
    /// <see cref="OneTrialEvidence"/> nats a trial, probing starts at once. Session 7 had (1/α)^¼ ≈ 3.2: 10-IQR steps whose
    /// 2 + 2 trials held a heavy-tailed one read 0.6–3 and paid 2 + 2 more trials at the ends (4.5 % of N = 100
    /// searches, 17 trials each); at 2, with the fit's condition kept, N = 100 steps cost 13.06 → 13.02 trials and
    /// 1-IQR searches kept their accuracy (docs/benchmarks-search.md, session 8). It only schedules: the e-value and
    /// its threshold are untouched.</summary>
    public const double LargeFirstLookEValue = 2;

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
        /// <summary>Positions whose build is identical to another's → the position measured for both.</summary>
        private readonly Dictionary<int, int> _sameBuildAs = new();
        private readonly List<SearchRound> _rounds = new();
        private int _trialsSpent;
        private bool _capHit;
        private double _eValue = 1;
        private bool _established;

        private double Sign => o.Decision.Direction == RegressionDirection.Increase ? 1 : -1;
        private int Count(int p) => _features.TryGetValue(Measured(p), out var f) ? f.Count : 0;
        private bool Skipped(int p) => _evidence.TryGetValue(p, out var e) && e.Skipped;
        private IReadOnlyList<double> Values(int p) => _features.TryGetValue(Measured(p), out var f) ? f : [];
        /// <summary>The position whose trials stand for <paramref name="p"/> (itself unless its build is identical to another's).</summary>
        private int Measured(int p) => _sameBuildAs.TryGetValue(p, out var m) ? m : p;
        private double[] Worse(int p) => Values(p).Where(double.IsFinite).Select(v => Sign * v).ToArray();
        private bool BudgetLeft => _trialsSpent < o.TrialBudget && _rounds.Count < o.MaxRounds;
        private int Room(int p) => o.MaxTrialsPerPosition - Count(p);
        private double Threshold => ln(1 / o.Alpha);
        private static double ln(double x) => Math.Log(x);

        private async Task MeasureAsync(IReadOnlyList<MeasureRequest> requests, string reason)
        {
            // A position with an identical build is measured where its trials are.
            var wanted = requests.Where(r => r.AdditionalTrials > 0).GroupBy(r => Measured(r.Position))
                .Select(g => new MeasureRequest(g.Key, g.Sum(r => r.AdditionalTrials))).ToList();
            if (wanted.Count == 0)
                return;
            ct.ThrowIfCancellationRequested();
            var results = await measure(wanted, ct).ConfigureAwait(false);
            var ran = new List<string>();
            foreach (var r in results)
            {
                var e = r;
                if (r.SameBuildAs is { } same && same != r.Position)
                {
                    // The trials are the earlier position's: they count there, once, and stand for this one too.
                    var at = Measured(same);
                    _sameBuildAs[r.Position] = at;
                    _evidence[r.Position] = r;
                    e = r with { Position = at, SameBuildAs = null };
                    ran.Add($"{At(r.Position)} same build as {At(at)}");
                }
                _evidence[e.Position] = e;
                var list = _features.TryGetValue(e.Position, out var l) ? l : _features[e.Position] = new List<double>();
                // Evidence is cumulative: only trials beyond those already seen are new.
                var before = list.Count;
                var values = e.Features ?? e.Trials.Select(t => Features.Extract(t, o.Decision.Feature, o.WarmupSeconds)).ToArray();
                for (var i = list.Count; i < values.Count; i++)
                {
                    list.Add(values[i]);
                    _trialsSpent++;
                }
                if (e.Position == r.Position || list.Count > before)
                    ran.Add(e.Skipped ? $"{At(e.Position)} skipped" : $"{At(e.Position)}+{list.Count - before}");
            }
            // The log says what ran, which can differ from what was asked (failed trials, rounds filled to the workers).
            _rounds.Add(new SearchRound(_rounds.Count + 1, wanted.Select(r => r.Position).ToArray(), $"{reason}; ran {string.Join(", ", ran)}")
            {
                Requested = wanted,
            });
        }

        public async Task<SearchOutcome> ExecuteAsync()
        {
            var first = new List<MeasureRequest> { new(0, FirstLook), new(n, FirstLook) };
            if (o.Strategy != SearchStrategy.Exhaustive)
                first.AddRange(Fill(Uniform(), 2 * FirstLook, first));
            await MeasureAsync(first, $"anchors: good end ({At(0)}) and bad end ({At(n)}), the fewest trials an e-value can decide on").ConfigureAwait(false);
            if (Skipped(0) || Skipped(n))
                return Finish(SearchStatus.Undecided, null, 0, 0, 0, null,
                    $"the {(Skipped(0) ? $"good anchor (position {At(0)})" : $"bad end (position {At(n)})")} could not be built; choose a buildable commit for that end");
            if (Measured(0) == Measured(n))
                return Finish(SearchStatus.NoRegression, null, 0, 0, 0, null,
                    "the bad end's build is identical to the good end's (same code and data, without debug info and build id): nothing in the range can change what it measures");
            if (o.Strategy == SearchStrategy.Exhaustive && n > 1)
                await MeasureAsync(Enumerable.Range(1, n - 1).Select(p => new MeasureRequest(p, o.InitialTrials)).ToArray(), "exhaustive: every position").ConfigureAwait(false);

            var verifications = 0;
            while (true)
            {
                UpdateEValue();
                if (!_established)
                {
                    var same = SameAtEnds();
                    if (same is not null)
                        return same;
                }
                var post = Posterior();
                var (lo, hi, mass) = TopBlock(post);
                if (n == 1 && _established)
                    return Finish(SearchStatus.Found, 1, 1, 1, 1, EndsComparison(), "the only candidate is the bad end, which differs from the good anchor");
                if (n > 1 && (mass >= o.Confidence || Bracketed(lo, hi, mass, post)) && (_established || !EndsFirst()))
                {
                    // A refuted culprit is not the end: the fresh trials join the evidence and the posterior moves on.
                    var verified = await VerifyAsync(lo, hi, ++verifications >= (_established ? MaxVerificationsOnceShown : MaxVerifications)).ConfigureAwait(false);
                    if (verified is not null)
                        return verified;
                    continue;
                }
                if (!BudgetLeft)
                    return Finish(SearchStatus.Undecided, null, lo, hi, mass, EndsComparison(),
                        $"budget spent ({_trialsSpent} trials, {_rounds.Count} rounds) with the best guess {Describe(lo, hi)} at {mass:P1}");

                var plan = Plan(post);
                if (plan.Count == 0)
                {
                    _capHit = true;
                    // The change is shown but no position that could move the posterior may take another trial: fresh
                    // trials of the leading split (verification counts its own) are the evidence left, and the posterior
                    // must still reach the confidence with them (1-IQR level steps at N = 10: 2 of 400 searches ended
                    // here after 350+ trials with the right culprit at 91 % and 94 %; both are named now,
                    // docs/benchmarks-search.md session 8). A refuted attempt's fresh trials move the posterior like any
                    // other, so this is one of the verification attempts, not a last one (session 10).
                    if (_established && n > 1)
                    {
                        var verified = await VerifyAsync(lo, hi, ++verifications >= MaxVerificationsOnceShown).ConfigureAwait(false);
                        if (verified is not null)
                            return verified;
                        continue;
                    }
                    return Finish(SearchStatus.Undecided, null, lo, hi, mass, EndsComparison(),
                        string.Create(CultureInfo.InvariantCulture,
                            $"every informative position reached the cap of {o.MaxTrialsPerPosition} trials (e-value {EValueText.Value(_eValue)}, needs {1 / o.Alpha:G3}); best guess {Describe(lo, hi)} at {mass:P1}"));
                }
                var why = !_established && EndsFirst()
                    ? string.Create(CultureInfo.InvariantCulture, $"ends not yet decided (e-value {EValueText.Value(_eValue)} of {1 / o.Alpha:G3}): more trials at the ends")
                    : string.Create(CultureInfo.InvariantCulture, $"posterior top {Describe(lo, hi)} at {mass:P1} < {o.Confidence:P0}: split the remaining probability")
                      + (plan.Any(r => r.Position == 0 || r.Position == n) ? string.Create(CultureInfo.InvariantCulture, $", and twice the trials at the ends after {StallRounds} probe rounds without a verdict") : "");
                await MeasureAsync(plan, why).ConfigureAwait(false);
            }
        }

        /// <summary>Half the ends' two-sample e-value plus half the mixture over every possible culprit (weight: its
        /// share of the N candidates) of the e-value of its two sides, each counted only where the bad side is the worse
        /// one. A fixed average of e-processes is one. The ends' half keeps the search as strong as a test of the ends
        /// alone (a factor 2, where the mixture alone pays up to N while the probes split the range); the mixture's half
        /// lets every probe's trials count once the sides are clear. Positions between two measured ones give the same
        /// sides, so the mixture runs over the gaps between measured positions.</summary>
        private void UpdateEValue()
        {
            var measured = MeasuredPositions();
            if (measured.Length < 2 || measured[0] != 0 || measured[^1] != n)
                return;
            var values = measured.Select(Worse).ToArray();
            double e = 0;
            for (var j = 0; j + 1 < measured.Length; j++)
            {
                var weight = (measured[j + 1] - measured[j]) / (double)n;
                e += weight * SequentialTests.OneSidedEValue(values[..(j + 1)].SelectMany(v => v).ToArray(), values[(j + 1)..].SelectMany(v => v).ToArray());
            }
            var endsE = SequentialTests.OneSidedEValue(values[0], values[^1]);
            e = (e + endsE) / 2;
            _eValue = e;
            // Once reached, the decision stands: a later dip of the e-value does not undo a crossing Ville accounts for.
            if (e >= 1 / o.Alpha && (EndsShift() >= o.Decision.MinEffect / 2 || TopSplitShift() >= o.Decision.MinEffect / 2))
                _established = true;
        }

        /// <summary>The Hodges–Lehmann shift between the two sides of the posterior's leading split (every trial before its
        /// block against every trial from it on), in the worse direction: once probes have split the range, the pooled
        /// sides say more about the size of the change than the two ends alone (slopes: 120 vs 120 trials showed
        /// +0.48 MiB/min while the ends' own trials happened to read below half the min-effect).</summary>
        private double TopSplitShift()
        {
            var (first, _, _) = TopBlock(Posterior());
            var (good, bad) = (Side(p => p < first).Select(v => Sign * v).ToArray(), Side(p => p >= first).Select(v => Sign * v).ToArray());
            return good.Length == 0 || bad.Length == 0 ? double.NaN : HodgesLehmann.Estimate(good, bad, 0.5).Shift;
        }

        /// <summary>The Hodges–Lehmann shift bad end − good end in the worse direction.</summary>
        private double EndsShift()
        {
            var (a, b) = (Worse(0), Worse(n));
            return a.Length == 0 || b.Length == 0 ? double.NaN : HodgesLehmann.Estimate(a, b, 0.5).Shift;
        }

        private SearchOutcome? SameAtEnds()
        {
            var same = NoRegressionAtEnds();
            if (same.Shown)
            {
                var ends = EndsComparison(Verdict.Same, same);
                return Finish(SearchStatus.NoRegression, null, 0, 0, 0, ends,
                    $"the bad end is not worse than the good end by {o.Scale.Format(o.Decision.MinEffect)} ({ends.Verdict}): {ends.Explanation}");
            }
            if (Room(0) <= 0 && Room(n) <= 0 && !ProbeOnAtCap())
            {
                _capHit = true;
                return Finish(SearchStatus.Undecided, null, 0, 0, 0, EndsComparison(),
                    string.Create(CultureInfo.InvariantCulture,
                        $"with both ends at the cap of {o.MaxTrialsPerPosition} trials, neither a regression (e-value {EValueText.Value(_eValue)} < {1 / o.Alpha:G3}) nor 'no regression' could be shown"));
            }
            return null;
        }

        /// <summary>"No regression" at the ends: the bad end is not worse than the good end by the min-effect. β per
        /// search is split between two routes, either of which decides: the exact shift interval on one boundary for every
        /// look (<see cref="SequentialTests.NoRegressionBound"/>, <see cref="RankShare"/> of β for any continuous noise,
        /// from 7 trials a side), and the t e-value that the bad end less the min-effect lies below the good end (<see
        /// cref="SequentialTests.OneSidedEValue"/>, the rest of β by Ville's inequality for Gaussian trials, like the regression's;
        /// it decides in 2–4 trials a side when the noise is far below the min-effect, where ranks cannot). Until
        /// session 11 this was Wald's ratio with a plug-in spread, which missed a 1-IQR step in 0.6 % of searches against
        /// its nominal 0.25 % (5 of 800 at N = 1000; docs/benchmarks-search.md).</summary>
        private NoRegressionLook NoRegressionAtEnds()
        {
            var d = o.Decision.MinEffect;
            if (d <= 0)
                return new NoRegressionLook(false, null, 0);
            var (a, b) = (Worse(0), Worse(n));
            var bound = SequentialTests.NoRegressionBound(a, b, o.MaxTrialsPerPosition, RankBeta);
            // Unclipped: one trial far past the min-effect must keep "no regression" from being said on the rest.
            var e = SequentialTests.OneSidedEValue(b.Select(v => v - d).ToArray(), a, clip: false);
            return new NoRegressionLook(bound is not null && bound.High < d || e >= 1 / TBeta, bound, e);
        }

        private sealed record NoRegressionLook(bool Shown, ShiftEstimate? Bound, double EValue);

        /// <summary>The rank route's share of β; the t e-value gets the rest. At ½ / 0.8 / 0.95: 1-IQR A/A searches (N =
        /// 1000, seeds 401–800) 43.9 / 41.9 / 41.1 trials, 10-IQR ones (N = 9) 7.5 / 8.1 / 8.8 (docs/benchmarks-search.md,
        /// session 11).</summary>
        private const double RankShare = 0.8;

        private double RankBeta => o.SameAlpha * RankShare;
        private double TBeta => o.SameAlpha * (1 - RankShare);

        /// <summary>The ends' comparison as the report shows it: the e-value behind the verdict, with the Hodges–Lehmann
        /// shift and its interval; for "no regression", the boundary interval that decided it.</summary>
        private Comparison EndsComparison(Verdict? verdict = null, NoRegressionLook? same = null)
        {
            var good = Values(0).Where(double.IsFinite).ToArray();
            var bad = Values(n).Where(double.IsFinite).ToArray();
            var v = verdict ?? (_established ? Verdict.Regressed : Verdict.Unknown);
            if (v == Verdict.Same && Sign * (Robust.Median(bad) - Robust.Median(good)) < -o.Decision.MinEffect / 2
                && SequentialTests.EValue(Worse(n), Worse(0)) >= 1 / o.Alpha)
                v = Verdict.Improved;
            // The interval shown for "no regression" is the one that decided, in the feature's own direction.
            var bound = same?.Bound is { } b && b.High < o.Decision.MinEffect ? b : null;
            var how = same is null ? ""
                : bound is not null
                    ? string.Create(CultureInfo.InvariantCulture, $"; 'no regression': the shift's exact {100 * bound.ConfidenceLevel:0.###} % interval over the first {Math.Min(good.Length, bad.Length)} trials a side ends below the min-effect (one boundary for every look)")
                    : string.Create(CultureInfo.InvariantCulture, $"; 'no regression': e-value {EValueText.Value(same.EValue)} that the bad end less the min-effect is below the good end (decides at {1 / TBeta:G4})");
            // The t route decides on 2–4 trials a side, where the exact interval is unbounded: the t interval at its level.
            var decided = bound ?? (same is null ? null : Interval(Worse(0), Worse(n), 1 - 2 * TBeta));
            var shown = decided is null ? null
                : Sign > 0 ? decided : decided with { Shift = -decided.Shift, Low = -decided.High, High = -decided.Low };
            return Explain(v, good, bad, string.Create(CultureInfo.InvariantCulture,
                $"e-value for a change in the range {EValueText.Value(_eValue)} (decides at 1/α = {1 / o.Alpha:G4}, α = {o.Alpha} per search){how}{(same is null ? "" : $"; β = {o.SameAlpha.ToString(CultureInfo.InvariantCulture)} per search")}"),
                Math.Min(1, 1 / _eValue), shown);
        }

        private Comparison Explain(Verdict verdict, double[] good, double[] bad, string evidence, double anytimeP, ShiftEstimate? shown = null)
        {
            var level = shown?.ConfidenceLevel ?? 1 - 2 * o.Alpha;
            var shift = shown ?? (good.Length > 0 && bad.Length > 0 ? HodgesLehmann.Estimate(good, bad, level) : new ShiftEstimate(double.NaN, double.NegativeInfinity, double.PositiveInfinity, level));
            var explanation = string.Create(CultureInfo.InvariantCulture,
                $"{verdict}: {evidence}; anytime-valid p {(anytimeP < 1e-4 ? "< 0.0001" : $"≤ {anytimeP:0.####}")}; shift = {o.Scale.Format(shift.Shift, signed: true)} [{o.Scale.Number(shift.Low, signed: true)}, {o.Scale.Number(shift.High, signed: true)}]{o.Scale.Suffix} at {100 * level:0.###} %; threshold = {o.Scale.Format(o.Decision.MinEffect)}; n = {good.Length} vs {bad.Length}");
            return new Comparison(verdict, "sequential e-value (t, Ville)", anytimeP, o.Alpha, shift.Shift, shift.Low, shift.High, level,
                o.Decision.MinEffect, good, bad, explanation)
            { Direction = o.Decision.Direction };
        }

        /// <summary>Before the e-value is near 1/α, trials go to the ends only: probing a range that may hold no change
        /// wastes them. Once it is within a factor √(1/α), probes pay twice (they locate and, pooled, they decide).</summary>
        private bool EndsFirst() => (_eValue < Math.Sqrt(1 / o.Alpha) && !LargeAtFirstLook() || n == 1) && !ProbeOnAtCap();

        /// <summary>The ends' first look (2 vs 2) already shows a large effect: the e-value at
        /// <see cref="LargeFirstLookEValue"/> and the fitted model giving at least <see cref="OneTrialEvidence"/> nats a
        /// trial. Then each probe's single trial joins one side of the true split in the culprit mixture and adds as much
        /// to the e-value as another trial at an end would, while also halving the candidates (10-IQR steps: 2 + 2 more
        /// trials at the ends in a third of the searches before). Both conditions: the e-value alone also fires on 1-IQR
        /// steps whose 2 + 2 trials happen to sit tight, and probing those early cost 2 % accuracy (measured,
        /// docs/benchmarks-search.md).</summary>
        private bool LargeAtFirstLook() =>
            Count(0) <= FirstLook && Count(n) <= FirstLook && _eValue >= LargeFirstLookEValue
            && FitTop(Posterior()).EvidencePerTrial() >= OneTrialEvidence;

        /// <summary>The leading block is bracketed — its good neighbour and its last position both measured — with
        /// most of the posterior (≥ <see cref="BracketedMass"/>), the change shown (e-value past 1/α) and a model in which
        /// one probe trial decides: another probe could only re-measure one of those two positions, while
        /// verification measures both, fresh. Verification still needs the posterior at the confidence at its end.</summary>
        private bool Bracketed(int first, int last, double mass, double[] post) =>
            _established && mass >= BracketedMass && Count(first - 1) > 0 && Count(last) > 0
            && FitTop(post).EvidencePerTrial() >= ProbeEvidence;

        /// <summary>Posterior mass of a bracketed block from which verification may start before the confidence.</summary>
        private const double BracketedMass = 0.75;

        /// <summary>Both ends at the cap, leaning towards a change (the e-value above 1, the ends apart by half the
        /// min-effect): their own trials can add nothing, but probes still can — each probe's trials join one side of the
        /// culprit mixture's true split (1-IQR steps: 6 % of searches ended Undecided at the cap with an e-value of 2–7
        /// after 40 vs 40 trials; probing on, none did in 100 seeds). Bounded by <see cref="CapProbeBudget"/>, so a range
        /// without a change is not measured to the cap everywhere.</summary>
        private bool ProbeOnAtCap() =>
            Room(0) <= 0 && Room(n) <= 0 && n > 1 && o.Decision.MinEffect > 0 && _eValue >= 1
            && _trialsSpent < CapProbeBudget * o.MaxTrialsPerPosition && EndsShift() >= o.Decision.MinEffect / 2 && ProbeRoom();

        /// <summary>Probing on with both ends at the cap stops once the search has spent this many caps of trials. At 4
        /// (twice what the ends hold) two N = 1000 1-IQR level steps of seeds 401–800 (452, 568) ran out of it with
        /// e-values of 2.2 and 7.4 and ended Undecided; at 6 both name the culprit, N = 1000 reads 99.0 % instead of 98.5 %
        /// there (99.8 % instead of 99.3 % on seeds 1–400) for +0.2 trials a search, and one N = 10 A/A search in 400 spent
        /// 222 trials and crossed the e-value (within α; docs/benchmarks-search.md, session 15).</summary>
        private const int CapProbeBudget = 6;

        private bool ProbeRoom() => Enumerable.Range(1, n - 1).Any(p => !Skipped(p) && Room(p) > 0);

        private double[] Posterior() => CulpritPosterior.Compute(n, Values(0), Values(n), Values, o.Decision.MinEffect, Sign, _sameBuildAs);

        private double[] Uniform() => Enumerable.Repeat(1.0 / n, n).ToArray();

        private int[] MeasuredPositions() =>
            _features.Keys.Where(p => !Skipped(p) && Values(p).Any(double.IsFinite)).Order().ToArray();

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

        /// <summary>The split the evidence favours (the posterior's top block), as a two-level model.</summary>
        private SplitFit FitTop(double[] post, Func<int, IReadOnlyList<double>>? valuesAt = null)
        {
            var (first, _, _) = TopBlock(post);
            return CulpritPosterior.FitSplit(n, first, valuesAt ?? Values, o.Decision.MinEffect, Sign, _sameBuildAs);
        }

        /// <summary>Probe rounds since the ends last got trials of their own.</summary>
        private int _probeRounds;

        /// <summary>
        /// Probe rounds after which a search that has not reached verification doubles the trials at both ends (capped)
        /// beside its next probe: 2 (log₂(N+1) + 2), about twice the probes a search that reads every probe right needs.
        /// Why: the levels the posterior scores probes against are fitted from the trials on each side of a split, and
        /// the ends are the only positions whose side is known. A search that starts probing on 2–4 trials an end
        /// (large-looking first looks) and then misreads one 1–2-trial probe (a t₃ bad trial reads good one time in
        /// four at a 1-IQR step) homes in on a wrong region whose trials all sit on one level; the contaminated side
        /// then fits that level, the posterior wanders, and nothing measured there can correct it. At N = 1000 (1-IQR
        /// level step, 400 seeds) 4 searches ran to the 200-round budget that way (841–955 trials each, no call);
        /// with this rule none does (docs/benchmarks-search.md, session 10).
        /// </summary>
        private int StallRounds => (int)Math.Ceiling(2 * (Math.Log2(n + 1) + 2));

        /// <summary>Trials for about <paramref name="nats"/> of evidence at the fitted model's rate, at least 1.</summary>
        private static int Sized(SplitFit fit, double nats, int cap)
        {
            var rate = fit.EvidencePerTrial();
            var k = rate > 0 && double.IsFinite(rate) ? (int)Math.Ceiling(nats / rate) : cap;
            if (rate >= OneTrialEvidence)
                k = 1;
            return Math.Clamp(k, 1, Math.Max(1, cap));
        }

        private List<MeasureRequest> Plan(double[] post)
        {
            var slots = Math.Max(1, o.Workers);
            var plan = new List<MeasureRequest>();
            if (!_established && EndsFirst())
            {
                var add = EndsBatch();
                foreach (var anchor in new[] { 0, n })
                    if (Math.Min(add, Room(anchor)) > 0)
                        plan.Add(new MeasureRequest(anchor, Math.Min(add, Room(anchor))));
                // Idle workers measure where the search goes next if the ends do differ.
                if (EndsShift() >= o.Decision.MinEffect / 2)
                    plan.AddRange(Fill(post, plan.Sum(r => r.AdditionalTrials), plan));
                return plan;
            }

            var fit = FitTop(post);
            var cdf = Cdf(post);
            var targets = o.Strategy == SearchStrategy.Kary ? slots : 1;
            var (first, last, _) = TopBlock(post);
            for (var k = 1; k <= targets; k++)
            {
                var p = Nearest(cdf, k / (double)(targets + 1), plan, k > 1);
                // With the posterior on one block whose two bracketing positions are at the cap, the position nearest
                // the median is one whose side is all but known; measuring it cannot move the posterior (N = 1000, seed
                // 222: 558 trials at positions 2–40 while the culprit 258 sat at 85 %). Once the change is shown, no
                // probe then: fresh trials of the leading split are the evidence left. Before, such a trial still adds
                // to its side in the e-value, so it is taken.
                if (_established && p >= 0 && Settled(cdf, p) && p != first - 1 && p != last)
                    p = -1;
                if (p >= 0)
                    plan.Add(new MeasureRequest(p, Math.Min(Sized(fit, ProbeEvidence, o.InitialTrials), Room(p))));
            }
            if (++_probeRounds >= StallRounds)
            {
                // Re-anchor a search that has not settled: the ends are the only positions whose side is known, and
                // doubling their trials pins both levels again, so every probe trial is rescored against them.
                _probeRounds = 0;
                foreach (var anchor in new[] { 0, n })
                    if (Math.Min(Count(anchor), Room(anchor)) > 0)
                        plan.Add(new MeasureRequest(anchor, Math.Min(Count(anchor), Room(anchor))));
            }
            plan.AddRange(Fill(post, plan.Sum(r => r.AdditionalTrials), plan));
            return plan;
        }

        /// <summary>One trial each at the next positions the search may need — the midpoints of both halves, then of
        /// the quarters — until the round fills the workers' slots.</summary>
        private List<MeasureRequest> Fill(double[] post, int used, IReadOnlyList<MeasureRequest> already)
        {
            var slots = Math.Max(1, o.Workers);
            var free = (slots - used % slots) % slots;
            var fill = new List<MeasureRequest>();
            var cdf = Cdf(post);
            for (var depth = 2; free > 0 && depth <= 16; depth *= 2)
            {
                for (var k = 1; k < depth && free > 0; k += 2)
                {
                    var p = Nearest(cdf, k / (double)depth, [.. already, .. fill], true);
                    if (p < 0) continue;
                    fill.Add(new MeasureRequest(p, 1));
                    free--;
                }
            }
            return fill;
        }

        private double[] Cdf(double[] post)
        {
            // cdf[i] = P(culprit ≤ i) = P(position i already looks like the bad end).
            var cdf = new double[n];
            double acc = 0;
            for (var i = 1; i < n; i++) { acc += post[i - 1]; cdf[i] = acc; }
            return cdf;
        }

        /// <summary>Position <paramref name="i"/>'s side (good or bad) is known with probability above 1 − <see cref="SettledSide"/>.</summary>
        private static bool Settled(double[] cdf, int i) => Math.Min(cdf[i], 1 - cdf[i]) < SettledSide;

        private int Nearest(double[] cdf, double q, IReadOnlyList<MeasureRequest> taken, bool skipSettled)
        {
            int best = -1;
            var bestDistance = double.MaxValue;
            for (var i = 1; i < n; i++)
            {
                // A position with an identical build adds nothing of its own: its side is its twin's.
                if (Skipped(i) || Room(i) <= 0 || _sameBuildAs.ContainsKey(i) || taken.Any(r => Measured(r.Position) == i)) continue;
                // A position whose side is all but known cannot move the posterior.
                if (skipSettled && Settled(cdf, i)) continue;
                var d = Math.Abs(cdf[i] - q);
                if (d < bestDistance - 1e-12) { best = i; bestDistance = d; }
            }
            return best;
        }

        /// <summary>Trials a side for the ends' next look: as many as the fitted separation says the e-value (or,
        /// with no separation, the interval of "no regression") needs, at most one batch, never a look that cannot reach
        /// 1/α.</summary>
        private int EndsBatch()
        {
            var (a, b) = (Worse(0), Worse(n));
            var have = Math.Min(a.Length, b.Length);
            var sigma = SequentialTests.PooledScale(a, b);
            var shift = EndsShift();
            var cap = o.MaxTrialsPerPosition;
            int need;
            if (!(sigma > 0))
                need = have + 1;
            else
            {
                // While only the ends are measured, the culprit mixture is the ends' own e-value (one gap of weight 1),
                // so the search's e-value is theirs and decides at 1/α; once probes split the range, the ends hold half.
                var share = MeasuredPositions().Length <= 2 ? 1 : 0.5;
                var toDecide = shift > 0 ? SequentialTests.TrialsToReach(shift / sigma, o.Alpha * share, cap) : cap;
                var d = o.Decision.MinEffect;
                // "No regression" needs the boundary interval's upper end below the min-effect; it narrows as 1/√m, so the
                // interval at hand (or, before the first count that can decide, the normal approximation of the
                // Hodges–Lehmann shift's spread, √(π/3)·σ a trial) says how many trials a side that takes.
                var gap = d - Math.Max(shift, 0);
                var bound = SequentialTests.NoRegressionBound(a, b, cap, RankBeta);
                int toSame;
                if (!(gap > 0))
                    toSame = cap;
                else if (bound is not null && double.IsFinite(bound.High) && bound.High > bound.Shift && bound.Shift < d)
                {
                    var ratio = (bound.High - bound.Shift) / (d - bound.Shift);
                    toSame = (int)Math.Ceiling(have * ratio * ratio);
                }
                else
                {
                    var z = Normal.Quantile(1 - (1 - SequentialTests.SameLevel(cap, cap, RankBeta)) / 2);
                    toSame = Math.Max(SequentialTests.FirstSameCount(cap, RankBeta), (int)Math.Ceiling(2 * Math.PI / 3 * sigma * sigma * z * z / (gap * gap)));
                }
                // The e-value route: as many trials as the t e-value needs for a separation of the gap over the noise.
                toSame = Math.Min(toSame, SequentialTests.TrialsToReach(gap / sigma, TBeta, cap));
                need = Math.Min(toDecide, toSame);
            }
            // Estimates from few trials are rough: grow by at most half of what is there (+1), and one batch.
            var add = Math.Clamp(need - have, 1, Math.Min(Math.Max(o.InitialTrials, 1), have / 2 + 1));
            while (have + add < cap && SequentialTests.MaxEValue(have + add, have + add) / 2 < 1 / o.Alpha)
                add++;
            return add;
        }

        /// <summary>Beyond its first pick, a round skips positions whose side (good or bad) is known with
        /// probability above 1 − this.</summary>
        private const double SettledSide = 0.05;

        /// <summary>Verification attempts before a refuted culprit ends the search as Undecided.</summary>
        private const int MaxVerifications = 3;

        /// <summary>Verification attempts once the e-value has shown the change: each refuted attempt's fresh trials join
        /// the evidence and move the posterior, and the search is then looking for where the change is, not whether
        /// there is one (1-IQR steps at N = 10, 400 seeds: 6 of 13 level and slope misses ended on a refuted third
        /// verification; at 5 attempts 5 of them name the culprit, for +0.2 % / +0.7 % trials; an A/A search gets here
        /// only if its e-value crossed, docs/benchmarks-search.md session 8).</summary>
        private const int MaxVerificationsOnceShown = 5;

        private async Task<SearchOutcome?> VerifyAsync(int first, int last, bool lastAttempt)
        {
            var good = first - 1; // buildable by construction (or the anchor)
            int goodBefore = Count(good), badBefore = Count(last);
            IReadOnlyList<double> Old(int p) => Measured(p) == Measured(good) ? Values(p).Take(goodBefore).ToArray()
                : Measured(p) == Measured(last) ? Values(p).Take(badBefore).ToArray() : Values(p);
            // The model the fresh trials are scored against is fitted before they exist: a fixed likelihood ratio. Both
            // sides of the boundary must be confirmed on their own: the culprit's fresh trials that it is bad, the
            // neighbour's that it is good (one side alone can be decisive while the other is ambiguous).
            var fit = CulpritPosterior.FitSplit(n, first, Old, o.Decision.MinEffect, Sign, _sameBuildAs);
            var max = fit.MaxEvidencePerTrial();
            double badLlr = 0, goodLlr = 0;
            int freshGood = 0, freshBad = 0;
            double mass;
            while (true)
            {
                var plan = new List<MeasureRequest>();
                foreach (var (p, llr, fresh) in new[] { (good, goodLlr, freshGood), (last, badLlr, freshBad) })
                {
                    if (llr >= Threshold)
                        continue;
                    var remaining = Threshold - llr;
                    // The fewest trials whose largest possible evidence reaches the decision: a look is cheap in trials
                    // (the loop looks again), and one trial often decides a large effect where the expected evidence
                    // per trial asked for two (10-IQR steps: 3.9 → 2.7 fresh trials a search).
                    var room = o.MaxTrialsPerPosition - fresh;
                    var k = Math.Min(max > 0 ? (int)Math.Min(Math.Ceiling(remaining / max), room) : room, room);
                    k = room > 0 ? Math.Max(1, k) : 0;
                    if (k > 0)
                        plan.Add(new MeasureRequest(p, k));
                }
                if (plan.Count == 0)
                {
                    // Both sides confirmed but the range's e-value is short: fresh trials at both ends of the boundary add to it.
                    plan.AddRange(new[] { good, last }.Where(p => Room(p) > 0).Select(p => new MeasureRequest(p, 1)));
                    if (_established || plan.Count == 0)
                        break;
                }
                await MeasureAsync(plan, string.Create(CultureInfo.InvariantCulture,
                    $"verify: fresh trials of {At(good)} (good side) and {At(last)} (culprit), scored against the split fitted without them")).ConfigureAwait(false);
                var newGood = Values(good).Skip(goodBefore + freshGood).Where(double.IsFinite).ToArray();
                var newBad = Values(last).Skip(badBefore + freshBad).Where(double.IsFinite).ToArray();
                goodLlr -= newGood.Sum(fit.BadOverGood);
                badLlr += newBad.Sum(fit.BadOverGood);
                freshGood = Count(good) - goodBefore;
                freshBad = Count(last) - badBefore;
                UpdateEValue();
                mass = Mass(first, last);
                var refuted = goodLlr <= -Threshold || badLlr <= -Threshold || mass < o.Confidence;
                var confirmed = goodLlr >= Threshold && badLlr >= Threshold && _established;
                if (refuted || confirmed || freshGood >= o.MaxTrialsPerPosition || freshBad >= o.MaxTrialsPerPosition || !BudgetLeft)
                    break;
            }
            mass = Mass(first, last);
            var passed = goodLlr >= Threshold && badLlr >= Threshold;
            // The shift and its interval describe the two sides as the posterior split them (every trial), not only
            // the few fresh ones: 2 vs 2 fresh trials have no 98 % interval at all. That shift is the effect every
            // headline prints, so it is also what must reach half the min-effect before a culprit is named (journald:
            // a culprit named on the ends' shift was shown with +0.08 MiB/min against a min-effect of 0.195).
            var (goodSide, badSide) = (Side(p => p < first), Side(p => p >= last));
            // The culprit's own trials must show the step too: "every trial from it on" also holds a larger change after
            // it, so a small step right before a large one passed on the large one's trials (replays of journald run 17:
            // f1a8a66c35, +0.07 MiB/min over its 13 stored trials, named in 8 of 400 instead of 2ac67221bb after it).
            var large = SidesShiftLargeEnough(goodSide, badSide) && SidesShiftLargeEnough(goodSide, Values(last).Where(double.IsFinite).ToArray());
            var check = Explain(passed && _established && large ? Verdict.Regressed : passed ? Verdict.Unknown : Verdict.Same,
                goodSide, badSide,
                string.Create(CultureInfo.InvariantCulture,
                    $"fresh trials give {badLl(badLlr)} nats that {At(last)} is bad and {badLl(goodLlr)} that {At(good)} is good (each needs ln(1/α) = {Threshold:0.##}); e-value for a change in the range {EValueText.Value(_eValue)} (decides at {1 / o.Alpha:G4}, α = {o.Alpha} per search); a culprit needs that shift ≥ ½ min-effect = {o.Scale.Format(o.Decision.MinEffect / 2)}"),
                Math.Min(1, Math.Min(Math.Exp(-Math.Min(goodLlr, badLlr)), 1 / _eValue)));
            var ok = passed && _established && large && mass >= o.Confidence;
            if (!ok && (freshGood >= o.MaxTrialsPerPosition || freshBad >= o.MaxTrialsPerPosition))
                _capHit = true;
            if (!ok && !lastAttempt && BudgetLeft)
                return null;
            if (!passed || !large)
            {
                var found = !passed
                    ? $"the posterior pointed at {Describe(first, last)}, but fresh trials did not confirm it"
                    : string.Create(CultureInfo.InvariantCulture, $"fresh trials confirmed the split at {Describe(first, last)}, but every trial before it and every trial from it on differ by {o.Scale.Format(Sign * check.Effect, signed: true)} in the regressing direction, less than half the min-effect ({o.Scale.Format(o.Decision.MinEffect / 2)})");
                if (await NoChangeOfMinEffectAsync(first, last).ConfigureAwait(false) is { } none)
                    return Finish(SearchStatus.NoRegression, null, 0, 0, 0, Explain(Verdict.Same, Side(p => p < first), Side(p => p >= last), none, check.PValue),
                        $"no change of the min-effect ({o.Scale.Format(o.Decision.MinEffect)}) in the range: {found}, and {none}");
                return Finish(SearchStatus.Undecided, null, first, last, mass, check,
                    passed ? $"{found}: the change there is smaller than the recipe's min-effect asks for: {check.Explanation}" : $"{found}: {check.Explanation}");
            }
            if (!ok)
                return Finish(SearchStatus.Undecided, null, first, last, mass, check,
                    string.Create(CultureInfo.InvariantCulture, $"fresh trials confirmed the split at {Describe(first, last)}, but the posterior is {mass:P1} (needs {o.Confidence:P0}) or the e-value {EValueText.Value(_eValue)} < {1 / o.Alpha:G3}: {check.Explanation}"));
            var status = first == last ? SearchStatus.Found : SearchStatus.FoundRange;
            return Finish(status, first == last ? last : null, first, last, mass, check,
                $"{Describe(first, last)} with posterior {mass:P1}, confirmed by fresh trials: {check.Explanation}");

            static string badLl(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
        }

        /// <summary>When no culprit is named, whether the range holds no change of the min-effect: the ends' shift and
        /// the shift at the posterior's leading split (every trial before it against every trial from it on) both have
        /// their interval end below the min-effect in the regressing direction: the ends by the rule of "no regression"
        /// at the ends (<see cref="NoRegressionAtEnds"/>), the split by its interval at the same level. A small real change the search found (journald
        /// v247..f1a8a66c35: +0.05 MiB/min at f1a8a66c35 against a min-effect of 0.20; 21 of 200 replays of run 13 ended
        /// Undecided on it) is then "no regression", with the change stated; steps that each stay below half the
        /// min-effect but add up to it keep the ends' interval above it, and stay Undecided. Null when it does not hold.</summary>
        private async Task<string?> NoChangeOfMinEffectAsync(int first, int last)
        {
            while (true)
            {
                if (NoChangeOfMinEffect(Side(p => p < first), Side(p => p >= last)) is { } none)
                    return none;
                // The ends not yet shown to differ by less than the min-effect (a large effect is probed after 2 + 2
                // trials): more trials at the ends can settle it, as they would at the start of a search. Sized as the
                // ends' own batches are, once their shift is below the min-effect.
                var d = o.Decision.MinEffect;
                if (Room(0) <= 0 || Room(n) <= 0 || !BudgetLeft || d <= 0 || NoRegressionAtEnds().Shown || !(EndsShift() < d))
                    return null;
                var add = EndsBatch();
                await MeasureAsync([new MeasureRequest(0, Math.Min(add, Room(0))), new MeasureRequest(n, Math.Min(add, Room(n)))],
                    "a change below the min-effect: more trials at the ends, for 'no change of the min-effect'").ConfigureAwait(false);
                UpdateEValue();
            }
        }

        private string? NoChangeOfMinEffect(double[] goodSide, double[] badSide)
        {
            // The ends' look is one "no regression" at the ends would take (same rule, same β).
            var same = NoRegressionAtEnds();
            if (!same.Shown)
                return null;
            var level = same.Bound?.ConfidenceLevel ?? 1 - 2 * o.SameAlpha;
            var ends = same.Bound is { } b && b.High < o.Decision.MinEffect ? b : Interval(Worse(0), Worse(n), level);
            var split = Interval(goodSide.Select(v => Sign * v).ToArray(), badSide.Select(v => Sign * v).ToArray(), level);
            if (!(split.High < o.Decision.MinEffect))
                return null;
            return string.Create(CultureInfo.InvariantCulture,
                $"neither the ends nor that split can differ by it: their shifts are {o.Scale.Format(ends.Shift, signed: true)} [{o.Scale.Number(ends.Low, signed: true)}, {o.Scale.Number(ends.High, signed: true)}]{o.Scale.Suffix} and {o.Scale.Format(split.Shift, signed: true)} [{o.Scale.Number(split.Low, signed: true)}, {o.Scale.Number(split.High, signed: true)}]{o.Scale.Suffix} at {100 * level:0.###} % in the regressing direction (the ends' 'no regression' {(same.Bound is { } c && c.High < o.Decision.MinEffect ? "interval" : $"e-value {EValueText.Value(same.EValue)}")})");
        }

        /// <summary>The shift's exact (Mann–Whitney) interval; where too few trials leave it unbounded (a large effect
        /// is probed right after 2 + 2 trials at the ends, and a split's side can hold few), the two-sample t interval at
        /// the same level, which 2 vs 2 trials already bound.</summary>
        private static ShiftEstimate Interval(double[] a, double[] b, double level)
        {
            var exact = HodgesLehmann.Estimate(a, b, level);
            if (double.IsFinite(exact.High) && double.IsFinite(exact.Low) || a.Length < 2 || b.Length < 2)
                return exact;
            var difference = b.Average() - a.Average();
            var half = StudentT.TwoSidedQuantile(level, a.Length + b.Length - 2) * SequentialTests.PooledDeviation(a, b)
                       * Math.Sqrt(1.0 / a.Length + 1.0 / b.Length);
            return new ShiftEstimate(exact.Shift, difference - half, difference + half, level);
        }

        /// <summary>The rule that names a culprit on size: the Hodges–Lehmann shift from every trial before the block
        /// to every trial from its last position on — the effect the headline prints — is at least half the
        /// min-effect in the regressing direction; and so is the shift to the block's own trials.</summary>
        private bool SidesShiftLargeEnough(double[] goodSide, double[] badSide) =>
            goodSide.Length > 0 && badSide.Length > 0
            && Sign * HodgesLehmann.Estimate(goodSide, badSide, 0.5).Shift >= o.Decision.MinEffect / 2;

        private double[] Side(Func<int, bool> on) =>
            MeasuredPositions().Where(on).SelectMany(p => Values(p).Where(double.IsFinite)).ToArray();

        private double Mass(int first, int last)
        {
            var post = Posterior();
            return Enumerable.Range(first, last - first + 1).Sum(c => post[c - 1]);
        }

        private string Describe(int first, int last) =>
            first == last ? $"position {At(last)}" : $"positions {At(first)}..{At(last)} (unbuildable commits in between)";

        /// <summary>A position as the run names it (<see cref="SearchOptions.PositionBase"/>).</summary>
        private int At(int p) => o.PositionBase + p;

        private SearchOutcome Finish(SearchStatus status, int? culprit, int first, int last, double confidence, Comparison? boundary, string summary)
        {
            // The final table is computed as 'bisector status' computes it during a run: one place for both.
            var standing = SearchStanding.From(n, p => Skipped(p) ? [] : Values(p), o.Decision, o.Alpha, _sameBuildAs);
            var (versusGood, posterior) = (standing.VersusGood, standing.Posterior);
            var bimodal = _features.Keys.Order().Select(p => Modality.Check(p, Values(p), o.Decision.MinEffect / 2, o.Scale)).OfType<BimodalityWarning>().ToArray();
            var warning = bimodal.Length == 0 ? "" : $" Warning: {bimodal[0].Message}.";
            var drift = DriftCheck.Test(Values(0), o.Alpha);
            // The drift check is shown beside the error control under every headline (ReportFacts.ErrorControlLines).
            return new SearchOutcome(status, culprit, first, last, confidence, boundary, posterior, versusGood, _rounds,
                _trialsSpent, _capHit, string.Create(CultureInfo.InvariantCulture, $"{status}: {summary}{warning}"))
            {
                Strategy = o.Strategy,
                ChangePoints = o.Strategy == SearchStrategy.Exhaustive ? DetectChanges() : [],
                Bimodal = bimodal,
                ErrorControl = new ErrorControl(o.Alpha, o.SameAlpha, _eValue, _established),
                GoodEndDrift = drift,
                IdenticalBuilds = _sameBuildAs.GroupBy(kv => kv.Value)
                    .Select(g => new BuildGroup(g.Key, g.Select(kv => kv.Key).Append(g.Key).Order().ToArray()))
                    .OrderBy(g => g.Positions[0]).ToArray(),
            };
        }

        /// <summary>Runs detection on the plateau and on the slope: a level step moves only the plateau, a change in
        /// growth rate moves the slope (and, over time, the plateau too).</summary>
        private IReadOnlyList<ChangePoint> DetectChanges()
        {
            var positions = _evidence.Values.Where(e => !e.Skipped && e.Trials.Count > 0 && !_sameBuildAs.ContainsKey(e.Position)).Select(e => e.Position).Order().ToArray();
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
