using System.Globalization;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Statistics;

namespace Bisector.Diagnosis;

/// <summary>The trials one experiment ran, per side: Ok trials' series (metric → series) and why the others failed.</summary>
public sealed record ExperimentTrials(
    IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>> Good,
    IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>> Culprit,
    IReadOnlyList<string> Failures)
{
    public int Spent => Good.Count + Culprit.Count + Failures.Count;
}

/// <summary>The trim probe's figures: bytes RSS gave back at the trim (median per side), the culprit's growth over its
/// good neighbour just before the trim, and the share of that growth the trim returned.</summary>
public sealed record TrimFigures(double ReturnedGood, double ReturnedCulprit, double GrowthAtTrim)
{
    /// <summary>The share of the growth given back, between 0 and 1: a trim can return more than the culprit had grown over
    /// its good neighbour by then (the culprit may start lower), and all of the growth is all there is to explain.</summary>
    public double Share => GrowthAtTrim > 0 ? Math.Clamp((ReturnedCulprit - ReturnedGood) / GrowthAtTrim, 0, 1) : 0;
}

public enum ExperimentFinding
{
    /// <summary>The culprit no longer regresses against its good neighbour under the experiment.</summary>
    GrowthGone,

    /// <summary>The culprit still regresses under the experiment (trim probe: the trim gives back no more than the good build's).</summary>
    GrowthStays,

    /// <summary>The trials did not decide within the cap.</summary>
    Undecided,

    NotRun,
}

/// <summary>
/// One experiment's result, computed from its stored trials with the search's own statistics: <see cref="Regression"/>
/// is the culprit vs its good neighbour, both under the experiment (for the trim probe: bytes the trim returned);
/// <see cref="VersusBuilt"/> the culprit under the experiment vs the culprit as built (the search's trials).
/// </summary>
public sealed record ExperimentResult(
    Experiment Experiment,
    ExperimentFinding Finding,
    int TrialsSpent,
    string? NotRun,
    Comparison? Regression,
    Comparison? VersusBuilt,
    TrimFigures? Trim,
    string? Caveat);

/// <summary>All experiments of a run and the one line that sums them up.</summary>
public sealed record ExperimentsReport(string GoodSha, string CulpritSha, bool Growth, double StepBytes, IReadOnlyList<ExperimentResult> Results)
{
    /// <summary>How the deciding feature's effects read (MiB/min for a slope recipe); the trim's returned bytes are always MiB.</summary>
    public FeatureScale Scale { get; init; } = Bytes;

    private static readonly FeatureScale Bytes = FeatureScale.For(Metrics.RssAnon, FeatureKind.Level);

    public int TrialsSpent => Results.Sum(r => r.TrialsSpent);

    /// <summary>The conclusion, derived from the results when shown.</summary>
    public string Headline
    {
        get
        {
            var ran = Results.Where(r => r.Finding != ExperimentFinding.NotRun).ToList();
            var changes = ran.Where(r => r.Experiment.Kind != ExperimentKind.TrimProbe).ToList();
            var gone = changes.Where(r => r.Finding == ExperimentFinding.GrowthGone).Select(r => r.Experiment.Change).ToList();
            var stays = changes.Where(r => r.Finding == ExperimentFinding.GrowthStays).Select(r => r.Experiment.Change).ToList();
            var trim = ran.FirstOrDefault(r => r.Experiment.Kind == ExperimentKind.TrimProbe && r.Trim is not null);
            var trimText = trim?.Trim is not { } t ? null
                : t.Share >= 1 ? "trim returns all of the growth"
                : string.Create(CultureInfo.InvariantCulture, $"trim returns {t.Share * 100:0} % of the growth");
            var notRun = Results.Where(r => r.Finding == ExperimentFinding.NotRun).Select(r => r.Experiment.Name).ToList();
            var notRunText = notRun.Count > 0 ? $" (could not run: {string.Join(", ", notRun)})" : "";
            if (ran.Count == 0)
                return "no experiment could run" + notRunText;
            string text;
            if (!Growth)
            {
                text = string.Create(CultureInfo.InvariantCulture, $"no growth to explain: a level step of {Bytes.Format(StepBytes)}")
                    + (stays.Count > 0 ? $"; the step stays {Join(stays)}" : "")
                    + (gone.Count > 0 ? $"; it disappears {Join(gone)}" : "");
            }
            else if (gone.Count > 0)
            {
                text = $"the growth disappears {Join(gone)}: fragmentation of glibc's heap (memory free but held), not a leak"
                    + (stays.Count > 0 ? $"; it stays {Join(stays)}" : "")
                    + (trimText is null ? "" : "; " + trimText);
            }
            else if (stays.Count > 0)
            {
                text = $"the growth stays {Join(stays)}: memory in use (a leak or a larger working set), not glibc's fragmentation"
                    + (trimText is null ? "" : "; " + trimText);
            }
            else
            {
                text = "the experiments did not decide" + (trimText is null ? "" : "; " + trimText);
            }

            return text + notRunText;
        }
    }

    /// <summary>The text the report shows under "Diagnosis by experiment".</summary>
    public string Describe()
    {
        var text = new System.Text.StringBuilder();
        text.Append(Headline).Append("\n\n");
        text.Append(string.Create(CultureInfo.InvariantCulture,
            $"Culprit {CulpritSha[..12]} and its good neighbour {GoodSha[..12]} run again under each experiment ({TrialsSpent} trials in all).\n"));
        text.Append("Regression: culprit vs good neighbour, both under the experiment; vs as built: the culprit under the experiment vs the\n" +
                    "culprit as the search measured it (negative = less memory). Same test, threshold and α as the search.\n\n");
        foreach (var r in Results)
        {
            text.Append(string.Create(CultureInfo.InvariantCulture, $"{r.Experiment.Name} ({r.Experiment.Change}), {r.TrialsSpent} trials: "));
            if (r.NotRun is not null)
            {
                text.Append("not run — ").Append(r.NotRun).Append('\n');
                continue;
            }

            text.Append(r.Finding switch
            {
                ExperimentFinding.GrowthGone when r.Experiment.Kind == ExperimentKind.TrimProbe => "the trim returns the growth",
                ExperimentFinding.GrowthStays when r.Experiment.Kind == ExperimentKind.TrimProbe => "the trim returns no more than the good build's",
                ExperimentFinding.GrowthGone => "the regression is gone",
                ExperimentFinding.GrowthStays => "the regression stays",
                _ => "undecided",
            }).Append('\n');
            if (r.Regression is { } reg && r.Experiment.Kind == ExperimentKind.TrimProbe)
            {
                var more = reg.Verdict switch { Verdict.Regressed => "the culprit's is larger", Verdict.Same => "no larger", _ => "undecided" };
                text.Append("  returned by the trim, culprit vs good: ").Append(more).Append(", ").Append(Format(reg, Bytes, verdict: false)).Append('\n');
            }
            else if (r.Regression is { } regression)
            {
                text.Append("  regression: ").Append(Format(regression, Scale)).Append('\n');
            }

            if (r.VersusBuilt is { } vs)
                text.Append("  vs as built: ").Append(Format(vs, Scale)).Append('\n');
            if (r.Trim is { } t)
            {
                text.Append(string.Create(CultureInfo.InvariantCulture,
                    $"  trim gave back {Bytes.Format(t.ReturnedCulprit)} (culprit) vs {Bytes.Format(t.ReturnedGood)} (good); the culprit was {Bytes.Format(t.GrowthAtTrim)} above its good neighbour at the trim; share of that returned {t.Share * 100:0} %\n"));
            }

            if (r.Caveat is not null)
                text.Append("  note: ").Append(r.Caveat).Append('\n');
        }

        return text.ToString().TrimEnd('\n');
    }

    private static string Join(List<string> items) =>
        items.Count == 1 ? items[0] : string.Join(", ", items.Take(items.Count - 1)) + " and " + items[^1];

    private static string Format(Comparison c, FeatureScale scale, bool verdict = true) => string.Create(CultureInfo.InvariantCulture,
        $"{(verdict ? c.Verdict + ", " : "")}effect {scale.Number(c.Effect, signed: true)} [{scale.Number(c.EffectLow, signed: true)}, {scale.Number(c.EffectHigh, signed: true)}]{scale.Suffix} at {c.ConfidenceLevel * 100:0} %, {PValueText.Statement(c.PValue)}, {c.Baseline.Count} vs {c.Candidate.Count} trials");
}

/// <summary>
/// Pure statistics of diagnosis by experiment: from the trials' series to <see cref="ExperimentResult"/>s. The effects
/// run nowhere here (see <see cref="Experimenter"/>), so every conclusion can be tested on synthetic series.
/// </summary>
public static class ExperimentAnalysis
{
    /// <summary>Seconds after the trim within which the lowest RSS is taken as "after".</summary>
    public const double AfterTrimSeconds = 1.0;

    /// <summary>Seconds before the trim whose RSS (median) is taken as "before", when samples come at least this often.</summary>
    public const double BeforeTrimSeconds = 0.5;

    /// <summary>The level (bytes) a change must reach to matter: the recipe's min-effect for a level feature, else 1 MiB
    /// (a slope's min-effect is a rate and cannot serve as a level).</summary>
    public static double SignificantBytes(Recipe recipe) =>
        recipe.Decide.Feature != FeatureKind.Slope && recipe.Decide.MinEffect > 0 ? recipe.Decide.MinEffect : 1024 * 1024;

    /// <summary>The series RSS-type figures are read from: rss_anon where heap growth shows, else the deciding metric.</summary>
    public static string RssMetric(IEnumerable<IReadOnlyDictionary<string, TrialSeries>> trials, Recipe recipe) =>
        trials.Any(t => t.ContainsKey(Metrics.RssAnon)) ? Metrics.RssAnon : recipe.Decide.Metric;

    public static ExperimentResult Analyse(
        Experiment experiment, ExperimentTrials trials, IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>> culpritAsBuilt, Recipe recipe, double alpha)
    {
        if (trials.Good.Count + trials.Culprit.Count == 0)
        {
            var why = trials.Failures.Count > 0 ? "every trial failed: " + trials.Failures[0] : "no trial ran";
            return new ExperimentResult(experiment, ExperimentFinding.NotRun, trials.Spent, why, null, null, null, null);
        }

        var all = trials.Good.Concat(trials.Culprit).ToList();
        var caveat = trials.Failures.Count > 0 ? $"{trials.Failures.Count} trial(s) failed: {trials.Failures[0]}" : null;
        if (experiment.Kind == ExperimentKind.Allocator)
        {
            var flags = all.Where(t => t.ContainsKey(Metrics.HeapForeignMalloc)).Select(t => t[Metrics.HeapForeignMalloc].Values.DefaultIfEmpty(0).Max()).ToList();
            if (flags.Count > 0 && flags.All(f => f < 1))
            {
                return new ExperimentResult(experiment, ExperimentFinding.NotRun, trials.Spent,
                    $"{experiment.Library} was preloaded but glibc still served malloc() in every trial (the heapstats shim's record)", null, null, null, caveat);
            }

            if (flags.Count == 0)
                caveat = Append(caveat, "not verified that the allocator served malloc(): the worker sent no heap counters");
            else if (flags.Any(f => f < 1))
                caveat = Append(caveat, $"glibc served malloc() in {flags.Count(f => f < 1)} of {flags.Count} trials");
        }

        if (experiment.Kind == ExperimentKind.TrimProbe)
            return AnalyseTrim(experiment, trials, recipe, alpha, caveat);

        var d = recipe.Decide;
        var warmup = recipe.Sampling.Warmup.TotalSeconds;
        double[] Values(IEnumerable<IReadOnlyDictionary<string, TrialSeries>> side) =>
            side.Where(t => t.ContainsKey(d.Metric)).Select(t => Features.Extract(t[d.Metric], d.Feature, warmup)).ToArray();
        var regression = Comparisons.Compare(Values(trials.Good), Values(trials.Culprit), d.Direction, d.MinEffect, alpha);
        var versusBuilt = Comparisons.Compare(Values(culpritAsBuilt), Values(trials.Culprit), d.Direction, d.MinEffect, alpha);
        return new ExperimentResult(experiment, Finding(regression.Verdict), trials.Spent, null, regression, versusBuilt, null, caveat);
    }

    /// <summary>Whether more trials could still change the answer.</summary>
    public static bool Decided(ExperimentResult result) => result.Finding is ExperimentFinding.GrowthGone or ExperimentFinding.GrowthStays or ExperimentFinding.NotRun;

    /// <summary>Whether the culprit grows over the window more than its good neighbour (by half the significant level),
    /// from the search's trials; false for a level step.</summary>
    public static (bool Growth, double StepBytes) Growth(
        IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>> good, IReadOnlyList<IReadOnlyDictionary<string, TrialSeries>> culprit, Recipe recipe)
    {
        var rss = RssMetric(good.Concat(culprit), recipe);
        var warmup = recipe.Sampling.Warmup.TotalSeconds;
        var g = SideFigures.From(good, rss, warmup);
        var c = SideFigures.From(culprit, rss, warmup);
        if (g is null || c is null)
            return (true, 0);
        var grown = (c.RssSlope - g.RssSlope) * Math.Max(c.WindowSeconds, 1) / 60;
        return (grown >= SignificantBytes(recipe) / 2, c.RssLevel - g.RssLevel);
    }

    /// <summary>One trial's trim: RSS just before the shim's malloc_trim (median of the last half second, or of the last
    /// sample when samples are further apart) minus the lowest RSS in the second after it (at least one sampling interval
    /// and a half); null when the trial has no trim marker. The windows follow the recipe's sampling interval: a 1 s
    /// interval (the journald recipe) has no sample in a fixed half second before the trim.</summary>
    public static (double Before, double Returned)? TrimOf(IReadOnlyDictionary<string, TrialSeries> trial, string rssMetric)
    {
        if (!trial.TryGetValue(Metrics.HeapTrims, out var trims) || !trial.TryGetValue(rssMetric, out var rss))
            return null;
        var at = Enumerable.Range(0, trims.Count).FirstOrDefault(i => trims.Values[i] >= 1, -1);
        if (at < 0)
            return null;
        var t = trims.Seconds[at];
        var interval = rss.Count > 1 ? Robust.Median(Enumerable.Range(1, rss.Count - 1).Select(i => rss.Seconds[i] - rss.Seconds[i - 1]).ToArray()) : 0;
        var beforeSpan = Math.Max(BeforeTrimSeconds, 1.5 * interval);
        var afterSpan = Math.Max(AfterTrimSeconds, 1.5 * interval);
        var before = Enumerable.Range(0, rss.Count).Where(i => rss.Seconds[i] < t && rss.Seconds[i] >= t - beforeSpan).Select(i => rss.Values[i]).ToArray();
        var after = Enumerable.Range(0, rss.Count).Where(i => rss.Seconds[i] >= t && rss.Seconds[i] <= t + afterSpan).Select(i => rss.Values[i]).ToArray();
        if (before.Length == 0 || after.Length == 0)
            return null;
        var level = Robust.Median(before);
        return (level, Math.Max(0, level - after.Min()));
    }

    private static ExperimentResult AnalyseTrim(Experiment experiment, ExperimentTrials trials, Recipe recipe, double alpha, string? caveat)
    {
        var rss = RssMetric(trials.Good.Concat(trials.Culprit), recipe);
        var good = trials.Good.Select(t => TrimOf(t, rss)).OfType<(double Before, double Returned)>().ToList();
        var culprit = trials.Culprit.Select(t => TrimOf(t, rss)).OfType<(double Before, double Returned)>().ToList();
        if (good.Count + culprit.Count == 0)
        {
            return new ExperimentResult(experiment, ExperimentFinding.NotRun, trials.Spent,
                "no trial recorded a trim: the daemon did not load the heapstats shim (a statically linked daemon, or a container worker with host-libs=false)", null, null, null, caveat);
        }

        var threshold = SignificantBytes(recipe);
        var returned = Comparisons.Compare(good.Select(g => g.Returned).ToList(), culprit.Select(c => c.Returned).ToList(),
            RegressionDirection.Increase, threshold, alpha);
        var figures = new TrimFigures(
            good.Count > 0 ? Robust.Median(good.Select(g => g.Returned).ToArray()) : 0,
            culprit.Count > 0 ? Robust.Median(culprit.Select(c => c.Returned).ToArray()) : 0,
            good.Count > 0 && culprit.Count > 0 ? Robust.Median(culprit.Select(c => c.Before).ToArray()) - Robust.Median(good.Select(g => g.Before).ToArray()) : 0);
        return new ExperimentResult(experiment, Finding(returned.Verdict, trim: true), trials.Spent, null, returned, null, figures, caveat);
    }

    // For the trim probe a "regression" of returned bytes means the culprit's extra memory comes back: its growth was free memory.
    private static ExperimentFinding Finding(Verdict verdict, bool trim = false) => verdict switch
    {
        Verdict.Regressed => trim ? ExperimentFinding.GrowthGone : ExperimentFinding.GrowthStays,
        Verdict.Same or Verdict.Improved => trim ? ExperimentFinding.GrowthStays : ExperimentFinding.GrowthGone,
        _ => ExperimentFinding.Undecided,
    };

    private static string Append(string? a, string b) => a is null ? b : a + "; " + b;
}
