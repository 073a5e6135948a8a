using System.Globalization;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Diagnosis;

/// <summary>
/// After a search names a culprit: reads the stored trials of the culprit and of the last good commit before it,
/// classifies the effect (<see cref="MemoryDiagnosis"/>), adds the culprit's diff and stores it for the report.
/// Uses only trials the search already ran, so it costs no extra measurement.
/// </summary>
public static class Diagnoser
{
    public static async Task<DiagnosisRow?> DiagnoseAsync(
        ResultsStore store, string runId, Recipe recipe, CommitLine positions, SearchOutcome outcome,
        string repositoryPath, IReadOnlyList<string> paths, bool profile, Action<string> log, CancellationToken ct = default,
        string? keptProfile = null)
    {
        if (outcome is not { Status: SearchStatus.Found, Culprit: { } culprit })
            return null;

        var trials = (await store.GetTrialsAsync(runId, ct)).Where(t => t.Outcome == TrialOutcome.Ok).ToList();
        var good = GoodNeighbour(trials, culprit);
        if (good < 0)
            return null;

        var goodFigures = await FiguresAsync(store, trials.Where(t => t.Position == good), recipe, ct);
        // A culprit whose build was identical to a commit measured before it has its trials there.
        var badFigures = await FiguresAsync(store, trials.Where(t => t.Position == outcome.MeasuredAs(culprit)), recipe, ct);
        if (goodFigures is null || badFigures is null)
            return null;

        // A plateau/peak/mean decision states in bytes what the user calls a real change; a slope's min-effect is a
        // rate, so it cannot serve as a level threshold and the default applies to levels. It does say which growth
        // matters: half of it (where the verdict's indifference zone ends) over the window.
        var significant = ExperimentAnalysis.SignificantBytes(recipe);
        double? significantGrowth = recipe.Decide.Feature == FeatureKind.Slope && recipe.Decide.MinEffect > 0
            ? recipe.Decide.MinEffect / 2 * Math.Max(badFigures.WindowSeconds, 1) / 60
            : null;
        var diagnosis = MemoryDiagnosis.Classify(goodFigures, badFigures, significant, significantGrowth, recipe.Decide.Direction);
        // Without a new profile, one made earlier for the same boundary (keptProfile) stays with the diagnosis.
        var profileText = keptProfile;
        if (profile)
        {
            var builds = await store.GetBuildsAsync(runId, ct);
            var goodDir = builds.LastOrDefault(b => b.Sha == positions[good].Sha && b.ArtifactDir is not null)?.ArtifactDir;
            var badDir = builds.LastOrDefault(b => b.Sha == positions[culprit].Sha && b.ArtifactDir is not null)?.ArtifactDir;
            profileText = !BoundaryProfiler.Available ? "(not profiled: heaptrack is not installed; apt-get install heaptrack)"
                : goodDir is null || badDir is null ? "(not profiled: the boundary builds are not in the cache)"
                : await BoundaryProfiler.CompareAsync(recipe, goodDir, badDir, log, ct);
        }

        var row = new DiagnosisRow(
            runId,
            positions[good].Sha,
            positions[culprit].Sha,
            diagnosis.Kind,
            diagnosis.Headline,
            string.Join('\n', diagnosis.Details),
            await DiffAsync(repositoryPath, positions[culprit].Sha, paths, ct),
            profileText,
            ResultsStore.Iso(DateTimeOffset.UtcNow));
        await store.SaveDiagnosisAsync(row, ct);
        return row;
    }

    /// <summary>The text the report shows under "Diagnosis": the one line, the figures, then the change itself.</summary>
    /// <param name="terms">The run's words; the stored headline and figures are ours and put into them, the profile
    /// and the diff are shown as they are.</param>
    public static string Describe(DiagnosisRow row, Reporting.Terms? terms = null)
    {
        var words = terms ?? Reporting.Terms.Regression;
        var text = new System.Text.StringBuilder();
        text.Append(words.Speak(row.Headline)).Append("\n\n");
        text.Append(string.Create(CultureInfo.InvariantCulture, $"last {words.Old} {row.GoodSha[..12]} vs {words.Answer} {row.CulpritSha[..12]}:\n"));
        foreach (var line in row.Details.Split('\n'))
            text.Append("  ").Append(words.Speak(line)).Append('\n');
        if (!string.IsNullOrWhiteSpace(row.Profile))
            text.Append("\nBoundary profile (allocation sites that changed most):\n").Append(row.Profile).Append('\n');
        if (!string.IsNullOrWhiteSpace(row.Diff))
            text.Append($"\nThe change ({words.Answer} diff limited to the run's paths):\n").Append(row.Diff).Append('\n');
        return text.ToString().TrimEnd('\n');
    }

    // The run's verdict stands without the diff; a repository moved or pruned since the run only loses this part.
    private static async Task<string> DiffAsync(string repositoryPath, string sha, IReadOnlyList<string> paths, CancellationToken ct)
    {
        try
        {
            return await CulpritDiff.RenderAsync(repositoryPath, sha, paths, ct: ct);
        }
        catch (GitSelectionException e)
        {
            return $"(diff unavailable: {e.Message}; run git show {sha[..12]} in {repositoryPath})";
        }
    }

    /// <summary>The last commit before the culprit with an Ok trial of the search (its good neighbour), or −1.</summary>
    public static int GoodNeighbour(IEnumerable<TrialRow> trials, int culprit) =>
        trials.Where(t => t.Position < culprit && t.Outcome == TrialOutcome.Ok).Select(t => (int)t.Position).DefaultIfEmpty(-1).Max();

    private static async Task<SideFigures?> FiguresAsync(ResultsStore store, IEnumerable<TrialRow> trials, Recipe recipe, CancellationToken ct)
    {
        var series = await Experimenter.SeriesAsync(store, trials, ct);
        return SideFigures.From(series, ExperimentAnalysis.RssMetric(series, recipe), recipe.Sampling.Warmup.TotalSeconds);
    }
}
