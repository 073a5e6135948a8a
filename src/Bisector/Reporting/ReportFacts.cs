using System.Globalization;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;

namespace Bisector.Reporting;

/// <summary>Which side of the change a commit is on, as the report colours it.</summary>
internal enum Side
{
    Good,
    Bad,
    Culprit,
    Unclear,
}

/// <summary>How a metric's raw numbers are shown: memory in MiB (bytes ÷ 2^20), anything else as stored.</summary>
internal sealed record MetricUnit(double Divisor, string Unit)
{
    public static MetricUnit For(string metric) =>
        IsMemory(metric) ? new MetricUnit(1024.0 * 1024.0, "MiB") : new MetricUnit(1.0, "");

    private static bool IsMemory(string metric) => FeatureScale.IsMemory(metric);

    public double Scale(double raw) => raw / Divisor;

    public string Suffix => Unit.Length == 0 ? "" : " " + Unit;
}

/// <summary>The facts every writer (HTML, Markdown, terminal, plots) states the same way, computed in one place so
/// the headline in the terminal can never disagree with the one in the report.</summary>
internal static class ReportFacts
{
    public static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string F(double value, string format = "0.00") =>
        double.IsNaN(value) ? "n/a" : value.ToString(format, Inv);

    public static string Signed(double value, string format = "0.00") =>
        double.IsNaN(value) ? "n/a" : (value > 0 ? "+" : "") + value.ToString(format, Inv);

    /// <summary>A probability as a percentage; never rounds a value short of certainty up to "100.0%".</summary>
    public static string Percent(double fraction) =>
        fraction < 1 && fraction > 0.999 ? "> 99.9%" : F(fraction * 100.0, "0.0") + "%";

    /// <summary>A p-value for a table cell; <see cref="PValueText"/> is the one formatter.</summary>
    public static string PValue(double p) => PValueText.Value(p);

    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1
            ? $"{(int)t.TotalHours}h {t.Minutes:00}m {t.Seconds:00}s"
            : t.TotalMinutes >= 1 ? $"{t.Minutes}m {t.Seconds:00}s" : $"{t.TotalSeconds.ToString("0.0", Inv)}s";

    public static string Date(DateTimeOffset d) => d.ToString("yyyy-MM-dd HH:mm:ss zzz", Inv);

    /// <summary>Git text made safe for one-line display: newlines and control characters collapse to spaces.</summary>
    public static string OneLine(string text, int max = int.MaxValue)
    {
        var chars = text.Select(c => char.IsControl(c) ? ' ' : c).ToArray();
        var s = new string(chars).Trim();
        return s.Length <= max ? s : s[..(max - 1)] + "…";
    }

    /// <summary>The deciding feature's display scale (MiB for memory, per minute for slopes): Statistics decides it once.</summary>
    public static FeatureScale Scale(ReportModel m) => FeatureScale.For(m.Decision.Metric, m.Decision.Feature);

    public static string FeatureUnit(ReportModel m) => Scale(m).Unit;

    public static string FeatureName(ReportModel m) =>
        $"{m.Decision.Metric} {m.Decision.Feature.ToString().ToLowerInvariant()}";

    public static double ScaleFeature(ReportModel m, double raw) => Scale(m).Scale(raw);

    public static Side SideOf(ReportModel m, int position)
    {
        if (position == 0)
            return Side.Good;
        var o = m.Outcome;
        if (o is { Status: SearchStatus.Found, Culprit: { } c })
            return position < c ? Side.Good : position == c ? Side.Culprit : Side.Bad;
        if (o is { Status: SearchStatus.FoundRange })
            return position < o.RangeFirst ? Side.Good : position > o.RangeLast ? Side.Bad : Side.Culprit;
        // Without a named culprit the honest colouring is each commit's own verdict against the good anchor.
        var cmp = m.At(position)?.VersusGood ?? (o?.VersusGood.TryGetValue(position, out var v) == true ? v : null);
        return cmp?.Verdict switch
        {
            Verdict.Regressed => Side.Bad,
            Verdict.Same or Verdict.Improved => Side.Good,
            _ => Side.Unclear,
        };
    }

    /// <summary>The comparison that supports the headline: the boundary test when the search made one, otherwise
    /// the culprit (or bad end) against the good anchor.</summary>
    public static Comparison? HeadlineComparison(ReportModel m)
    {
        var o = m.Outcome;
        if (o?.Boundary is { } b)
            return b;
        var pos = o switch
        {
            { Status: SearchStatus.Found, Culprit: { } c } => c,
            { Status: SearchStatus.FoundRange } => o.RangeLast,
            _ => m.LastPosition,
        };
        return ComparisonAt(m, pos);
    }

    /// <summary>"position:sha" as the build sections' terminal lines name a commit.</summary>
    public static string PositionedSha(ReportModel m, int position) => $"{position}:{m.At(position)?.Commit.ShortSha ?? "?"}";

    /// <summary>"position: sha subject" as the build sections' tables name a commit (the position alone when unknown).</summary>
    public static Line PositionedCommit(ReportModel m, int position) =>
        m.At(position) is { } c
            ? new Line([new Span($"{position}: ")]) + Line.Commit(c.Commit, 60)
            : $"{position}";

    public static Comparison? ComparisonAt(ReportModel m, int position) =>
        m.At(position)?.VersusGood
        ?? (m.Outcome?.VersusGood.TryGetValue(position, out var v) == true ? v : null);

    /// <summary>The measured commit on each side of the change, for the rate-of-change plot: the last good commit
    /// that has trials and the culprit (or the newest measured commit of the culprit range).</summary>
    public static (CommitReport? Good, CommitReport? Culprit) Boundary(ReportModel m)
    {
        var measured = m.Commits.Where(c => c.Measured).OrderBy(c => c.Position).ToList();
        var culprit = measured.LastOrDefault(c => SideOf(m, c.Position) == Side.Culprit)
                      ?? measured.FirstOrDefault(c => SideOf(m, c.Position) == Side.Bad);
        var limit = culprit?.Position ?? int.MaxValue;
        var good = measured.LastOrDefault(c => c.Position < limit && SideOf(m, c.Position) == Side.Good);
        return (good, culprit);
    }

    public static string Effect(ReportModel m, Comparison c)
    {
        var u = FeatureUnit(m);
        var sfx = u.Length == 0 ? "" : " " + u;
        var ci = Interval(ScaleFeature(m, c.EffectLow), ScaleFeature(m, c.EffectHigh));
        return $"{Signed(ScaleFeature(m, c.Effect))}{sfx} {FeatureName(m)}, " +
               $"{F(c.ConfidenceLevel * 100, "0.#")}% CI {(ci == NoInterval ? NoInterval + " (too few trials for an interval)" : ci)}";
    }

    /// <summary>Beside a named culprit's effect, what that effect is and the size the search required of it (the
    /// same quantity: SearchEngine names a culprit only when this shift, and the shift to its own trials, reach half the min-effect), so a reader
    /// never compares the effect with a threshold it was not tested against.</summary>
    internal static string CulpritRule(ReportModel m, Comparison c) =>
        m.Outcome is { Status: SearchStatus.Found or SearchStatus.FoundRange, Boundary: { } b } && ReferenceEquals(b, c)
            ? $" (every trial before the {m.Terms.Answer} against every trial from it on; naming it needs at least half the min-effect, {F(ScaleFeature(m, c.Threshold / 2))} {FeatureUnit(m)}, here and for its own trials)"
            : "";

    /// <summary>What an interval reads when its trials cannot bound it (an exact test on one or two trials a side).</summary>
    public const string NoInterval = "—";

    /// <summary>"[low, high]" in display units, or <see cref="NoInterval"/> when a bound is infinite or unknown: every
    /// writer prints an interval through here, never "[-Infinity, Infinity]" (JSON writes such a bound as null).</summary>
    public static string Interval(double low, double high) =>
        double.IsFinite(low) && double.IsFinite(high) ? $"[{F(low)}, {F(high)}]" : NoInterval;

    public static string TestLine(Comparison c) => $"{c.Test}, {PValueText.Statement(c.PValue)} (α = {F(c.Alpha, "0.###")})";

    /// <summary>The one-line verdict and the lines of evidence under it, in the search's words (each channel speaks them).</summary>
    public static Headline Headline(ReportModel m)
    {
        var o = m.Outcome;
        var partial = m.IsPartial ? "PARTIAL RESULT (run interrupted): " : "";
        var cmp = HeadlineComparison(m);
        var evidence = new List<Line>();
        if (cmp is not null)
        {
            evidence.Add("Effect: " + Effect(m, cmp) + CulpritRule(m, cmp));
            evidence.Add("Test: " + TestLine(cmp));
        }
        evidence.AddRange(ErrorControlLines(o).Select(l => (Line)l));

        if (o is null)
            return new Headline(HeadlineKind.Partial,
                "PARTIAL RESULT: the run was interrupted before the search reached a verdict", null, evidence);

        switch (o.Status)
        {
            case SearchStatus.Found when o.Culprit is { } c && m.At(c) is { } cr:
                var commit = cr.Commit;
                var lines = new List<Line>
                {
                    new([new Span("Author: "), Span.Git(OneLine(commit.Author)), new Span($", {Date(commit.AuthoredAt)}")]),
                    $"Confidence: {Percent(o.Confidence)} (target {Percent(m.Run.ConfidenceTarget)})",
                };
                lines.AddRange(evidence);
                if (ChangesSection.HeadlineNote(m) is { } firstChange)
                    lines.Add(firstChange);
                return new Headline(m.IsPartial ? HeadlineKind.Partial : HeadlineKind.Found,
                    new Line([new Span($"{partial}{m.Terms.AnswerTitle}: ")]) + Line.Commit(commit, 100), cr, lines);

            case SearchStatus.FoundRange:
                var first = m.At(o.RangeFirst)?.Commit;
                var last = m.At(o.RangeLast)?.Commit;
                var n = o.RangeLast - o.RangeFirst + 1;
                var rangeLines = new List<Line>
                {
                    $"The {m.Terms.Answer} is one of {n} commits (positions {o.RangeFirst}–{o.RangeLast}); neighbours could not be built to narrow it further",
                    $"Confidence: {Percent(o.Confidence)} (target {Percent(m.Run.ConfidenceTarget)})",
                };
                rangeLines.AddRange(evidence);
                return new Headline(m.IsPartial ? HeadlineKind.Partial : HeadlineKind.Range,
                    $"{partial}{m.Terms.AnswerTitle} range: {first?.ShortSha ?? "?"}..{last?.ShortSha ?? "?"} ({n} commits)", null, rangeLines);

            case SearchStatus.NoRegression:
                // "No regression" means no change of at least min-effect, which a small but significant change also is.
                evidence.Insert(0, "The bad end is not worse than the good anchor by the smallest effect that counts " +
                    $"({F(ScaleFeature(m, m.Decision.MinEffect))} {FeatureUnit(m)}) on {FeatureName(m)}");
                if (SmallerChange(m) is { } smaller)
                    evidence.Add(smaller);
                return new Headline(HeadlineKind.NoRegression, $"{partial}{m.Terms.NoneFound}", null, evidence);

            default:
                evidence.Insert(0, $"Best candidate holds {Percent(o.Posterior.DefaultIfEmpty(0).Max())} of the posterior; " +
                                   $"target was {Percent(m.Run.ConfidenceTarget)}");
                if (o.TrialCapHit)
                    evidence.Insert(1, "The trial cap was hit before the evidence was strong enough");
                return new Headline(HeadlineKind.Undecided, $"{partial}UNDECIDED: no commit can be named with the requested confidence", null, evidence);
        }
    }

    /// <summary>Under "no regression", a change below the min-effect that the bad end's own test against the good anchor
    /// still shows, with what finding its commit would take: "no regression" is not "nothing changed" (journald on a
    /// reset machine: +0.07 MiB/min, exact p = 0.008, against a min-effect of 0.20). Null when that test shows no
    /// change in the regressing direction, or one of at least the min-effect.</summary>
    internal static string? SmallerChange(ReportModel m)
    {
        if (m.At(m.LastPosition)?.VersusGood is not { } c || !(c.PValue < c.Alpha))
            return null;
        var worse = c.Direction == RegressionDirection.Increase ? c.EffectLow > 0 : c.EffectHigh < 0;
        var size = Math.Abs(c.Effect);
        if (!worse || !(size < m.Decision.MinEffect))
            return null;
        return $"A change below the min-effect is there: the bad end against the good anchor {Effect(m, c)}; {TestLine(c)} " +
               $"(one per-commit test, not the search's α). To find its commit, set decide.min-effect to at most " +
               $"{F(ScaleFeature(m, size))} {FeatureUnit(m)} in the recipe; a change the size of the min-effect costs a search the most trials";
    }

    /// <summary>The search's per-search α (with the e-value it reached) and whether the good end's trials drifted in
    /// the order they ran: both qualify every verdict, so every writer shows them under the headline. Nothing for
    /// outcomes stored before the search recorded them.</summary>
    public static IReadOnlyList<string> ErrorControlLines(SearchOutcome? o)
    {
        var lines = new List<string>();
        if (o?.ErrorControl is { } ec)
            lines.Add("Error control: " + ec.Statement);
        if (o?.GoodEndDrift is { } drift)
            lines.Add(drift.Drifting
                ? $"Drift: WARNING — the good end's trials drift in time ({drift.Message}); verdicts compare trials taken rounds apart"
                : $"Drift of the good end: {drift.Message}");
        return lines;
    }

    /// <summary>Posterior probability per position: the search reports it per candidate, so index i is position i + 1.</summary>
    public static IReadOnlyList<(int Position, double P)> Posterior(ReportModel m) =>
        (m.Outcome?.Posterior ?? []).Select((v, i) => (CommitLine.PositionOfCandidate(i), v)).ToList();

    /// <summary>How the "vs good" column was decided, in words: the search's side where it named a culprit, and the
    /// per-commit test from the stored comparisons; null when neither was made.</summary>
    internal static string? DecisionRule(ReportModel m)
    {
        var side = SideDecided(m)
            ? "The \"vs good\" column shows the side of the culprit the search put each commit on, with the posterior probability " +
              "of that side: the search's step model over every trial of every commit, which names a culprit only once its e-value that " +
              "the range holds a change reaches 1/α and fresh trials on both sides of it confirm the boundary. Most commits get one or two " +
              "trials, too few for a test of their own; where a commit has the trials for its own comparison with the good anchor to " +
              "decide, \"test:\" gives that verdict. The p and effect [CI] columns are that per-commit test's (CI " + NoInterval +
              ": too few trials for an interval). "
            : "";
        var compared = m.Commits.Select(c => c.VersusGood).OfType<Comparison>().Where(c => c.Test != "none").ToList();
        if (compared.Count == 0)
            return side.Length == 0 ? null : side.TrimEnd();
        var alpha = compared[0].Alpha;
        var minEffect = $"{F(ScaleFeature(m, compared[0].Threshold))} {FeatureUnit(m)}";
        var half = $"{F(ScaleFeature(m, compared[0].Threshold / 2))} {FeatureUnit(m)}";
        var sameLevel = F(100 * (1 - alpha * Search.SearchOptions.SameAlphaShare), "0.##");
        return side + ($"Each commit is compared with the good anchor using {string.Join(", ", compared.Select(c => c.Test).Distinct())}; " +
               "no outliers were dropped. " +
               $"Regressed: p < {F(alpha, "0.###")} and a shift of at least {half} (half the min-effect of {minEffect}) that the interval " +
               "does not confine below the min-effect. " +
               $"Same (no regression): the regressing end of the shift's one-sided {sameLevel} % bound is below the min-effect. " +
               "Anything else is Unknown and gets more trials, up to the cap.");
    }

    /// <summary>Per commit in position order, the evidence every writer shows (HTML, Markdown, terminal, JSON): computed
    /// here once, so the writers only choose columns and format.</summary>
    public static IReadOnlyList<CommitEvidence> Evidence(ReportModel m)
    {
        // The posterior is conditional on the range holding a change: beside a "no regression" verdict it would print
        // "P(culprit) 100 %" for a commit nobody blames (seen on journald), so it is shown only when a change was shown.
        var posterior = m.Outcome?.Status == SearchStatus.NoRegression
            ? []
            : Posterior(m).ToDictionary(p => p.Position, p => p.P);
        return m.Commits.OrderBy(c => c.Position).Select(c =>
        {
            var cmp = c.VersusGood ?? ComparisonAt(m, c.Position);
            var values = c.FeatureValues.Select(v => ScaleFeature(m, v)).ToList();
            return new CommitEvidence(c, SideOf(m, c.Position), cmp, values, Robust.Median(values),
                c.Trials.Count(t => t.Outcome == Workers.TrialOutcome.Ok),
                posterior.TryGetValue(c.Position, out var p) ? p : null)
            {
                Terms = m.Terms,
                SearchSide = DecidedSide(m.Outcome, c.Position),
            };
        }).ToList();
    }

    /// <summary>True when the search named a culprit (or a culprit range): then it decided every commit's side.</summary>
    public static bool SideDecided(ReportModel m) => m.Outcome?.Status is SearchStatus.Found or SearchStatus.FoundRange;

    /// <summary>The side of the named culprit (or culprit range) the search put <paramref name="position"/> on, with the
    /// posterior probability of that side: that the change comes after it (good side), at or before it (bad side, the
    /// culprit), or inside the range. Null for the anchor and when the search named no culprit.</summary>
    public static SearchSide? DecidedSide(SearchOutcome? o, int position)
    {
        if (position == 0 || o?.Status is not (SearchStatus.Found or SearchStatus.FoundRange))
            return null;
        var (first, last) = o is { Status: SearchStatus.Found, Culprit: { } c } ? (c, c) : (o.RangeFirst, o.RangeLast);
        var side = position < first ? Side.Good : position > last ? Side.Bad : Side.Culprit;
        // The posterior is per candidate: index i is position i + 1.
        double AtOrBefore(int p) => o.Posterior.Take(Math.Max(0, p)).Sum();
        double? probability = o.Posterior.Count == 0 ? null : side switch
        {
            Side.Good => 1 - AtOrBefore(position),
            Side.Culprit when first != last => AtOrBefore(last) - AtOrBefore(first - 1),
            _ => AtOrBefore(position),
        };
        return new SearchSide(side, probability, InRange: first != last && side == Side.Culprit);
    }

    public static string VerdictText(Comparison? c, Terms terms) => c is null ? "—" : terms.VerdictWord(c.Verdict);

    /// <summary>The search's one-line summary as it stored it, for the "Search:" line of every writer (each speaks it).</summary>
    public static string SearchSummary(ReportModel m) => m.Outcome is { } o && !string.IsNullOrWhiteSpace(o.Summary) ? o.Summary : "";
}

internal enum HeadlineKind
{
    Found,
    Range,
    NoRegression,
    Undecided,
    Partial,
}

/// <summary>One commit's evidence: its verdict against the good anchor, the deciding feature per successful trial in
/// display units, their median (NaN when none), and its posterior share (null when the search gave none).</summary>
internal sealed record CommitEvidence(
    CommitReport Report, Side Side, Comparison? VersusGood, IReadOnlyList<double> Values, double Median, int TrialsOk, double? Posterior)
{
    /// <summary>Listed in the evidence tables: measured, skipped, or the good anchor.</summary>
    public bool Listed => Report.Trials.Count > 0 || Report.Skipped || Report.Position == 0;

    /// <summary>The run's words, for <see cref="Status"/>.</summary>
    public Terms Terms { get; init; } = Terms.Regression;

    /// <summary>The side the search decided for this commit; null when it named no culprit (and for the anchor).</summary>
    public SearchSide? SearchSide { get; init; }

    /// <summary>The "vs good" cell in the search's words (each channel speaks it): the side the search decided, with its
    /// probability, and the per-commit test's verdict where it decided; the test alone when the search named no culprit.</summary>
    public string Status => Report.Skipped ? $"skipped ({Report.Build})"
        : Report.Position == 0 ? Terms.OldAnchor
        : SearchSide is { } side ? side.Cell(VersusGood, Terms)
        : ReportFacts.VerdictText(VersusGood, Terms);

    /// <summary>The per-commit test's p-value, or "—" when no test was made (none stored, or no trials to compare).</summary>
    public string PCell => VersusGood is { } c && !double.IsNaN(c.PValue) ? ReportFacts.PValue(c.PValue) : "—";

    /// <summary>The per-commit test's shift with its interval ("+4.14 [3.90, 4.40]", "+4.14 —" when too few trials bound
    /// it), or "—" when no test was made.</summary>
    public string EffectCell(ReportModel m) => VersusGood is { } c && !double.IsNaN(c.Effect)
        ? $"{ReportFacts.Signed(ReportFacts.ScaleFeature(m, c.Effect))} {ReportFacts.Interval(ReportFacts.ScaleFeature(m, c.EffectLow), ReportFacts.ScaleFeature(m, c.EffectHigh))}"
        : "—";

    public bool IsCulprit => Side == Side.Culprit && !Report.Skipped;
}

/// <summary>The verdict's title and the lines under it; git text (the culprit's subject, its author) in verbatim spans.</summary>
internal sealed record Headline(HeadlineKind Kind, Line Title, CommitReport? Culprit, IReadOnlyList<Line> Lines);

/// <summary>The side of the named change the search put a commit on, and the posterior probability of that side (null
/// without a posterior).</summary>
internal sealed record SearchSide(Side Side, double? Probability, bool InRange)
{
    /// <summary>"good side (99.9%)", "bad side (97.0%); test: Regressed": the search's decision, then the commit's own
    /// test where it decided (at one or two trials it rarely can). In the search's words; each channel speaks it.</summary>
    public string Cell(Comparison? test, Terms terms) =>
        (Side switch
        {
            Side.Good => "good side",
            Side.Culprit when InRange => "in the culprit range",
            _ => "bad side",
        }) +
        (Probability is { } p ? $" ({ReportFacts.Percent(p)})" : "") +
        (test is { Verdict: not Verdict.Unknown } ? $"; test: {terms.VerdictWord(test.Verdict)}" : "");
}
