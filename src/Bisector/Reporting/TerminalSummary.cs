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

        var fu = FeatureUnit(model);
        var post = Posterior(model).ToDictionary(p => p.Position, p => p.P);
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("#", c => c.RightAligned());
        table.AddColumn("commit");
        table.AddColumn("trials", c => c.RightAligned());
        table.AddColumn($"median ({fu})", c => c.RightAligned());
        table.AddColumn("vs good");
        table.AddColumn("p", c => c.RightAligned());
        table.AddColumn("P(culprit)", c => c.RightAligned());
        foreach (var c in model.Commits.OrderBy(c => c.Position).Where(c => c.Trials.Count > 0 || c.Skipped || c.Position == 0))
        {
            var cmp = c.VersusGood ?? ComparisonAt(model, c.Position);
            var vals = c.FeatureValues.Select(v => ScaleFeature(model, v)).ToList();
            var side = SideOf(model, c.Position);
            var verdict = c.Skipped ? "skipped" : c.Position == 0 ? "good anchor" : VerdictText(cmp);
            var style = side switch
            {
                Side.Culprit => "bold red",
                Side.Bad => "red",
                Side.Good => "blue",
                _ => "grey",
            };
            string Cell(string text) => $"[{style}]{Markup.Escape(text)}[/]";
            table.AddRow(
                Cell(c.Position.ToString(Inv)),
                Cell($"{c.Commit.ShortSha} {OneLine(c.Commit.Subject, 40)}"),
                Cell($"{c.Trials.Count(t => t.Outcome == TrialOutcome.Ok)}/{c.Trials.Count}"),
                Cell(vals.Count == 0 ? "—" : F(Statistics.Robust.Median(vals))),
                Cell(side == Side.Culprit && !c.Skipped ? verdict + " ← culprit" : verdict),
                Cell(cmp is null ? "—" : PValue(cmp.PValue)),
                Cell(post.TryGetValue(c.Position, out var p) ? Percent(p) : "—"));
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

        var post = Posterior(model).ToDictionary(p => p.Position, p => p.P);
        var rows = new List<string[]> { new[] { "#", "commit", "trials", $"median ({FeatureUnit(model)})", "vs good", "p", "P(culprit)", "subject" } };
        foreach (var c in model.Commits.OrderBy(c => c.Position).Where(c => c.Trials.Count > 0 || c.Skipped || c.Position == 0))
        {
            var cmp = c.VersusGood ?? ComparisonAt(model, c.Position);
            var vals = c.FeatureValues.Select(v => ScaleFeature(model, v)).ToList();
            var verdict = c.Skipped ? "skipped" : c.Position == 0 ? "good anchor" : VerdictText(cmp);
            if (SideOf(model, c.Position) == Side.Culprit && !c.Skipped)
                verdict += " ← culprit";
            rows.Add(
            [
                c.Position.ToString(Inv),
                c.Commit.ShortSha,
                $"{c.Trials.Count(t => t.Outcome == TrialOutcome.Ok)}/{c.Trials.Count}",
                vals.Count == 0 ? "—" : F(Statistics.Robust.Median(vals)),
                verdict,
                cmp is null ? "—" : PValue(cmp.PValue),
                post.TryGetValue(c.Position, out var p) ? Percent(p) : "—",
                OneLine(c.Commit.Subject),
            ]);
        }

        var widths = Enumerable.Range(0, rows[0].Length - 1).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
        {
            var cells = row.Take(widths.Length).Select((cell, i) => i is 0 or 2 or 3 or 5 or 6 ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]));
            output.WriteLine(string.Join("  ", cells) + "  " + row[^1]);
        }

        output.WriteLine($"run {model.Run.RunId}, wall time {Duration(model.Run.WallTime)}, reproduce: {model.Run.ReproduceCommand}");
        output.Flush();
    }
}
