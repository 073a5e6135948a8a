using Bisector.Runs;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>The run's cost plan against what it spent: one report section, and one line for the terminal.</summary>
internal static class PlanSection
{
    /// <summary>"plan: 30 trials, 25 min (after round 1: 24 trials, 20 min); spent: 26 trials, 21 min"; null without a plan.</summary>
    public static string? Versus(ReportModel m)
    {
        if (m.Plans.Count == 0)
            return null;
        var first = m.Plans[0];
        var replan = m.Plans.Skip(1).LastOrDefault();
        var text = first.Versus(SpentTrials(m), m.SearchWallTime ?? m.Run.WallTime);
        if (replan is not null)
        {
            var cut = text.IndexOf("; spent:", StringComparison.Ordinal);
            text = text[..cut] + $" (after round 1: {replan.Main.Trials.Median.ToString("0", Inv)} trials, {CostPlan.Minutes(replan.Main.Seconds.Median)})" + text[cut..];
        }

        return m.Outcome is null ? text + " so far" : text;
    }

    public static Section? Build(ReportModel m)
    {
        if (Versus(m) is not { } versus)
            return null;
        Column[] columns =
        [
            new("plan"), new("basis"), new("change simulated"), new("trials", Numeric: true), new("rounds", Numeric: true),
            new("wall time", Numeric: true), new("named", Numeric: true),
        ];
        var rows = m.Plans.SelectMany(p => p.Cases.Select(c => new Row(
        [
            p.Stage == PlanStage.Start ? "before the run" : "after round 1",
            p.Basis.ToString(),
            c.Change,
            $"{F(c.Trials.Median, "0")} ({F(c.Trials.Low, "0")}–{F(c.Trials.High, "0")})",
            $"{F(c.Rounds.Median, "0")} ({F(c.Rounds.Low, "0")}–{F(c.Rounds.High, "0")})",
            $"{CostPlan.Minutes(c.Seconds.Median)} ({CostPlan.Minutes(c.Seconds.Low)}–{CostPlan.Minutes(c.Seconds.High)})",
            Percent(c.Named),
        ]))).ToList();
        var blocks = new List<Block> { new Paragraph(new Span(versus, Tone.Strong)), new DataTable(null, columns, rows) };
        blocks.AddRange(m.Plans.SelectMany(p => p.Lines.Skip(1)).Select(l => new Paragraph(l.Trim(), IsNote: true)));
        blocks.Add(new Paragraph(("Each plan runs the search itself over simulated trials (the fitted noise resampled, the culprit at a uniform position) " +
            "with this run's candidates, workers and options; trials and rounds are the simulated searches' median (10th–90th percentile). " +
            "Spent wall time runs from the run's start to the end of the search's last round (calibration included; the scan for further changes, diagnosis and report not)."), IsNote: true));
        return new Section("plan", "Cost plan", blocks);
    }

    private static int SpentTrials(ReportModel m) =>
        m.Outcome?.TrialsSpent ?? m.Commits.Sum(c => c.OkTrials.Count());
}
