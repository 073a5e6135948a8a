using Bisector.Search;
using Bisector.Statistics;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>
/// "Changes in this range": every change of the deciding feature the search and the scan after it found, ranked by
/// size, the one that answers the question marked, and what each segment's search measured. The report section, the
/// terminal lines and the headline's note are all written here, from <see cref="ReportModel.Changes"/>.
/// </summary>
internal static class ChangesSection
{
    /// <summary>"First" is git bisect's first bad commit: the earliest candidate (in the range's order, oldest first)
    /// after which the feature is worse by the smallest effect that counts.</summary>
    public const string FirstMeans =
        "the answer is the first change in the recipe's direction — git bisect's first bad commit: the earliest candidate in the range's order (oldest first, as git log --reverse lists them) at which the feature becomes worse";

    public static Section? Build(ReportModel m)
    {
        if (m.Changes is not { } scan)
            return m.ScanNotRun is { } why ? new Section("changes", "Changes in this range", [new Paragraph(
                $"Scan for further changes {why}: changes other than the culprit, before or after it, were not looked for, so none is ruled out.", IsNote: true)]) : null;

        var fu = FeatureUnit(m);
        var blocks = new List<Block>
        {
            new Paragraph(Summary(m, scan)),
            new DataTable("changes",
            [
                new("rank", Numeric: true), new("#", Numeric: true), new("commit"), new("direction"), new($"size ({fu}) [CI]", Numeric: true),
                new("evidence"), new("found by"), new("answer"),
            ],
            scan.Ranked.Select((c, i) => new Row(
            [
                (i + 1).ToString(Inv),
                c.Position.ToString(Inv),
                Commit(m, c.Position),
                DirectionWord(c.Direction),
                $"{Signed(ScaleFeature(m, c.Shift))} {Interval(ScaleFeature(m, c.ShiftLow), ScaleFeature(m, c.ShiftHigh))} at {Percent(c.Level)}",
                $"e-value {EValueText.Value(c.EValue)} ≥ 1/α = {F(1 / c.Alpha, "G4")} (α = {F(c.Alpha, "G3")}); n = {c.TrialsBefore} vs {c.TrialsAfter}",
                c.FoundBySearch ? "the search" : $"scan of {c.SegmentFrom}..{c.SegmentTo}",
                c.IsAnswer ? new Span("← the answer (first change)", Tone.Strong) : "",
            ], c.IsAnswer ? Side.Culprit : Side.Bad)).ToList()),
            new DataTable("segments",
            [
                new("positions"), new("commits"), new("looked for"), new("result"), new("α", Numeric: true), new("new trials", Numeric: true), new("measured"),
            ],
            scan.Segments.Select(s => new Row(
            [
                $"{s.From}..{s.To}",
                new Line([Span.Git(Sha(m, s.From), Tone.Code), new Span(".."), Span.Git(Sha(m, s.To), Tone.Code)]),
                s.Verdict == SegmentVerdict.Empty ? "—" : DirectionWord(s.Direction),
                VerdictWord(s.Verdict),
                s.Alpha > 0 ? F(s.Alpha, "G3") : "—",
                s.NewTrials.ToString(Inv),
                s.Explanation,
            ])).ToList()),
            new Paragraph($"Error control: {scan.AlphaStatement}. Cost: {scan.NewTrials} new trial(s) of a budget of {scan.Budget}; every trial the search took was reused, none measured twice. A segment whose two ends do not differ can still hold a rise and a fall that cancel; the scan compares ends, as the search does.", IsNote: true),
        };
        return new Section("changes", $"Changes in this range ({scan.Changes.Count})", blocks);
    }

    /// <summary>The terminal's lines: one per change (largest first, the answer marked), one on the segments.</summary>
    public static IReadOnlyList<Line> TerminalLines(ReportModel m)
    {
        if (m.Changes is not { } scan)
            return m.ScanNotRun is { } why ? [$"Changes in this range: scan {why}"] : [];
        var fu = FeatureUnit(m);
        var lines = new List<Line> { $"Changes in this range: {scan.Changes.Count}, largest first ({scan.NewTrials} new trial(s) for the scan):" };
        lines.AddRange(scan.Ranked.Select(c =>
            new Line([new Span($"  {Signed(ScaleFeature(m, c.Shift))} {fu} at #{c.Position} "), Span.Git(Sha(m, c.Position)), new Span(" "),
                Span.Git(OneLine(m.At(c.Position)?.Commit.Subject ?? "", 60)),
                new Span($" ({DirectionWord(c.Direction)}, e-value {EValueText.Value(c.EValue)}, α = {F(c.Alpha, "G3")}){(c.IsAnswer ? "  ← the answer (first change)" : "")}")])));
        var segments = scan.Segments.Where(s => s.Verdict != SegmentVerdict.Empty).GroupBy(s => (s.From, s.To)).ToList();
        var quiet = segments.Where(g => g.All(s => s.Verdict == SegmentVerdict.NoFurtherChange)).Select(g => $"{g.Key.From}..{g.Key.To}").ToList();
        var open = segments.SelectMany(g => g.Where(s => s.Verdict is SegmentVerdict.NotChecked or SegmentVerdict.Undecided))
            .Select(s => $"{s.From}..{s.To} {(s.Direction == ChangeDirection.Worse ? "worse" : "better")} ({VerdictWord(s.Verdict)})").ToList();
        if (quiet.Count > 0)
            lines.Add($"  no further change, either direction (measured): {string.Join(", ", quiet)}");
        if (open.Count > 0)
            lines.Add($"  no claim either way: {string.Join(", ", open)}");
        return lines;
    }

    /// <summary>A line for the headline when the first change is not the commit the search named.</summary>
    public static Line? HeadlineNote(ReportModel m) =>
        m.Changes is { Answer: { FoundBySearch: false } answer } && m.At(answer.Position) is { } c
            ? new Line([new Span("First change (the answer): ")]) + Line.Commit(c.Commit, 80) +
              $" at #{answer.Position}, before the {m.Terms.Answer} the search named — see 'Changes in this range'"
            : null;

    private static string Summary(ReportModel m, RangeChanges scan)
    {
        var answer = scan.Answer;
        var found = scan.Changes.Count == 1
            ? "One change of at least the smallest effect that counts was found in this range"
            : $"{scan.Changes.Count} changes of at least the smallest effect that counts were found in this range";
        return $"{found} ({FeatureName(m)}, {F(ScaleFeature(m, m.Decision.MinEffect))} {FeatureUnit(m)}); " +
            (answer is null ? "none is in the recipe's direction." : $"{FirstMeans}: {Sha(m, answer.Position)} at #{answer.Position}.");
    }

    private static Line Commit(ReportModel m, int position) =>
        m.At(position) is { } c ? Line.Commit(c.Commit, 80) : $"#{position}";

    private static string Sha(ReportModel m, int position) => m.At(position)?.Commit.ShortSha ?? $"#{position}";

    private static string DirectionWord(ChangeDirection d) => d == ChangeDirection.Worse ? "worse (recipe's direction)" : "better (opposite)";

    private static string VerdictWord(SegmentVerdict v) => v switch
    {
        SegmentVerdict.NoFurtherChange => "no further change",
        SegmentVerdict.ChangeFound => "change found",
        SegmentVerdict.Undecided => "undecided",
        SegmentVerdict.NotChecked => "not checked",
        _ => "empty",
    };
}
