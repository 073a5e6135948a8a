using Bisector.Building;
using Bisector.Git;
using Bisector.Recipes;
using Bisector.Search;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Runs;

/// <summary>
/// The effects behind the search's <see cref="MeasureAsync"/>: one round = record the round, build what is asked for,
/// plan the trials (<see cref="RoundPlan"/>), run them across the workers, store each as it ends and hand its series
/// to the search from memory (<see cref="TrialLedger"/>). The database is the record of the run, not the channel:
/// nothing is read back from it between rounds.
/// </summary>
/// <param name="buildAhead">While a round's trials run, build the commits the search may want next (see <see cref="Builds"/>).</param>
internal sealed class Measurer(
    ResultsStore store, string runId, Recipe recipe, CommitLine line, Builds builds, TrialLedger ledger, TrialScheduler pool,
    Action<string> log, Reporting.RunProgress? progress, bool buildAhead = false)
{
    private readonly TrialWants _wanted = new();
    private readonly BuildTwins _twins = new();
    private readonly HashSet<int> _told = [];
    private int _round;

    public Task<IReadOnlyList<PositionEvidence>> MeasureAsync(IReadOnlyList<MeasureRequest> requests, CancellationToken ct) =>
        RoundAsync(requests, "+", _wanted.After, ct);

    /// <summary>The scan's callback (<see cref="EnsureTrialsAsync"/>): at least this many Ok trials per position. A
    /// position that already holds them is handed over as it is, without a round; only missing trials are run.</summary>
    public async Task<IReadOnlyList<PositionEvidence>> EnsureAsync(IReadOnlyList<TrialTarget> targets, CancellationToken ct)
    {
        if (targets.All(t => ledger.OkCount(t.Position) >= t.Trials))
        {
            return _wanted.Handed(targets.Select(t => ledger.Evidence(t.Position)).ToList());
        }

        return await RoundAsync(targets.Select(t => new MeasureRequest(t.Position, t.Trials)).ToList(), "≥",
            (position, trials) => Math.Max(_wanted.Of(position), trials), ct);
    }

    /// <summary>Ok trials of a position so far.</summary>
    public int OkTrials(int position) => ledger.OkCount(position);

    /// <summary>Stops building ahead (before anything else uses the builder, and before the run's build folder goes).</summary>
    public Task StopBuildingAheadAsync() => builds.StopAsync();

    /// <param name="mark">How the round's record writes a request's number: "+" more trials, "≥" a total.</param>
    /// <param name="wanted">The position's wanted total after this request, from the request's number of trials.</param>
    private async Task<IReadOnlyList<PositionEvidence>> RoundAsync(
        IReadOnlyList<MeasureRequest> requests, string mark, Func<int, int, int> wanted, CancellationToken ct)
    {
        _round++;
        await store.AddRoundAsync(runId, _round, requests.Select(r => r.Position).ToList(),
            string.Join(", ", requests.Select(r => $"{line[r.Position].ShortSha}{mark}{r.AdditionalTrials}")), ct);

        var built = new List<(MeasureRequest Request, string? Fingerprint)>();
        var unbuildable = new HashSet<int>();
        foreach (var request in requests)
        {
            var build = await builds.EnsureAsync(line[request.Position], ct);
            if (!build.Succeeded)
            {
                unbuildable.Add(request.Position);
                continue;
            }

            built.Add((request, build.Artifact!.Fingerprint));
        }

        var routing = _twins.Route(built);
        foreach (var (position, twin) in routing.SameBuildAs.Where(kv => _told.Add(kv.Key)))
        {
            log($"  {line[position].ShortSha}: build identical to {line[twin].ShortSha}'s (code and data), whose trials stand for both");
        }

        var planned = new List<RoundPlan.Item>();
        foreach (var request in routing.Run)
        {
            var position = request.Position;
            // A wanted total, not a count of new trials: trials stored before a resume, and the extra ones that filled
            // idle workers in an earlier round, count towards it.
            planned.Add(new RoundPlan.Item(position, (await builds.EnsureAsync(line[position], ct)).Artifact!, ledger.NextIndex(position),
                _wanted.Missing(position, wanted(position, request.AdditionalTrials), ledger.OkCount(position))));
        }

        var specs = RoundPlan.Specs(planned, pool.Active.Count, line, recipe, runId);
        if (buildAhead && specs.Count > 0)
        {
            var round = specs.Select(t => line.PositionOf(t.Commit.Sha)).Distinct().ToList();
            // Commits already built (unbuildable ones too) are skipped by Builds itself.
            builds.BuildAhead(BuildAheadPlan.Positions(ledger.Positions, round).Select(p => line[p]));
        }

        if (specs.Count > 0)
        {
            await RunRoundAsync(specs, ct);
        }

        // A commit whose daemon never completes a trial cannot be measured: treat it like an unbuildable one.
        return _wanted.Handed(routing.Answer(requests, p => unbuildable.Contains(p) ? new PositionEvidence(p, true, []) : ledger.Evidence(p)));
    }

    private async Task RunRoundAsync(IReadOnlyList<TrialSpec> specs, CancellationToken ct)
    {
        var description = $"round {_round}: {specs.Count} trial(s) of {specs.Select(s => s.Commit.Sha).Distinct().Count()} commit(s)";
        var step = progress?.AddStep(description, specs.Count);
        if (step is null)
        {
            log(description);
        }

        await store.AddInFlightAsync(runId, "trial", specs.Select(s => s.TrialKey).ToList(), ct);
        await pool.RunAsync(specs, async (spec, result) =>
        {
            var position = line.PositionOf(spec.Commit.Sha);
            await store.AddTrialAsync(runId, new NewTrial(position, spec.Commit.Sha, spec.TrialIndex, _round, result.Worker ?? result.Host, result.Host,
                result.Outcome, result.Reason, result.StartedAt, result.EndedAt, result.Samples, spec.TrialKey), CancellationToken.None);
            // Only once stored: evidence the search acted on is always evidence a resume finds again.
            ledger.Add(position, spec.TrialIndex, result);
            var text = $"{spec.Commit.ShortSha} trial {spec.TrialIndex}: {result.Outcome}{(result.Reason is null ? string.Empty : " — " + result.Reason.Split('\n', 2)[0])}";
            if (step is null)
            {
                log("  " + text);
            }
            else
            {
                step.Advance(1, text);
            }
        }, ct);
        step?.Complete();
        foreach (var removed in pool.Removed)
        {
            await store.AddRemovedWorkerAsync(runId, removed.Worker, removed.Reason, CancellationToken.None);
        }
    }
}

/// <summary>
/// Every trial of a run the search may use, in memory: per position, the deciding metric's series of each Ok trial in
/// the order they were stored (append-only, so the search's "trials beyond those already seen" is exact), and the next
/// unused trial index. Filled once from the database when a run resumes, then only by trials as they are stored.
/// </summary>
internal sealed class TrialLedger(string metric)
{
    private readonly Dictionary<int, List<TrialSeries>> _ok = [];
    private readonly Dictionary<int, int> _nextIndex = [];

    /// <summary>The trials already stored for <paramref name="runId"/> (none for a new run).</summary>
    public static async Task<TrialLedger> LoadAsync(ResultsStore store, string runId, string metric, CancellationToken ct)
    {
        var ledger = new TrialLedger(metric);
        // In the order they were stored, which is the order the interrupted process handed them to the search.
        foreach (var trial in await store.GetTrialsAsync(runId, ct))
        {
            var samples = trial.Outcome == TrialOutcome.Ok ? await store.GetSamplesAsync(trial.Id, metric, ct) : [];
            ledger.Add((int)trial.Position, (int)trial.TrialIndex, trial.Outcome,
                new TrialSeries(samples.Select(s => s.Seconds).ToList(), samples.Select(s => s.Value).ToList()));
        }

        return ledger;
    }

    /// <summary>Trials of any outcome recorded so far.</summary>
    public int Count { get; private set; }

    public int OkCount(int position) => _ok.TryGetValue(position, out var list) ? list.Count : 0;

    /// <summary>Positions with at least one Ok trial.</summary>
    public IReadOnlyCollection<int> Positions => _ok.Keys;

    /// <summary>After a crash the stored indexes can have gaps (a trial in flight was lost): an index is never reused.</summary>
    public int NextIndex(int position) => _nextIndex.GetValueOrDefault(position);

    public void Add(int position, int trialIndex, TrialResult result)
    {
        var samples = result.Samples.Where(s => s.Metric == metric).ToList();
        Add(position, trialIndex, result.Outcome, new TrialSeries(samples.Select(s => s.Seconds).ToList(), samples.Select(s => s.Value).ToList()));
    }

    /// <summary>Everything measured at <paramref name="position"/>; no Ok trial means it cannot be measured (skipped).</summary>
    public PositionEvidence Evidence(int position)
    {
        var ok = _ok.TryGetValue(position, out var list) ? list.ToArray() : [];
        return new PositionEvidence(position, ok.Length == 0, ok);
    }

    private void Add(int position, int trialIndex, TrialOutcome outcome, TrialSeries series)
    {
        Count++;
        _nextIndex[position] = Math.Max(_nextIndex.GetValueOrDefault(position), trialIndex + 1);
        if (outcome == TrialOutcome.Ok)
        {
            (_ok.TryGetValue(position, out var list) ? list : _ok[position] = []).Add(series);
        }
    }
}

/// <summary>
/// Per commit, the total of Ok trials the search has asked for so far, and how many it has been handed. A request for
/// k more trials means k beyond every trial the search was handed of that commit — the extra ones that filled idle
/// workers in an earlier round included, since the search counted them —, and beyond the total asked before. Trials
/// stored before a resume and not yet handed count towards it, so a resumed run does not measure them again. (Before,
/// only the totals asked counted: journald run 12 on local:4 asked f1a8a66c35 for 1 probe trial, got 2 to fill the
/// round, then asked 1 fresh verification trial and got none, and spent a whole 2-minute round on that one trial.)
/// The run's <see cref="Measurer"/> and the <see cref="CostPlanner"/>'s simulated rounds both size rounds with it.
/// </summary>
internal sealed class TrialWants
{
    private readonly Dictionary<int, int> _wanted = [];
    private readonly Dictionary<int, int> _handed = [];

    /// <summary>The commit's wanted total so far.</summary>
    public int Of(int position) => _wanted.GetValueOrDefault(position);

    /// <summary>The commit's wanted total after a request for <paramref name="more"/> trials.</summary>
    public int After(int position, int more) => Math.Max(Of(position), _handed.GetValueOrDefault(position)) + more;

    /// <summary>Notes what the search is handed (a position standing for an identical build counts for both) and returns it.</summary>
    public IReadOnlyList<PositionEvidence> Handed(IReadOnlyList<PositionEvidence> evidence)
    {
        foreach (var e in evidence)
        {
            foreach (var position in e.SameBuildAs is { } twin ? [e.Position, twin] : new[] { e.Position })
                _handed[position] = Math.Max(_handed.GetValueOrDefault(position), e.Trials.Count);
        }

        return evidence;
    }

    /// <summary>Sets the commit's wanted total and returns how many trials it still misses, given <paramref name="have"/> Ok trials.</summary>
    public int Missing(int position, int wanted, int have)
    {
        _wanted[position] = wanted;
        return Math.Max(0, wanted - have);
    }
}

/// <summary>Which trials one round runs: per commit, the ones still missing, plus the ones that keep every worker busy.</summary>
internal static class RoundPlan
{
    /// <summary>A built commit of the round, its first unused trial index and how many trials it still misses.</summary>
    public sealed record Item(int Position, Artifact Artifact, int FirstIndex, int Missing);

    public static IReadOnlyList<TrialSpec> Specs(IReadOnlyList<Item> items, int workers, CommitLine line, Recipe recipe, string runId)
    {
        var counts = WorkerSlots.Fill(items.Select(p => p.Missing).ToArray(), workers);
        var specs = new List<TrialSpec>();
        for (var k = 0; k < items.Count; k++)
        {
            var item = items[k];
            for (var i = item.FirstIndex; i < item.FirstIndex + counts[k]; i++)
            {
                specs.Add(new TrialSpec(line[item.Position], item.Artifact, recipe, i, $"{runId}-{item.Position}-{i}"));
            }
        }

        return specs;
    }
}

/// <summary>
/// Builds each commit of a run at most once per process, recording every build (and which one is under way). With
/// <see cref="BuildAhead"/> it also builds, while a round's trials run, commits the search may want next — one at a
/// time, at the lowest CPU priority (<see cref="BuildPriority"/>), without touching the database or the terminal (the
/// store and the progress display belong to the round): a build ahead is recorded and logged only when a round asks
/// for its commit, which then waits for it at full priority instead of building it. A build ahead of a commit the
/// round does not want is cancelled when the round needs the builder.
/// </summary>
internal sealed class Builds(ResultsStore store, string runId, string recipeHash, Builder builder, Action<string> log)
{
    private readonly Dictionary<string, BuildResult> _done = [];
    private readonly SemaphoreSlim _builder = new(1, 1);
    private readonly Lock _gate = new();
    private readonly Queue<Commit> _queue = new();
    private readonly Dictionary<string, BuildResult> _aheadDone = [];
    private Ahead? _running;
    private Task _loop = Task.CompletedTask;
    private CancellationTokenSource _stop = new();

    private sealed record Ahead(Commit Commit, TaskCompletionSource<BuildResult?> Done, CancellationTokenSource Cancel, BuildPriority Priority);

    /// <summary>Builds made ahead so far (recorded or not).</summary>
    public int BuiltAhead { get; private set; }

    public async Task<BuildResult> EnsureAsync(Commit commit, CancellationToken ct)
    {
        if (_done.TryGetValue(commit.Sha, out var known))
        {
            return known;
        }

        var ahead = await TakeAheadAsync(commit);
        if (ahead is { } made)
        {
            log($"build {commit.ShortSha} {commit.Subject}");
            return await RecordAsync(commit, made, ", built ahead while trials ran", ct);
        }

        await _builder.WaitAsync(ct);
        try
        {
            return await BuildNowAsync(commit, ct);
        }
        finally
        {
            _builder.Release();
        }
    }

    /// <summary>Replaces the commits to build ahead with <paramref name="commits"/> (in order) and starts on them.</summary>
    public void BuildAhead(IEnumerable<Commit> commits)
    {
        lock (_gate)
        {
            _queue.Clear();
            foreach (var commit in commits.Where(c => !_done.ContainsKey(c.Sha) && !_aheadDone.ContainsKey(c.Sha) && _running?.Commit.Sha != c.Sha
                         && builder.TryGetCached(c.Sha) is null))
                _queue.Enqueue(commit);
            if (_queue.Count > 0 && _loop.IsCompleted)
                _loop = Task.Run(LoopAsync);
        }
    }

    /// <summary>Stops building ahead: drops the queue, cancels the build under way and waits until it has stopped.</summary>
    public async Task StopAsync()
    {
        lock (_gate)
        {
            _queue.Clear();
            _stop.Cancel();
            _running?.Cancel.Cancel();
            _running?.Priority.Kill();
        }

        await _loop;
        _stop = new CancellationTokenSource();
    }

    /// <summary>The build ahead of <paramref name="commit"/>: already made, or under way (then waited for at full
    /// priority); null when there is none — and a build ahead of another commit is cancelled, so the builder is free.
    /// A round that builds drops the commits still queued: what it needs comes first, and it plans the next ones itself
    /// once its own builds are done.</summary>
    private async Task<BuildResult?> TakeAheadAsync(Commit commit)
    {
        Ahead? running;
        lock (_gate)
        {
            if (_aheadDone.Remove(commit.Sha, out var made))
                return made;
            _queue.Clear();
            running = _running;
            if (running is null)
                return null;
            if (running.Commit.Sha == commit.Sha)
            {
                running.Priority.Raise();
            }
            else
            {
                running.Cancel.Cancel();
                running.Priority.Kill();
            }
        }

        var result = await running.Done.Task;
        if (running.Commit.Sha != commit.Sha)
            return null;
        lock (_gate)
            _aheadDone.Remove(commit.Sha);
        return result;
    }

    private async Task LoopAsync()
    {
        while (true)
        {
            Ahead next;
            lock (_gate)
            {
                if (_stop.IsCancellationRequested || !_queue.TryDequeue(out var commit))
                    return;
                next = new Ahead(commit, new TaskCompletionSource<BuildResult?>(TaskCreationOptions.RunContinuationsAsynchronously),
                    CancellationTokenSource.CreateLinkedTokenSource(_stop.Token), BuildPriority.Background());
                _running = next;
            }

            BuildResult? result = null;
            try
            {
                await _builder.WaitAsync(next.Cancel.Token);
                try
                {
                    result = await builder.BuildAsync(next.Commit, next.Cancel.Token, next.Priority);
                    // Killed as it was cancelled, a step can end with a failure before the cancellation is seen: that
                    // says nothing about the commit, so it is no build.
                    if (next.Cancel.IsCancellationRequested)
                        result = null;
                    else
                        BuiltAhead++;
                }
                finally
                {
                    _builder.Release();
                }
            }
            catch (Exception e) when (e is OperationCanceledException or BisectorException or IOException)
            {
                // Cancelled, or it failed: the round that wants this commit builds it itself and reports what happens.
                result = null;
            }
            finally
            {
                lock (_gate)
                {
                    if (result is not null)
                        _aheadDone[next.Commit.Sha] = result;
                    _running = null;
                }

                next.Done.TrySetResult(result);
                next.Cancel.Dispose();
            }
        }
    }

    private async Task<BuildResult> BuildNowAsync(Commit commit, CancellationToken ct)
    {
        log($"build {commit.ShortSha} {commit.Subject}");
        await store.AddInFlightAsync(runId, "build", [commit.Sha], ct);
        BuildResult build;
        try
        {
            build = await builder.BuildAsync(commit, ct);
        }
        catch (IOException e)
        {
            // The artifact cache lives in the results folder: a full disk there stops the run, it is no build failure.
            throw new StorageException($"cannot build {commit.ShortSha} into the artifact cache: {e.Message}",
                "Free space in the results folder (or move it with --results), then 'bisector resume' continues; everything stored before is kept", e);
        }

        await RecordAsync(commit, build, "", ct);
        await store.RemoveInFlightAsync(runId, "build", commit.Sha, ct);
        return build;
    }

    /// <summary>A build the run will use: logged, stored and remembered for the rest of the run.</summary>
    private async Task<BuildResult> RecordAsync(Commit commit, BuildResult build, string note, CancellationToken ct)
    {
        log($"  {build.Status} in {build.Duration.TotalSeconds:0.0}s{note}");
        await store.AddBuildAsync(runId, build, recipeHash, ct);
        _done[commit.Sha] = build;
        return build;
    }
}

/// <summary>Which commits to build while a round's trials run: in every gap next to a position the round measures
/// (between it and its nearest measured neighbours), the commits at the gap's middle — both middle ones when it falls
/// between two, as the search's probe and the fill beside it take them — then at its quarter points, then its eighths,
/// rounded to the nearest commit as the search rounds its quantiles; breadth first over the gaps, up to
/// <see cref="Most"/>. The search goes on in whichever gap the round's evidence points to, and a round of W workers asks
/// for up to W commits there. (Journald on local:4: predicting one middle a gap found 1 of the first probe round's 4
/// commits built, and run 12 waited 88 s for the other 3; both middles, then the middles of the halves, found 2 of 4 in
/// run 16 — 5 and 6, while the round took the quarter points 3 and 8.)</summary>
internal static class BuildAheadPlan
{
    /// <summary>At most this many commits ahead a round (built one at a time at nice +19; a 2-minute journald round
    /// had room for about 3).</summary>
    public const int Most = 6;

    private static readonly double[][] Depths = [[0.5], [0.25, 0.75], [0.125, 0.375, 0.625, 0.875]];

    /// <param name="measured">Positions with trials, including the round's own.</param>
    /// <param name="round">The round's positions, in request order.</param>
    public static IReadOnlyList<int> Positions(IReadOnlyCollection<int> measured, IReadOnlyList<int> round)
    {
        var sorted = measured.Concat(round).Distinct().Order().ToArray();
        var gaps = new List<(int Low, int High)>();
        foreach (var p in round)
        {
            var i = Array.IndexOf(sorted, p);
            if (i > 0 && !gaps.Contains((sorted[i - 1], p)))
                gaps.Add((sorted[i - 1], p));
            if (i < sorted.Length - 1 && !gaps.Contains((p, sorted[i + 1])))
                gaps.Add((p, sorted[i + 1]));
        }

        var next = new List<int>();
        foreach (var quantiles in Depths)
        {
            foreach (var (low, high) in gaps)
            {
                foreach (var q in quantiles)
                {
                    var at = low + q * (high - low);
                    var nearest = (int)Math.Round(at, MidpointRounding.AwayFromZero);
                    foreach (var c in at - Math.Floor(at) == 0.5 ? new[] { nearest - 1, nearest } : [nearest])
                    {
                        if (c > low && c < high && next.Count < Most && !next.Contains(c))
                            next.Add(c);
                    }
                }
            }
        }

        return next;
    }
}
