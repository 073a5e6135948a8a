using System.Text.Encodings.Web;
using System.Text.Json;
using Bisector.Diagnosis;
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
            w.WritePropertyName("revert");
            WriteRevert(w, m, scale);
            w.WritePropertyName("commits");
            WriteCommits(w, m, scale);
            w.WriteStartArray("identicalBuilds");
            foreach (var g in m.IdenticalBuilds)
            {
                w.WriteStartObject();
                w.WriteNumber("measuredAt", g.MeasuredAt);
                w.WriteStartArray("positions");
                foreach (var position in g.Positions)
                    w.WriteNumberValue(position);
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("linkChanges");
            foreach (var c in LinkedLibrariesSection.Changes(m.Links))
            {
                w.WriteStartObject();
                w.WriteNumber("from", c.From);
                w.WriteNumber("at", c.At);
                w.WriteString("file", c.File);
                w.WriteStartArray("added");
                foreach (var name in c.Added)
                    w.WriteStringValue(name);
                w.WriteEndArray();
                w.WriteStartArray("removed");
                foreach (var name in c.Removed)
                    w.WriteStringValue(name);
                w.WriteEndArray();
                if (c.Present is { } present)
                    w.WriteBoolean("present", present);
                else
                    w.WriteNull("present");
                w.WriteString("renamedFrom", c.RenamedFrom);
                w.WriteStartArray("replaced");
                foreach (var r in c.Replaced)
                {
                    w.WriteStartObject();
                    w.WriteString("old", r.Old);
                    w.WriteString("new", r.New);
                    w.WriteBoolean("own", r.Own);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteBoolean("versionOnly", c.VersionOnly);
                w.WriteEndObject();
            }

            w.WriteEndArray();
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

            w.WritePropertyName("experiments");
            WriteExperiments(w, m.Experiments, scale, m.Terms);
            w.WriteString("wallTime", Duration(m.Run.WallTime));
            w.WriteNumber("wallSeconds", Math.Round(m.Run.WallTime.TotalSeconds, 1));
            Prose(w, m.Terms, "summary", o is null ? null : SearchSummary(m));
            w.WritePropertyName("plan");
            WritePlan(w, m);
            w.WritePropertyName("trialLength");
            WriteTrialLength(w, m);
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The recipe's trial length and the one its stored trials suggest (<see cref="WindowSuggestion"/>); null
    /// without a named culprit.</summary>
    private static void WriteTrialLength(Utf8JsonWriter w, ReportModel m)
    {
        if (m.TrialLength is not { } length)
        {
            w.WriteNullValue();
            return;
        }

        var (full, best) = (length.Full, length.Best);
        w.WriteStartObject();
        w.WriteNumber("warmupSeconds", Math.Round(full.WarmupSeconds, 1));
        w.WriteNumber("windowSeconds", Math.Round(full.WindowSeconds, 1));
        w.WriteNumber("separation", Math.Round(full.Separation, 2));
        w.WriteBoolean("shorter", length.Shorter);
        w.WriteNumber("suggestedWarmupSeconds", Math.Round(best.WarmupSeconds, 1));
        w.WriteNumber("suggestedWindowSeconds", Math.Round(best.WindowSeconds, 1));
        w.WriteNumber("suggestedSeparation", Math.Round(best.Separation, 2));
        Prose(w, m.Terms, "message", length.Message);
        w.WriteEndObject();
    }

    /// <summary>The plan made before the run (its main case) and the re-plan after round 1 if any; null for runs without one.</summary>
    private static void WritePlan(Utf8JsonWriter w, ReportModel m)
    {
        if (m.Plans.Count == 0)
        {
            w.WriteNullValue();
            return;
        }

        w.WriteStartObject();
        foreach (var plan in m.Plans)
        {
            w.WriteStartObject(plan.Stage == PlanStage.Start ? "start" : "afterFirstRound");
            w.WriteString("basis", plan.Basis.ToString());
            w.WriteString("change", plan.Main.Change);
            w.WriteNumber("trials", Math.Round(plan.Main.Trials.Median, 1));
            w.WriteNumber("trialsLow", Math.Round(plan.Main.Trials.Low, 1));
            w.WriteNumber("trialsHigh", Math.Round(plan.Main.Trials.High, 1));
            w.WriteNumber("rounds", Math.Round(plan.Main.Rounds.Median, 1));
            w.WriteNumber("wallSeconds", Math.Round(plan.Main.Seconds.Median, 1));
            w.WriteNumber("wallSecondsLow", Math.Round(plan.Main.Seconds.Low, 1));
            w.WriteNumber("wallSecondsHigh", Math.Round(plan.Main.Seconds.High, 1));
            Prose(w, m.Terms, "headline", plan.Headline);
            w.WriteEndObject();
        }

        w.WriteEndObject();
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
        WriteInterval(w, c, scale);
        w.WriteString("test", c.Test);
        Number(w, "p", c.PValue, 6);
        w.WriteNumber("alpha", c.Alpha);
        w.WriteString("comparison", c.Verdict.ToString());
        w.WriteEndObject();
    }

    /// <summary>The revert proof: null when none was made (no single culprit, <c>--no-revert</c>, an older run).</summary>
    private static void WriteRevert(Utf8JsonWriter w, ReportModel m, FeatureScale scale)
    {
        if (m.Revert is not { } r)
        {
            w.WriteNullValue();
            return;
        }

        w.WriteStartObject();
        w.WriteString("culpritSha", r.Culprit.Sha);
        w.WriteString("ontoSha", r.Base.Sha);
        w.WriteString("command", r.Command);
        w.WriteString("status", r.Status switch
        {
            Storage.RevertStatus.Built => "built",
            Storage.RevertStatus.Conflict => "conflict",
            _ => "build-failed",
        });
        w.WriteStartArray("conflicts");
        foreach (var file in r.Conflicts)
            w.WriteStringValue(file);
        w.WriteEndArray();
        if (r.Detail is null) w.WriteNull("detail");
        else w.WriteString("detail", OneLine(r.Detail));
        w.WriteNumber("trials", r.TrialsSpent);
        w.WriteNumber("failedTrials", r.FailedTrials);
        if (r.Estimate is not { } e)
        {
            w.WriteNull("finding");
            w.WriteNull("share");
        }
        else
        {
            w.WriteString("finding", e.Finding switch
            {
                Diagnosis.RevertFinding.Removes => "removes",
                Diagnosis.RevertFinding.RemovesPart => "removes-part",
                Diagnosis.RevertFinding.RemovesNone => "removes-none",
                _ => "undecided",
            });
            w.WriteStartObject("share");
            Number(w, "value", e.Share);
            Number(w, "low", e.ShareLow);
            Number(w, "high", e.ShareHigh);
            w.WriteNumber("confidenceLevel", Round(e.ConfidenceLevel, 4));
            w.WriteEndObject();
            w.WriteString("unit", scale.Unit);
            foreach (var (name, shift, low, high, ev) in new[]
            {
                ("versusBad", e.VersusBad, e.VersusBadLow, e.VersusBadHigh, e.EValueBad),
                ("versusGood", e.VersusGood, e.VersusGoodLow, e.VersusGoodHigh, e.EValueGood),
            })
            {
                w.WriteStartObject(name);
                Number(w, "shift", scale.Scale(shift));
                Number(w, "low", scale.Scale(low));
                Number(w, "high", scale.Scale(high));
                Number(w, "eValue", ev, 2);
                w.WriteEndObject();
            }

            w.WriteNumber("goodTrials", e.GoodTrials);
            w.WriteNumber("badTrials", e.BadTrials);
        }

        Prose(w, m.Terms, "headline", r.Headline);
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
            WriteComparison(w, "versusGood", cmp, scale);

            if (e.Posterior is { } p) w.WriteNumber("posterior", Round(p, 6));
            else w.WriteNull("posterior");
            // Added: the posterior probability of the side the search put the commit on ("side"); null without a named culprit.
            if (e.SearchSide?.Probability is { } sp) w.WriteNumber("sideProbability", Round(sp, 6));
            else w.WriteNull("sideProbability");
            if (m.IdenticalBuilds.FirstOrDefault(g => g.MeasuredAt != c.Position && g.Positions.Contains(c.Position)) is { } twin)
                w.WriteNumber("sameBuildAs", twin.MeasuredAt);
            else w.WriteNull("sameBuildAs");
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
                Prose(w, m.Terms, "notScanned", why);
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
            Prose(w, m.Terms, "explanation", s.Explanation);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNumber("newTrials", scan.NewTrials);
        w.WriteNumber("budget", scan.Budget);
        w.WriteEndObject();
    }

    /// <summary>Diagnosis by experiment: the conclusion, then each experiment with its trials, finding, effect and
    /// interval (culprit vs good neighbour under it, and vs the culprit as built), the trim's figures, and why it could
    /// not run. Effects are in the run's unit; the trim's returned bytes in MiB.</summary>
    private static void WriteExperiments(Utf8JsonWriter w, ExperimentsReport? report, FeatureScale scale, Terms terms)
    {
        if (report is null)
        {
            w.WriteNullValue();
            return;
        }

        var mib = FeatureScale.For(Sampling.Metrics.RssAnon, FeatureKind.Plateau);
        w.WriteStartObject();
        Prose(w, terms, "conclusion", report.Headline);
        w.WriteString("goodSha", report.GoodSha);
        w.WriteString("culpritSha", report.CulpritSha);
        w.WriteBoolean("growth", report.Growth);
        Number(w, "stepMiB", mib.Scale(report.StepBytes));
        w.WriteNumber("trials", report.TrialsSpent);
        w.WriteStartArray("results");
        foreach (var r in report.Results)
        {
            w.WriteStartObject();
            w.WriteString("name", r.Experiment.Name);
            w.WriteString("kind", r.Experiment.Kind switch
            {
                ExperimentKind.Allocator => "allocator",
                ExperimentKind.Tunable => "tunable",
                _ => "trim-probe",
            });
            w.WriteString("change", r.Experiment.Change);
            w.WriteString("finding", r.Finding switch
            {
                ExperimentFinding.GrowthGone => "growth-gone",
                ExperimentFinding.GrowthStays => "growth-stays",
                ExperimentFinding.Undecided => "undecided",
                _ => "not-run",
            });
            w.WriteNumber("trials", r.TrialsSpent);
            Prose(w, terms, "notRun", r.NotRun);
            var trim = r.Experiment.Kind == ExperimentKind.TrimProbe;
            WriteComparison(w, trim ? "returnedByTrim" : "regression", r.Regression, trim ? mib : scale);
            WriteComparison(w, "versusBuilt", r.VersusBuilt, scale);
            if (r.Trim is { } t)
            {
                w.WriteStartObject("trim");
                Number(w, "returnedCulpritMiB", mib.Scale(t.ReturnedCulprit));
                Number(w, "returnedGoodMiB", mib.Scale(t.ReturnedGood));
                Number(w, "growthAtTrimMiB", mib.Scale(t.GrowthAtTrim));
                Number(w, "share", t.Share);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("trim");
            }

            Prose(w, terms, "caveat", r.Caveat);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteComparison(Utf8JsonWriter w, string name, Comparison? c, FeatureScale scale)
    {
        if (c is null)
        {
            w.WriteNull(name);
            return;
        }

        w.WriteStartObject(name);
        w.WriteString("verdict", c.Verdict.ToString());
        WriteInterval(w, c, scale);
        Number(w, "p", c.PValue, 6);
        w.WriteNumber("baselineTrials", c.Baseline.Count);
        w.WriteNumber("candidateTrials", c.Candidate.Count);
        w.WriteEndObject();
    }

    /// <summary>A comparison's effect with its interval and threshold, in <paramref name="scale"/>'s unit.</summary>
    private static void WriteInterval(Utf8JsonWriter w, Comparison c, FeatureScale scale)
    {
        w.WriteString("unit", scale.Unit);
        Number(w, "shift", scale.Scale(c.Effect));
        Number(w, "low", scale.Scale(c.EffectLow));
        Number(w, "high", scale.Scale(c.EffectHigh));
        w.WriteNumber("confidenceLevel", Round(c.ConfidenceLevel, 4));
        Number(w, "threshold", scale.Scale(c.Threshold));
    }

    /// <summary>The tool's own prose (a summary, an explanation, a headline) on one line in the run's words: every such
    /// field is written here, so none can carry the search's fixed words into a fix run; null stays null. Git text
    /// (subjects, shas, git's messages) and the schema's own values ("culprit", "no-regression") are written as they are.</summary>
    private static void Prose(Utf8JsonWriter w, Terms terms, string name, string? text)
    {
        if (text is null) w.WriteNull(name);
        else w.WriteString(name, OneLine(terms.Speak(text)));
    }

    /// <summary>JSON has no NaN or infinity: an unknown or unbounded value is null.</summary>
    private static void Number(Utf8JsonWriter w, string name, double value, int digits = 4)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, Round(value, digits));
        else w.WriteNull(name);
    }

    private static double Round(double value, int digits) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}
