using System.Globalization;
using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Diagnosis;

/// <summary>
/// A run's revert proof as the report, the terminal and <c>--json</c> show it: what was reverted onto what, how git and
/// the build took it, and — when it was measured — where the reverted build sits between the good and the bad end.
/// Its prose is derived when shown.
/// </summary>
/// <param name="Detail">git's message (conflict) or the build's failure; null when it built.</param>
/// <param name="TrialsSpent">Trials of the reverted build, failed ones included.</param>
/// <param name="BuildSeconds">The reverted build's duration (0 when it came from the cache).</param>
/// <param name="TrialSeconds">From the first revert trial's start to the last one's end.</param>
public sealed record RevertReport(
    Commit Culprit,
    Commit Base,
    string Command,
    RevertStatus Status,
    IReadOnlyList<string> Conflicts,
    string? Detail,
    RevertEstimate? Estimate,
    int TrialsSpent,
    int FailedTrials,
    double BuildSeconds,
    double TrialSeconds,
    RegressionDirection Direction,
    FeatureScale Scale)
{
    /// <summary>One line: "reverting 2ac67221bb alone removes 98 % of the regression (…)", or why it could not be measured.
    /// The tool's words only: git's text (conflicting paths, its message, the build's error) is in <see cref="GitText"/>,
    /// which every channel shows as it is.</summary>
    public string Headline
    {
        get
        {
            var who = Culprit.ShortSha;
            var change = RevertAnalysis.ChangeWord(Direction);
            if (Status == RevertStatus.Conflict)
            {
                return Conflicts.Count > 0
                    ? $"reverting {who} does not apply cleanly to the bad end {Base.ShortSha}: conflicts in {Conflicts.Count} file(s) — not measured"
                    : $"reverting {who} does not apply to the bad end {Base.ShortSha} — not measured";
            }

            if (Status == RevertStatus.BuildFailed)
                return $"the bad end {Base.ShortSha} with {who} reverted does not build — not measured";
            if (Estimate is not { } e)
            {
                return FailedTrials > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"the bad end with {who} reverted was built, but none of its {TrialsSpent} trial(s) succeeded — not measured")
                    : $"the bad end with {who} reverted was built but not measured";
            }

            var evidence = string.Create(CultureInfo.InvariantCulture,
                $"{Scale.Format(e.VersusBad, signed: true)} vs the bad end [{Scale.Number(e.VersusBadLow, signed: true)}, {Scale.Number(e.VersusBadHigh, signed: true)}] at {e.ConfidenceLevel:0%}, " +
                $"e-value {EValueText.Value(e.EValueBad)}; {e.RevertTrials} trial(s)");
            return e.Finding switch
            {
                RevertFinding.Removes when e.DiffersFromGood && !e.RestMatters => $"reverting {who} alone removes {e.SharePercent} {e.ShareInterval} of the {change}; " +
                    $"the {Scale.Format(e.VersusGood, signed: true)} it leaves against the good end is below half the min-effect ({evidence})",
                RevertFinding.Removes => $"reverting {who} alone removes {e.SharePercent} {e.ShareInterval} of the {change} ({evidence})",
                RevertFinding.RemovesPart => $"reverting {who} alone removes {e.SharePercent} {e.ShareInterval} of the {change}; the rest stays " +
                    $"(the reverted build differs from the good end too, e-value {EValueText.Value(e.EValueGood)}; {evidence})",
                RevertFinding.RemovesNone => $"reverting {who} alone does not remove the {change}: {e.SharePercent} {e.ShareInterval} " +
                    $"(the reverted build differs from the good end, e-value {EValueText.Value(e.EValueGood)}; {evidence})",
                _ => $"reverting {who} alone: undecided, {e.SharePercent} {e.ShareInterval} of the {change} ({evidence})",
            };
        }
    }

    /// <summary>What git or the build said when the revert could not be measured (the conflicting paths, git's message,
    /// the build's error); null when it was measured.</summary>
    public string? GitText => Status switch
    {
        RevertStatus.Conflict => Conflicts.Count > 0 ? "conflicts in " + string.Join(", ", Conflicts) : Detail,
        RevertStatus.BuildFailed => Detail,
        _ => null,
    };
}

/// <summary>
/// The revert proof: after a culprit is named, builds the bad end with the culprit reverted (<see cref="Builder.BuildRevertAsync"/>),
/// runs it on the run's workers — trials stored as ordinary trials of the run under their own variant, through the
/// same trial machinery as diagnosis by experiment — and compares it with the search's own trials of the good and the
/// bad end. Trials are sized by the evidence: a first look of <see cref="SearchEngine.FirstLook"/> trials (or one a
/// worker), then one a worker per look, until an e-value decides where the reverted build sits (and the share's
/// interval is bounded) or the recipe's cap per commit is reached.
/// </summary>
public static class RevertProof
{
    /// <summary>The variant the revert's trials are stored under.</summary>
    public static string Variant(Commit culprit) => "revert:" + culprit.Sha[..Math.Min(12, culprit.Sha.Length)];

    public static async Task<RevertReport?> RunAsync(
        ResultsStore store, string runId, string repositoryPath, string cacheRoot, Recipe recipe, CommitLine positions, SearchOutcome? outcome,
        IReadOnlyList<string> workerSpecs, string workRoot, double alpha, Action<string> log, CancellationToken ct = default)
    {
        if (outcome is not { Status: SearchStatus.Found, Culprit: { } c })
            return null;
        var (culprit, onto) = (positions[c], positions[positions.CandidateCount]);
        var variant = Variant(culprit);
        var key = Builder.RevertKey(culprit, onto);
        log($"revert proof: building {onto.ShortSha} (bad end) with {culprit.ShortSha} reverted");
        var builder = new Builder(repositoryPath, recipe, cacheRoot, Path.Combine(workRoot, "b"));
        await store.AddInFlightAsync(runId, "build", [key], ct);
        RevertBuild built;
        try
        {
            built = await builder.BuildRevertAsync(onto, culprit, ct);
        }
        catch (IOException e)
        {
            throw new StorageException($"cannot build the revert of {culprit.ShortSha} into the artifact cache: {e.Message}",
                "Free space in the results folder (or move it with --results), then 'bisector revert' runs it again", e);
        }

        await store.AddBuildAsync(runId, built.Build, recipe.Hash, ct);
        await store.RemoveInFlightAsync(runId, "build", key, ct);
        var status = built.Build.Succeeded ? RevertStatus.Built
            : built.Applied is { Clean: false } ? RevertStatus.Conflict
            : RevertStatus.BuildFailed;
        var detail = status switch
        {
            RevertStatus.Conflict => built.Applied!.Message,
            RevertStatus.BuildFailed => LastLine(built.Build.Log),
            _ => null,
        };
        await store.SaveRevertAsync(new RevertRow(runId, variant, culprit.Sha, onto.Sha, built.Applied?.Command ?? GitRevert.CommandLine(culprit), status,
            string.Join('\n', built.Applied?.Conflicts ?? []), detail, key, ResultsStore.Iso(DateTimeOffset.UtcNow)), ct);
        log($"  {status}{(detail is null ? "" : ": " + detail.Split('\n')[0])} in {built.Build.Duration.TotalSeconds:0.0}s");
        if (status == RevertStatus.Built)
            await MeasureAsync(store, runId, recipe, positions, c, onto, built.Build.Artifact!, variant, workerSpecs, Path.Combine(workRoot, "t"), alpha, log, ct);

        var report = await LoadAsync(store, runId, recipe, positions, outcome, alpha, ct);
        if (report is not null)
            log($"revert proof: {report.Headline}");
        return report;
    }

    private static async Task MeasureAsync(
        ResultsStore store, string runId, Recipe recipe, CommitLine positions, int culpritPosition, Commit onto, Artifact artifact, string variant,
        IReadOnlyList<string> workerSpecs, string workerRoot, double alpha, Action<string> log, CancellationToken ct)
    {
        var (good, bad) = await EndsAsync(store, runId, recipe, positions, ct);
        var workers = WorkerSpecs.Parse(workerSpecs, workerRoot);
        var pool = new TrialScheduler(workers);
        try
        {
            while (true)
            {
                var stored = await store.GetVariantTrialsAsync(runId, variant, ct);
                var ok = stored.Count(t => t.Outcome == TrialOutcome.Ok);
                var estimate = RevertAnalysis.Estimate(good, bad, await FeaturesAsync(store, stored, recipe, ct), alpha, recipe.Decide.MinEffect);
                if (estimate is { Decided: true } || ok >= recipe.Trials.Max || stored.Count - ok >= recipe.Trials.Max)
                    break;
                // A build whose every trial failed will not start working with more trials of the same kind.
                if (stored.Count > 0 && ok == 0)
                    break;
                var want = Math.Min(recipe.Trials.Max - ok, ok == 0 ? Math.Max(SearchEngine.FirstLook, pool.Active.Count) : Math.Max(1, pool.Active.Count));
                var next = stored.Count == 0 ? 0 : (int)stored.Max(t => t.TrialIndex) + 1;
                var specs = Enumerable.Range(next, want)
                    .Select(i => new TrialSpec(onto, artifact, recipe, i, $"{runId}-revert-{positions[culpritPosition].ShortSha}-{i}")).ToList();
                await Experimenter.RunTrialsAsync(store, runId, variant, specs, positions, pool, log, ct);
            }
        }
        finally
        {
            foreach (var worker in workers)
                await worker.DisposeAsync();
        }
    }

    /// <summary>The stored revert proof of the run's named culprit, measured against the search's ends; null when the
    /// run named no single culprit or none was made.</summary>
    public static async Task<RevertReport?> LoadAsync(
        ResultsStore store, string runId, Recipe recipe, CommitLine positions, SearchOutcome? outcome, double alpha, CancellationToken ct = default)
    {
        if (outcome is not { Status: SearchStatus.Found, Culprit: { } c })
            return null;
        var (culprit, onto) = (positions[c], positions[positions.CandidateCount]);
        var row = (await store.GetRevertsAsync(runId, ct)).LastOrDefault(r => r.CulpritSha == culprit.Sha && r.BaseSha == onto.Sha);
        if (row is null)
            return null;
        var trials = await store.GetVariantTrialsAsync(runId, row.Variant, ct);
        RevertEstimate? estimate = null;
        if (trials.Any(t => t.Outcome == TrialOutcome.Ok))
        {
            var (good, bad) = await EndsAsync(store, runId, recipe, positions, ct);
            estimate = RevertAnalysis.Estimate(good, bad, await FeaturesAsync(store, trials, recipe, ct), alpha, recipe.Decide.MinEffect);
        }

        var build = (await store.GetBuildsAsync(runId, ct)).LastOrDefault(b => b.Sha == row.BuildKey);
        var trialSeconds = trials.Count == 0 ? 0
            : (trials.Max(t => DateTimeOffset.Parse(t.EndedAt, CultureInfo.InvariantCulture)) - trials.Min(t => DateTimeOffset.Parse(t.StartedAt, CultureInfo.InvariantCulture))).TotalSeconds;
        return new RevertReport(culprit, onto, row.Command, row.Status,
            row.Conflicts.Split('\n', StringSplitOptions.RemoveEmptyEntries), row.Detail, estimate, trials.Count,
            trials.Count(t => t.Outcome != TrialOutcome.Ok), (build?.DurationMs ?? 0) / 1000.0, trialSeconds,
            recipe.Decide.Direction, FeatureScale.For(recipe.Decide.Metric, recipe.Decide.Feature));
    }

    /// <summary>The deciding feature of the search's Ok trials of the good end (position 0) and the bad end.</summary>
    private static async Task<(IReadOnlyList<double> Good, IReadOnlyList<double> Bad)> EndsAsync(
        ResultsStore store, string runId, Recipe recipe, CommitLine positions, CancellationToken ct)
    {
        var search = await store.GetTrialsAsync(runId, ct);
        return (await FeaturesAsync(store, search.Where(t => t.Position == 0).ToList(), recipe, ct),
            await FeaturesAsync(store, search.Where(t => t.Position == positions.CandidateCount).ToList(), recipe, ct));
    }

    private static async Task<IReadOnlyList<double>> FeaturesAsync(ResultsStore store, IReadOnlyList<TrialRow> trials, Recipe recipe, CancellationToken ct)
    {
        var d = recipe.Decide;
        var values = new List<double>();
        foreach (var trial in trials.Where(t => t.Outcome == TrialOutcome.Ok))
        {
            var samples = await store.GetSamplesAsync(trial.Id, d.Metric, ct);
            if (samples.Count > 0)
                values.Add(Features.Extract(new TrialSeries(samples.Select(s => s.Seconds).ToList(), samples.Select(s => s.Value).ToList()), d.Feature, recipe.Sampling.Warmup.TotalSeconds));
        }

        return values;
    }

    private static string? LastLine(string log) =>
        log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
}
