using System.Text.Encodings.Web;
using System.Text.Json;
using Bisector.Reporting;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Workers;
using static Bisector.Reporting.ReportFacts;

namespace Bisector.Runs;

/// <summary>
/// The one machine-readable result of a run, written by <c>--json</c> on start, resume, status and report: what a CI
/// job acts on. Its shape is documented in docs/json.md and versioned by <see cref="SchemaVersion"/>: fields are only
/// added within a version; renaming or removing one raises it. Values are rendered from the same
/// <see cref="ReportModel"/> as the report, so the two cannot disagree.
/// </summary>
public static class RunResultJson
{
    public const int SchemaVersion = 1;

    /// <param name="reportDirectory">Where report.html and report.md were written; null when no report exists yet
    /// (a status read during a run).</param>
    /// <param name="running">True while the run's process is alive (status only): the verdict is then "running".</param>
    public static string Render(ReportModel m, string? reportDirectory, bool running = false)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            var o = m.Outcome;
            var scale = FeatureScale.For(m.Decision.Metric, m.Decision.Feature);
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", SchemaVersion);
            w.WriteString("tool", "bisector");
            w.WriteString("toolVersion", m.Run.ToolVersion);
            w.WriteString("runId", m.Run.RunId);
            w.WriteString("range", m.Run.RangeSpec);
            w.WriteString("recipe", m.Run.RecipeName);
            w.WriteString("verdict", Verdict(m, running));
            if (o is null) w.WriteNull("confidence");
            else w.WriteNumber("confidence", Round(o.Confidence, 6));
            w.WriteNumber("confidenceTarget", m.Run.ConfidenceTarget);
            w.WritePropertyName("culprit");
            WriteCulprit(w, m);
            // Added with --find-fix: what the run looked for, its words, and the fix under its own name (null in a
            // regression run; a fix run still fills "culprit", so scripts written for regressions keep working).
            w.WriteString("kind", m.Terms.KindName);
            w.WriteStartObject("terms");
            w.WriteString("old", m.Terms.Old);
            w.WriteString("new", m.Terms.New);
            w.WriteEndObject();
            w.WritePropertyName("fix");
            if (m.Terms.IsFix)
                WriteCulprit(w, m);
            else
                w.WriteNullValue();
            w.WritePropertyName("effect");
            WriteEffect(w, m, scale);
            w.WritePropertyName("commits");
            WriteCommits(w, m, scale);
            w.WritePropertyName("changes");
            WriteChanges(w, m, scale);
            w.WritePropertyName("reports");
            if (reportDirectory is null)
            {
                w.WriteNullValue();
            }
            else
            {
                w.WriteStartObject();
                w.WriteString("directory", Path.GetFullPath(reportDirectory));
                w.WriteString("html", Path.GetFullPath(Path.Combine(reportDirectory, ReportWriter.HtmlFileName)));
                w.WriteString("markdown", Path.GetFullPath(Path.Combine(reportDirectory, ReportWriter.MarkdownFileName)));
                w.WriteEndObject();
            }

            w.WriteString("wallTime", Duration(m.Run.WallTime));
            w.WriteNumber("wallSeconds", Math.Round(m.Run.WallTime.TotalSeconds, 1));
            if (o is null) w.WriteNull("summary");
            else w.WriteString("summary", OneLine(SearchSummary(m)));
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>culprit | culprit-range | no-regression | undecided | running | interrupted.</summary>
    public static string Verdict(ReportModel m, bool running = false) => m.Outcome?.Status switch
    {
        SearchStatus.Found => "culprit",
        SearchStatus.FoundRange => "culprit-range",
        SearchStatus.NoRegression => "no-regression",
        SearchStatus.Undecided => "undecided",
        _ => running ? "running" : "interrupted",
    };

    private static void WriteCulprit(Utf8JsonWriter w, ReportModel m)
    {
        var o = m.Outcome;
        var (first, last) = o switch
        {
            { Status: SearchStatus.Found, Culprit: { } c } => (c, c),
            { Status: SearchStatus.FoundRange } => (o.RangeFirst, o.RangeLast),
            _ => (-1, -1),
        };
        if (first < 0 || m.At(first) is not { } firstCommit || m.At(last) is not { } lastCommit)
        {
            w.WriteNullValue();
            return;
        }

        w.WriteStartObject();
        w.WriteString("sha", firstCommit.Commit.Sha);
        w.WriteString("subject", OneLine(firstCommit.Commit.Subject));
        w.WriteString("author", OneLine(firstCommit.Commit.Author));
        w.WriteNumber("position", first);
        if (last != first)
        {
            // A range: the oldest and newest commit that may be the culprit (their neighbours did not build).
            w.WriteString("lastSha", lastCommit.Commit.Sha);
            w.WriteNumber("lastPosition", last);
        }

        w.WriteEndObject();
    }

    private static void WriteEffect(Utf8JsonWriter w, ReportModel m, FeatureScale scale)
    {
        if (HeadlineComparison(m) is not { } c || c.Verdict == Statistics.Verdict.Unknown && double.IsNaN(c.Effect))
        {
            w.WriteNullValue();
            return;
        }

        w.WriteStartObject();
        w.WriteString("metric", m.Decision.Metric);
        w.WriteString("feature", m.Decision.Feature.ToString().ToLowerInvariant());
        w.WriteString("direction", m.Decision.Direction == Recipes.RegressionDirection.Increase ? "increase" : "decrease");
        w.WriteString("unit", scale.Unit);
        Number(w, "shift", scale.Scale(c.Effect));
        Number(w, "low", scale.Scale(c.EffectLow));
        Number(w, "high", scale.Scale(c.EffectHigh));
        w.WriteNumber("confidenceLevel", Round(c.ConfidenceLevel, 4));
        Number(w, "threshold", scale.Scale(c.Threshold));
        w.WriteString("test", c.Test);
        Number(w, "p", c.PValue, 6);
        w.WriteNumber("alpha", c.Alpha);
        w.WriteString("comparison", c.Verdict.ToString());
        w.WriteEndObject();
    }

    private static void WriteCommits(Utf8JsonWriter w, ReportModel m, FeatureScale scale)
    {
        w.WriteStartArray();
        foreach (var e in Evidence(m))
        {
            var (c, cmp) = (e.Report, e.VersusGood);
            w.WriteStartObject();
            w.WriteNumber("position", c.Position);
            w.WriteString("sha", c.Commit.Sha);
            w.WriteString("subject", OneLine(c.Commit.Subject));
            w.WriteString("side", e.Side.ToString().ToLowerInvariant());
            if (c.Build is { } build) w.WriteString("build", build.ToString());
            else w.WriteNull("build");
            w.WriteNumber("trialsOk", e.TrialsOk);
            w.WriteNumber("trials", c.Trials.Count);
            if (e.Values.Count == 0) w.WriteNull("median");
            else Number(w, "median", e.Median);
            if (cmp is null)
            {
                w.WriteNull("versusGood");
            }
            else
            {
                w.WriteStartObject("versusGood");
                w.WriteString("verdict", cmp.Verdict.ToString());
                Number(w, "p", cmp.PValue, 6);
                Number(w, "shift", scale.Scale(cmp.Effect));
                Number(w, "low", scale.Scale(cmp.EffectLow));
                Number(w, "high", scale.Scale(cmp.EffectHigh));
                w.WriteEndObject();
            }

            if (e.Posterior is { } p) w.WriteNumber("posterior", Round(p, 6));
            else w.WriteNull("posterior");
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>The scan for further changes: every change found (largest first, the answer marked) and each segment's
    /// result; null when the run named no single culprit, or an object with only "notScanned" when it was not run.</summary>
    private static void WriteChanges(Utf8JsonWriter w, ReportModel m, FeatureScale scale)
    {
        if (m.Changes is not { } scan)
        {
            if (m.ScanNotRun is { } why)
            {
                w.WriteStartObject();
                w.WriteString("notScanned", why);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNullValue();
            }

            return;
        }

        string Sha(int position) => m.At(position)?.Commit.Sha ?? "";
        string Direction(ChangeDirection d) => d == ChangeDirection.Worse ? "worse" : "better";
        w.WriteStartObject();
        if (scan.Answer is { } answer) w.WriteString("answer", Sha(answer.Position));
        else w.WriteNull("answer");
        w.WriteString("unit", scale.Unit);
        w.WriteStartArray("items");
        foreach (var c in scan.Ranked)
        {
            w.WriteStartObject();
            w.WriteString("sha", Sha(c.Position));
            w.WriteNumber("position", c.Position);
            w.WriteString("direction", Direction(c.Direction));
            Number(w, "shift", scale.Scale(c.Shift));
            Number(w, "low", scale.Scale(c.ShiftLow));
            Number(w, "high", scale.Scale(c.ShiftHigh));
            Number(w, "eValue", c.EValue, 2);
            w.WriteNumber("alpha", c.Alpha);
            w.WriteString("foundBy", c.FoundBySearch ? "search" : "scan");
            w.WriteBoolean("isAnswer", c.IsAnswer);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("segments");
        foreach (var s in scan.Segments)
        {
            w.WriteStartObject();
            w.WriteNumber("from", s.From);
            w.WriteNumber("to", s.To);
            w.WriteString("direction", Direction(s.Direction));
            w.WriteString("result", s.Verdict switch
            {
                SegmentVerdict.NoFurtherChange => "no-further-change",
                SegmentVerdict.ChangeFound => "change-found",
                SegmentVerdict.Undecided => "undecided",
                SegmentVerdict.NotChecked => "not-checked",
                _ => "empty",
            });
            w.WriteNumber("alpha", s.Alpha);
            w.WriteNumber("newTrials", s.NewTrials);
            w.WriteString("explanation", OneLine(s.Explanation));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNumber("newTrials", scan.NewTrials);
        w.WriteNumber("budget", scan.Budget);
        w.WriteEndObject();
    }

    /// <summary>JSON has no NaN or infinity: an unknown or unbounded value is null.</summary>
    private static void Number(Utf8JsonWriter w, string name, double value, int digits = 4)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, Round(value, digits));
        else w.WriteNull(name);
    }

    private static double Round(double value, int digits) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}
