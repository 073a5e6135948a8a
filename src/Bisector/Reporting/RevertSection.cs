using Bisector.Diagnosis;
using Bisector.Storage;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Reporting;

/// <summary>The report's "Revert proof" section: what was reverted onto what, how git and the build took it, and where
/// the reverted build sits between the two ends.</summary>
internal static class RevertSection
{
    public static Section? Build(ReportModel m)
    {
        if (m.Revert is not { } r)
            return null;
        var facts = new List<(string, IReadOnlyList<Line>)>
        {
            ("Result", [new Span(r.Headline, r.Status == RevertStatus.Built && r.Estimate is not null ? Tone.Strong : Tone.Alert)]),
            ("Reverted", [Line.Commit(r.Culprit, 100)]),
            ("Onto", [new Line([Span.Git(r.Base.ShortSha, Tone.Code), new Span(" (the bad end) "), Span.Git(OneLine(r.Base.Subject, 100))])]),
            ("Command", [Span.Git(r.Command, Tone.Code)]),
            ("git", [r.Status == RevertStatus.Conflict
                ? new Line([new Span("does not apply cleanly", Tone.Alert), r.Conflicts.Count > 0 ? new Span(": conflicts in ") : new Span(": "),
                    Span.Git(r.Conflicts.Count > 0 ? string.Join(", ", r.Conflicts) : r.Detail ?? "")])
                : (Line)"applied cleanly"]),
            ("Build", [r.Status switch
            {
                RevertStatus.Built => (Line)$"built in {F(r.BuildSeconds, "0.0")} s (cached under its own key, never a commit's)",
                RevertStatus.BuildFailed => new Line([new Span("failed", Tone.Alert), new Span(": "), Span.Git(r.Detail ?? "")]),
                _ => (Line)"not built",
            }]),
        };
        if (r.Estimate is { } e)
        {
            var s = r.Scale;
            facts.Add(("Trials", [$"{r.TrialsSpent} of the reverted build ({r.FailedTrials} failed) in {F(r.TrialSeconds, "0")} s, against the search's {e.GoodTrials} of the good end and {e.BadTrials} of the bad end"]));
            facts.Add(("Share removed", [$"{e.SharePercent} {e.ShareInterval} at {Percent(e.ConfidenceLevel)} (Fieller's interval for (bad − reverted) / (bad − good) of the means, pooled scale)"]));
            facts.Add(("vs the bad end", [$"{s.Format(e.VersusBad, signed: true)} [{s.Number(e.VersusBadLow, signed: true)}, {s.Number(e.VersusBadHigh, signed: true)}], e-value {Statistics.EValueText.Value(e.EValueBad)} (differs at ≥ {F(1 / e.Alpha, "0")})"]));
            facts.Add(("vs the good end", [$"{s.Format(e.VersusGood, signed: true)} [{s.Number(e.VersusGoodLow, signed: true)}, {s.Number(e.VersusGoodHigh, signed: true)}], e-value {Statistics.EValueText.Value(e.EValueGood)}"]));
        }
        else if (r.TrialsSpent > 0)
        {
            facts.Add(("Trials", [$"{r.TrialsSpent}, {r.FailedTrials} failed"]));
        }

        return new Section("revert", "Revert proof",
        [
            new FactTable(facts),
            new Paragraph(("The bad end is built with the culprit reverted (git revert --no-commit in a fresh worktree) and measured like any commit; " +
                "the e-values decide, as in the search, whether it differs from each end (valid at any look); trials stop when one decides. " +
                "The intervals are fixed-sample t intervals at the stopping look."), IsNote: true),
        ]);
    }
}
