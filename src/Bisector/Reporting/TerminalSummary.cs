using Bisector.Workers;
using Spectre.Console;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>
/// The end-of-run summary in the terminal: the same headline as the report, then one row per measured commit.
/// On a console without ANSI support (redirected, CI logs) it writes plain text lines with an ASCII table, so a
/// log file stays greppable.
/// </summary>
public static class TerminalSummary
{
    public static void Write(ReportModel model, IAnsiConsole console)
    {
        var head = Headline(model);
        var fancy = console.Profile.Capabilities.Ansi;
        var colour = head.Kind switch
        {
            HeadlineKind.Found or HeadlineKind.Range => "bold red",
            HeadlineKind.NoRegression => "bold blue",
            _ => "bold yellow",
        };

        if (model.IsPartial)
            console.MarkupLine(fancy ? "[black on yellow] PARTIAL: run interrupted [/]" : "PARTIAL: run interrupted");
        console.MarkupLine(fancy ? $"[{colour}]{Markup.Escape(head.Title)}[/]" : Markup.Escape(head.Title));
        foreach (var line in head.Lines)
            console.MarkupLine("  " + Markup.Escape(line));
        if (model.Outcome is { } o && !string.IsNullOrWhiteSpace(o.Summary))
            console.MarkupLine("  " + Markup.Escape("Search: " + OneLine(o.Summary)));

        var fu = FeatureUnit(model);
        var post = Posterior(model).ToDictionary(p => p.Position, p => p.P);
        var table = new Table().Border(fancy ? TableBorder.Rounded : TableBorder.Ascii);
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
            var style = !fancy ? null : side switch
            {
                Side.Culprit => "bold red",
                Side.Bad => "red",
                Side.Good => "blue",
                _ => "grey",
            };
            string Cell(string text) => style is null ? Markup.Escape(text) : $"[{style}]{Markup.Escape(text)}[/]";
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
}
