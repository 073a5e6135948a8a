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
        if (SearchSummary(model) is { Length: > 0 } summary)
            console.MarkupLine("  " + Markup.Escape("Search: " + OneLine(summary)));
        if (model.Revert is { } revert)
            console.MarkupLine("  " + Markup.Escape(model.Terms.Speak("Revert: " + revert.Headline)));

        var fu = FeatureUnit(model);
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("#", c => c.RightAligned());
        table.AddColumn("commit");
        table.AddColumn("trials", c => c.RightAligned());
        table.AddColumn($"median ({fu})", c => c.RightAligned());
        table.AddColumn(model.Terms.VersusOld);
        table.AddColumn("p", c => c.RightAligned());
        table.AddColumn($"P({model.Terms.Answer})", c => c.RightAligned());
        foreach (var e in Evidence(model).Where(e => e.Listed))
        {
            var style = e.Side switch
            {
                Side.Culprit => "bold red",
                Side.Bad => "red",
                Side.Good => "blue",
                _ => "grey",
            };
            var cells = Cells(e);
            cells[1] += " " + OneLine(e.Report.Commit.Subject, 40);
            table.AddRow(cells.Select(text => $"[{style}]{Markup.Escape(text)}[/]").ToArray());
        }

        console.Write(table);
        if (IdenticalBuildsSection.Text(model) is { } identical)
            console.MarkupLine(Markup.Escape(identical));
        foreach (var line in ChangesSection.TerminalLines(model))
            console.MarkupLine(Markup.Escape(line));
        console.MarkupLine(Markup.Escape(
            $"run {model.Run.RunId}, wall time {Duration(model.Run.WallTime)}, reproduce: {model.Run.ReproduceCommand}"));
        if (PlanSection.Versus(model) is { } versus)
            console.MarkupLine(Markup.Escape(versus));
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
        if (SearchSummary(model) is { Length: > 0 } summary)
            output.WriteLine("  Search: " + OneLine(summary));
        if (model.Revert is { } revert)
            output.WriteLine("  " + model.Terms.Speak("Revert: " + revert.Headline));

        var rows = new List<string[]> { new[] { "#", "commit", "trials", $"median ({FeatureUnit(model)})", model.Terms.VersusOld, "p", $"P({model.Terms.Answer})", "subject" } };
        rows.AddRange(Evidence(model).Where(e => e.Listed).Select(e => (string[])[.. Cells(e), OneLine(e.Report.Commit.Subject)]));

        var widths = Enumerable.Range(0, rows[0].Length - 1).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
        {
            var cells = row.Take(widths.Length).Select((cell, i) => i is 0 or 2 or 3 or 5 or 6 ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]));
            output.WriteLine(string.Join("  ", cells) + "  " + row[^1]);
        }

        if (IdenticalBuildsSection.Text(model) is { } identical)
            output.WriteLine(identical);
        foreach (var line in ChangesSection.TerminalLines(model))
            output.WriteLine(line); // one line each already: subjects are made one-line where they are written

        output.WriteLine($"run {model.Run.RunId}, wall time {Duration(model.Run.WallTime)}, reproduce: {model.Run.ReproduceCommand}");
        if (PlanSection.Versus(model) is { } versus)
            output.WriteLine(versus);
        output.Flush();
    }

    /// <summary>The columns both layouts show for a commit; the subject is added by each layout (cut in the table,
    /// whole and last in the plain lines).</summary>
    private static string[] Cells(CommitEvidence e) =>
    [
        e.Report.Position.ToString(Inv),
        e.Report.Commit.ShortSha,
        $"{e.TrialsOk}/{e.Report.Trials.Count}",
        e.Values.Count == 0 ? "—" : F(e.Median),
        e.IsCulprit ? e.Status + " ← " + e.Terms.Answer : e.Status,
        e.VersusGood is { } cmp ? PValue(cmp.PValue) : "—",
        e.Posterior is { } p ? Percent(p) : "—",
    ];
}
