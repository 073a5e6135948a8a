using System.Globalization;
using System.Text.Json;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Tests.Storage;

/// <summary>
/// A run written into a real SQLite results database the way <see cref="RunEngine"/> writes one — run row with its
/// recipe and options as JSON, positions, trials with every sample — from series a test generates, so commands that
/// read stored runs (status, report, diagnosis) are tested on stored trials without builds.
/// </summary>
internal sealed class StoredRun
{
    private StoredRun(ResultsStore store, string id, CommitLine positions)
    {
        Store = store;
        Id = id;
        Positions = positions;
    }

    public ResultsStore Store { get; }

    public string Id { get; }

    public CommitLine Positions { get; }

    /// <summary>The positions as the run's commit line (0 = good end).</summary>
    public CommitLine Line => Positions;

    /// <summary>A recipe whose decision is as given, parsed by the real loader.</summary>
    public static Recipe Recipe(string decide, string sampling = "") =>
        RecipeLoader.Parse($"""
            name: stored
            build:
              steps: ["true"]
              artifacts: [a]
            run:
              command: exec sleep 1
            {sampling}
            decide:
            {decide}
            """, "stored.yaml", Path.GetTempPath());

    /// <param name="terms">The run's words (a <c>--find-fix</c> run's); a regression in git's default words when null.</param>
    /// <param name="commits">The run's positions (0 = good end) when they are real commits (builds of them are stored);
    /// made-up commits when null.</param>
    public static async Task<StoredRun> CreateAsync(ResultsStore store, Recipe recipe, int candidates, double alpha = 0.01, RunStatus status = RunStatus.Running,
        Bisector.Reporting.Terms? terms = null, IReadOnlyList<Commit>? commits = null)
    {
        var id = "20261130-120000-" + Guid.NewGuid().ToString("N")[..4];
        var positions = commits?.ToList() ?? Enumerable.Range(0, candidates + 1)
            .Select(p => new Commit(Sha(p), p == 0 ? "good end" : $"change {p}", "Test", new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddHours(p), p == 0 ? [] : [Sha(p - 1)]))
            .ToList();
        var options = new RunOptions("/nonexistent/repo", "a..b", ["src"], "stored.yaml", ["local:1"], SearchStrategy.Bisect, 0.95, alpha,
            null, null, null, null, "/nonexistent/results", false, false, "bisector start a..b")
        { Terms = terms ?? Bisector.Reporting.Terms.Regression };
        await store.CreateRunAsync(
            new RunRow(id, ResultsStore.Iso(DateTimeOffset.UtcNow), null, status, options.RepositoryPath, options.Range, "[\"src\"]", recipe.Name, recipe.Hash,
                "stored.yaml", "name: stored", JsonSerializer.Serialize(recipe, RunEngine.Json), JsonSerializer.Serialize(options, RunEngine.Json),
                options.CommandLine, "test", "{}", null, null),
            positions.Select((c, p) => new CommitRow(p, c.Sha, c.Subject, c.Author, ResultsStore.Iso(c.AuthoredAt), string.Join(' ', c.Parents))).ToList());
        return new StoredRun(store, id, CommitLine.InOrder(positions));
    }

    /// <summary>Stores one Ok trial of <paramref name="position"/> with every sample of <paramref name="series"/>.</summary>
    public async Task AddTrialAsync(int position, int index, IReadOnlyDictionary<string, TrialSeries> series)
    {
        var samples = series.SelectMany(kv => kv.Value.Seconds.Select((s, i) => new Sample(s, kv.Key, kv.Value.Values[i]))).ToList();
        await Store.AddTrialAsync(Id, new NewTrial(position, Positions[position].Sha, index, 1, "local-1", "host", TrialOutcome.Ok, null,
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, samples));
    }

    /// <summary>rss_anon at 10 Hz for 8 s at a flat level (the plateau feature is that level), a few KiB of per-trial noise.</summary>
    public static Dictionary<string, TrialSeries> Flat(double mib, int trial)
    {
        var t = Enumerable.Range(0, 80).Select(i => i / 10.0).ToList();
        return new Dictionary<string, TrialSeries> { [Metrics.RssAnon] = new(t, t.Select(_ => mib * 1024 * 1024 + 4096 * ((trial * 7) % 5)).ToList()) };
    }

    private static string Sha(int position) =>
        Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(BitConverter.GetBytes(position))).ToLower(CultureInfo.InvariantCulture);
}
