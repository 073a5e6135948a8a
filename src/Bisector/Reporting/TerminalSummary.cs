using Bisector.Workers;
using Spectre.Console;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>
/// The end-of-run summary in the terminal: the same headline as the report, then one row per measured commit.
/// On a console without ANSI support (a pipe, a CI log) it writes plain lines, never wrapped whatever the width:
/// one line per commit with aligned columns and the full subject last, so a log stays greppable.
/// </summary>
public static class TerminalSummary
{
    public static void Write(ReportModel model, IAnsiConsole console)
    {
        if (!console.Profile.Capabilities.Ansi)
        {
            WritePlain(model, console.Profile.Out.Writer);
            return;
        }

        var head = Headline(model);
        var colour = head.Kind switch
        {
            HeadlineKind.Found or HeadlineKind.Range => "bold red",
            HeadlineKind.NoRegression => "bold blue",
            _ => "bold yellow",
        };

        if (model.IsPartial)
            console.MarkupLine("[black on yellow] PARTIAL: run interrupted [/]");
        console.MarkupLine($"[{colour}]{Markup.Escape(head.Title)}[/]");
        foreach (var line in head.Lines)
            console.MarkupLine("  " + Markup.Escape(line));
        if (model.Outcome is { } o && !string.IsNullOrWhiteSpace(o.Summary))
            console.MarkupLine("  " + Markup.Escape("Search: " + OneLine(o.Summary)));

        var table = new Table().Border(TableBorder.Rounded);
        foreach (var (header, right) in Columns(model))
            table.AddColumn(header, c => { if (right) c.RightAligned(); });
        foreach (var row in Rows(model))
        {
            var style = row.Side switch
            {
                Side.Culprit => "bold red",
                Side.Bad => "red",
                Side.Good => "blue",
                _ => "grey",
            };
            var cells = row.Cells.ToArray();
            cells[1] = $"{cells[1]} {OneLine(row.Subject, 40)}";
            table.AddRow(cells.Select(text => $"[{style}]{Markup.Escape(text)}[/]").ToArray());
        }

        console.Write(table);
        console.MarkupLine(Markup.Escape(
            $"run {model.Run.RunId}, wall time {Duration(model.Run.WallTime)}, reproduce: {model.Run.ReproduceCommand}"));
    }

    /// <summary>The layout for logs: the headline, then a header and one line per commit, columns padded to their
    /// widest cell and nothing cut or wrapped (a 200-character subject stays on its commit's line).</summary>
    public static void WritePlain(ReportModel model, TextWriter output)
    {
        var head = Headline(model);
        if (model.IsPartial)
            output.WriteLine("PARTIAL: run interrupted");
        output.WriteLine(OneLine(head.Title));
        foreach (var line in head.Lines)
            output.WriteLine("  " + OneLine(line));
        if (model.Outcome is { } o && !string.IsNullOrWhiteSpace(o.Summary))
            output.WriteLine("  Search: " + OneLine(o.Summary));

        var columns = Columns(model);
        var rows = Rows(model).ToList();
        var widths = columns.Select((c, i) => rows.Select(r => r.Cells[i].Length).Append(c.Header.Length).Max()).ToArray();
        string Line(IEnumerable<string> cells, string subject) =>
            string.Join("  ", cells.Select((cell, i) => columns[i].Right ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]))) + "  " + subject;
        output.WriteLine(Line(columns.Select(c => c.Header), "subject"));
        foreach (var row in rows)
            output.WriteLine(Line(row.Cells, OneLine(row.Subject)));

        output.WriteLine($"run {model.Run.RunId}, wall time {Duration(model.Run.WallTime)}, reproduce: {model.Run.ReproduceCommand}");
        output.Flush();
    }

    /// <summary>One commit's cells (#, commit, trials, median, vs good, p, P(culprit)), its subject and its side: both
    /// layouts render these, so the table and the log lines cannot disagree.</summary>
    private sealed record Row(IReadOnlyList<string> Cells, string Subject, Side Side);

    private static IReadOnlyList<(string Header, bool Right)> Columns(ReportModel model) =>
    [
        ("#", true), ("commit", false), ("trials", true), ($"median ({FeatureUnit(model)})", true), ("vs good", false), ("p", true), ("P(culprit)", true),
    ];

    private static IEnumerable<Row> Rows(ReportModel model)
    {
        var post = Posterior(model).ToDictionary(p => p.Position, p => p.P);
        foreach (var c in model.Commits.OrderBy(c => c.Position).Where(c => c.Trials.Count > 0 || c.Skipped || c.Position == 0))
        {
            var cmp = c.VersusGood ?? ComparisonAt(model, c.Position);
            var vals = c.FeatureValues.Select(v => ScaleFeature(model, v)).ToList();
            var side = SideOf(model, c.Position);
            var verdict = c.Skipped ? "skipped" : c.Position == 0 ? "good anchor" : VerdictText(cmp);
            yield return new Row(
            [
                c.Position.ToString(Inv),
                c.Commit.ShortSha,
                $"{c.Trials.Count(t => t.Outcome == TrialOutcome.Ok)}/{c.Trials.Count}",
                vals.Count == 0 ? "—" : F(Statistics.Robust.Median(vals)),
                side == Side.Culprit && !c.Skipped ? verdict + " ← culprit" : verdict,
                cmp is null ? "—" : PValue(cmp.PValue),
                post.TryGetValue(c.Position, out var p) ? Percent(p) : "—",
            ], c.Commit.Subject, side);
        }
    }
}
