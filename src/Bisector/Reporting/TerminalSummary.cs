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
        console.MarkupLine($"[{colour}]{Markup.Escape(Say(model, head.Title))}[/]");
        foreach (var line in Above(model, head))
            console.MarkupLine("  " + Markup.Escape(Say(model, line)));

        var header = Header(model);
        var table = new Table().Border(TableBorder.Rounded);
        for (var i = 0; i < header.Length - 1; i++)
            table.AddColumn(header[i], c => { if (IsNumeric(i)) c.RightAligned(); });
        foreach (var e in Evidence(model).Where(e => e.Listed))
        {
            var style = e.Side switch
            {
                Side.Culprit => "bold red",
                Side.Bad => "red",
                Side.Good => "blue",
                _ => "grey",
            };
            var cells = Cells(model, e);
            cells[1] += " " + OneLine(e.Report.Commit.Subject, 40);
            table.AddRow(cells.Select(text => $"[{style}]{Markup.Escape(text)}[/]").ToArray());
        }

        console.Write(table);
        foreach (var line in Below(model))
            console.MarkupLine(Markup.Escape(Say(model, line)));
    }

    /// <summary>The layout for logs: the headline, then a header and one line per commit, columns padded to their
    /// widest cell and nothing cut or wrapped (a 200-character subject stays on its commit's line).</summary>
    public static void WritePlain(ReportModel model, TextWriter output)
    {
        var head = Headline(model);
        if (model.IsPartial)
            output.WriteLine("PARTIAL: run interrupted");
        output.WriteLine(Say(model, head.Title));
        foreach (var line in Above(model, head))
            output.WriteLine("  " + Say(model, line));

        var rows = new List<string[]> { Header(model) };
        rows.AddRange(Evidence(model).Where(e => e.Listed).Select(e => (string[])[.. Cells(model, e), OneLine(e.Report.Commit.Subject)]));

        var widths = Enumerable.Range(0, rows[0].Length - 1).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
        {
            var cells = row.Take(widths.Length).Select((cell, i) => IsNumeric(i) ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]));
            output.WriteLine(string.Join("  ", cells) + "  " + row[^1]);
        }

        foreach (var line in Below(model))
            output.WriteLine(Say(model, line)); // one line each already: subjects are made one-line where they are written
        output.Flush();
    }

    /// <summary>What the terminal prints of a line: in the run's words (git text as it is), on one line. Every line of
    /// both layouts goes through here, so none can print the search's fixed words in a fix run.</summary>
    private static string Say(ReportModel model, Line line) =>
        new(line.Say(model.Terms).Select(c => char.IsControl(c) ? ' ' : c).ToArray());

    /// <summary>Under the title: the headline's evidence, the search's summary, the revert proof.</summary>
    private static IEnumerable<Line> Above(ReportModel model, Headline head)
    {
        foreach (var line in head.Lines)
            yield return line;
        if (SearchSummary(model) is { Length: > 0 } summary)
            yield return "Search: " + summary;
        if (model.Revert is { } revert)
        {
            yield return "Revert: " + revert.Headline;
            if (revert.GitText is { Length: > 0 } git)
                yield return new Line([new Span("  "), Span.Git(OneLine(git, 200))]);
        }
    }

    /// <summary>Under the table: identical builds, the changes in the range, the run and how to reproduce it, the plan.</summary>
    private static IEnumerable<Line> Below(ReportModel model)
    {
        if (IdenticalBuildsSection.Text(model) is { } identical)
            yield return identical;
        if (LinkedLibrariesSection.Text(model) is { } linked)
            yield return linked;
        foreach (var line in ChangesSection.TerminalLines(model))
            yield return line;
        if (model.TrialLength is { Shorter: true } length)
            yield return "Trial length: " + length.Message;
        yield return new Line([new Span($"run {model.Run.RunId}, wall time {Duration(model.Run.WallTime)}, reproduce: "), Span.Git(model.Run.ReproduceCommand)]);
        if (PlanSection.Versus(model) is { } versus)
            yield return versus;
    }

    /// <summary>The column titles; the last one (the subject) only the plain layout shows as a column of its own.</summary>
    private static string[] Header(ReportModel model) =>
        ["#", "commit", "trials", $"median ({FeatureUnit(model)})", model.Terms.VersusOld, "p", $"P({model.Terms.Answer})", "subject"];

    private static bool IsNumeric(int column) => column is 0 or 2 or 3 or 5 or 6;

    /// <summary>The columns both layouts show for a commit, in the run's words; the subject is added by each layout (cut
    /// in the table, whole and last in the plain lines).</summary>
    private static string[] Cells(ReportModel model, CommitEvidence e) =>
    [
        e.Report.Position.ToString(Inv),
        e.Report.Commit.ShortSha,
        $"{e.TrialsOk}/{e.Report.Trials.Count}",
        e.Values.Count == 0 ? "—" : F(e.Median),
        Say(model, e.IsCulprit ? e.Status + " ← " + e.Terms.Answer : e.Status),
        e.PCell,
        e.Posterior is { } p ? Percent(p) : "—",
    ];
}
