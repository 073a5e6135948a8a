using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Reporting;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Tests.Reporting;

/// <summary>
/// Builds a realistic report model without running a bisection: 10 candidates after a good anchor, the culprit at
/// position 6 (heap fragmentation: rss_anon climbs ~2 MiB/min instead of staying flat), one commit that does not
/// build, one trial killed by OOM, and a commit whose subject and author are hostile HTML. The series are generated
/// from a seeded random walk; features, comparisons and the posterior are computed from them here, not typed in.
/// </summary>
internal static class SyntheticRun
{
    public const int Culprit = 6;
    public const int Skipped = 3;
    public const int Hostile = 7;
    public const string HostileSubject = "<script>alert('pwned')</script>\nsecond line | with *pipes* & [links](http://evil.example)";
    public const string HostileAuthor = "Eve \"<img src=x onerror=alert(1)>\" <eve@evil.example>";
    private const double MiB = 1024 * 1024;

    public static ReportModel Build(SearchStatus status = SearchStatus.Found, bool interrupted = false)
    {
        var rng = new Random(248);
        var commits = Enumerable.Range(0, 11).Select(MakeCommit).ToList();

        // The search path of a typical run: anchors, then halving towards the change, then more trials at the boundary.
        var rounds = new List<SearchRound>
        {
            new(1, [0, 10], "measure both ends"),
            new(2, [5], "bisect 1..10"),
            new(3, [8], "bisect 6..10"),
            new(4, [6, 7], "bisect 6..8"),
            new(5, [5, 6], "more trials at the boundary"),
        };
        if (interrupted)
            rounds = rounds.Take(3).ToList();

        var trialsByPosition = new Dictionary<int, List<TrialReport>>();
        foreach (var round in rounds)
            foreach (var pos in round.Positions)
            {
                var list = trialsByPosition.TryGetValue(pos, out var l) ? l : trialsByPosition[pos] = [];
                for (var k = 0; k < 3; k++)
                    list.Add(MakeTrial(rng, pos, list.Count, round.Number));
            }

        // One OOM trial at the bad end: shows up in "failed trials" and does not count as evidence.
        trialsByPosition[10].Add(new TrialReport(trialsByPosition[10].Count, "local-2", "bench-host", TrialOutcome.OutOfMemory,
            "daemon killed by the cgroup OOM killer at 96 MiB", 1, new Dictionary<string, TrialSeries>()));

        var features = trialsByPosition.ToDictionary(kv => kv.Key,
            kv => (IReadOnlyList<double>)kv.Value.Where(t => t.Outcome == TrialOutcome.Ok)
                .Select(t => SlopePerMinute(t.Series[Metrics.RssAnon])).ToList());
        var good = features[0];
        var versusGood = features.Where(kv => kv.Key != 0).ToDictionary(kv => kv.Key, kv => Compare(good, kv.Value));

        var reports = commits.Select((c, pos) => new CommitReport(
            pos,
            c,
            pos == Skipped ? BuildStatus.Failed : trialsByPosition.ContainsKey(pos) ? BuildStatus.Built : null,
            pos == Skipped ? "journal-file.c:1234:5: error: implicit declaration of function 'memfd_create'\n</pre><script>alert(2)</script>\nmake: *** [Makefile:12: all] Error 1" : null,
            trialsByPosition.TryGetValue(pos, out var ts) ? ts : [],
            features.TryGetValue(pos, out var f) ? f : [],
            versusGood.GetValueOrDefault(pos))).ToList();

        var posterior = Posterior(features, 10);
        var outcome = interrupted ? null : new SearchOutcome(
            status,
            status == SearchStatus.Found ? Culprit : null,
            status == SearchStatus.FoundRange ? 3 : Culprit,
            status == SearchStatus.FoundRange ? Culprit : Culprit,
            posterior.Max(),
            Compare(features[Culprit - 1], features[Culprit]),
            posterior,
            versusGood,
            rounds,
            trialsByPosition.Values.Sum(l => l.Count),
            false,
            $"{status} after {rounds.Count} rounds");

        var started = new DateTimeOffset(2021, 3, 30, 9, 0, 0, TimeSpan.Zero);
        var run = new RunInfo(
            "run-20210330-0900",
            "0.1.0",
            "v247..v248",
            ["src/journal", "src/basic/fileio.c"],
            "journald-memory",
            "sha256:3f1c0ad5",
            "recipes/journald.yaml",
            ["cherry-picked 'meson: fix build with newer glibc' for commits before 1a2b3c"],
            [new WorkerInfo("local-1", WorkerKind.Local, "bench-host"), new WorkerInfo("local-2", WorkerKind.Local, "bench-host")],
            "bisect-adaptive",
            0.95,
            started,
            interrupted ? null : started.AddMinutes(94),
            TimeSpan.FromMinutes(interrupted ? 37 : 94),
            interrupted ? RunStatus.Interrupted : RunStatus.Finished,
            "bisector run --repo ~/src/systemd --good v247 --bad v248 --paths src/journal --recipe recipes/journald.yaml",
            new HostInfo("bench-host", "Debian GNU/Linux 12", "6.1.0-18-amd64", 2, 24L << 30, ".NET 10.0"));

        return new ReportModel(run, new DecisionInfo(Metrics.RssAnon, FeatureKind.Slope, RegressionDirection.Increase, 0.5 * MiB),
            reports, outcome, interrupted ? null : "read_full_virtual_file() allocates 4 MiB and realloc()-shrinks it;\nthe freed tail fragments the heap.");
    }

    private static Commit MakeCommit(int pos)
    {
        var sha = Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(BitConverter.GetBytes(pos))).ToLowerInvariant();
        var subject = pos switch
        {
            Culprit => "fileio: read_full_virtual_file() allocates 4 MiB then shrinks",
            Hostile => HostileSubject,
            0 => "v247",
            _ => $"journald: refactor part {pos}",
        };
        return new Commit(sha, subject, pos == Hostile ? HostileAuthor : "Lennart Example", new DateTimeOffset(2021, 1, pos + 1, 12, 0, 0, TimeSpan.Zero), []);
    }

    /// <summary>10 minutes at 5 s: start near 17 MiB, allocator noise, and a steady climb on the bad side.</summary>
    private static TrialReport MakeTrial(Random rng, int pos, int index, int round)
    {
        var slopePerSecond = pos >= Culprit ? (2.0 + 0.2 * rng.NextDouble()) * MiB / 60 : 0.02 * rng.NextDouble() * MiB / 60;
        var seconds = new List<double>();
        var anon = new List<double>();
        var rss = new List<double>();
        var level = (15 + rng.NextDouble()) * MiB;
        for (var t = 0.0; t <= 600; t += 5)
        {
            level += slopePerSecond * 5 + (rng.NextDouble() - 0.5) * 0.15 * MiB;
            seconds.Add(t);
            anon.Add(level);
            rss.Add(level + 2 * MiB);
        }

        var series = new Dictionary<string, TrialSeries>
        {
            [Metrics.RssAnon] = new(seconds, anon),
            [Metrics.VmRss] = new(seconds, rss),
        };
        return new TrialReport(index, index % 2 == 0 ? "local-1" : "local-2", "bench-host", TrialOutcome.Ok, null, round, series);
    }

    /// <summary>Least-squares slope in bytes per minute.</summary>
    internal static double SlopePerMinute(TrialSeries s)
    {
        var mx = s.Seconds.Average();
        var my = s.Values.Average();
        var num = s.Seconds.Zip(s.Values).Sum(p => (p.First - mx) * (p.Second - my));
        var den = s.Seconds.Sum(x => (x - mx) * (x - mx));
        return num / den * 60;
    }

    /// <summary>Exact two-sided permutation test on the difference of means, with the shift interval from the pairwise
    /// differences; small but real, so the numbers the report shows come from the data.</summary>
    private static Comparison Compare(IReadOnlyList<double> baseline, IReadOnlyList<double> candidate)
    {
        var all = baseline.Concat(candidate).ToArray();
        var observed = Math.Abs(candidate.Average() - baseline.Average());
        int extreme = 0, total = 0;
        foreach (var pick in Combinations(all.Length, candidate.Count))
        {
            var set = pick.ToHashSet();
            var a = all.Where((_, i) => set.Contains(i)).Average();
            var b = all.Where((_, i) => !set.Contains(i)).Average();
            total++;
            if (Math.Abs(a - b) >= observed - 1e-9)
                extreme++;
        }

        var p = (double)extreme / total;
        var diffs = candidate.SelectMany(c => baseline.Select(b => c - b)).Order().ToArray();
        var effect = diffs[diffs.Length / 2];
        // α = 0.1 because three trials a side cannot reach a smaller exact permutation p-value.
        var threshold = 0.5 * MiB;
        var verdict = p > 0.1 || Math.Abs(effect) < threshold ? Verdict.Same : effect > 0 ? Verdict.Regressed : Verdict.Improved;
        return new Comparison(verdict, "permutation test", p, 0.1, effect, diffs[0], diffs[^1], 0.95, threshold,
            baseline, candidate, $"{verdict}: p = {p:0.000}");
    }

    private static IEnumerable<int[]> Combinations(int n, int k)
    {
        var idx = Enumerable.Range(0, k).ToArray();
        while (true)
        {
            yield return (int[])idx.Clone();
            var i = k - 1;
            while (i >= 0 && idx[i] == n - k + i)
                i--;
            if (i < 0)
                yield break;
            idx[i]++;
            for (var j = i + 1; j < k; j++)
                idx[j] = idx[j - 1] + 1;
        }
    }

    /// <summary>Posterior over the candidates 1..n of a single step change, from a Gaussian step model on the measured features.</summary>
    private static IReadOnlyList<double> Posterior(IReadOnlyDictionary<int, IReadOnlyList<double>> features, int n)
    {
        var lo = features[0].Average();
        var hi = features[n].Average();
        var sigma = Math.Max(0.05 * MiB, features.Values.SelectMany(v => v.Select(x => x - v.Average())).Select(Math.Abs).DefaultIfEmpty(0).Average() * 2);
        var logL = new double[n + 1];
        for (var k = 0; k <= n; k++)
        {
            if (k == 0)
            {
                logL[k] = double.NegativeInfinity;
                continue;
            }

            logL[k] = features.Sum(kv => kv.Value.Sum(x => -Math.Pow(x - (kv.Key >= k ? hi : lo), 2) / (2 * sigma * sigma)));
        }

        var max = logL.Max();
        var w = logL.Select(l => double.IsNegativeInfinity(l) ? 0 : Math.Exp(l - max)).ToArray();
        var sum = w.Sum();
        // Per candidate, as the search reports it: index i is position i + 1 (the anchor cannot be the culprit).
        return w.Skip(1).Select(x => x / sum).ToList();
    }
}
