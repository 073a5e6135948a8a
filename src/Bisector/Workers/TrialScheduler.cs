using System.Globalization;

namespace Bisector.Workers;

/// <summary>A worker taken out of the pool, and why.</summary>
public sealed record RemovedWorker(string Worker, string Reason);

/// <summary>
/// Runs batches of trials on a pool of workers, one trial per worker at a time. Each worker takes, among the waiting
/// trials, the commit it has run least so far and avoids repeating the commit it ran last, so every commit's trials are
/// spread over the workers and a slow or noisy worker shifts all commits alike instead of faking a regression. Among
/// those it takes the commit the batch has started least, so the commits of a batch interleave in time: trials that run
/// side by side belong to different commits and share the machine's load of the moment, instead of one commit getting
/// the quiet first minutes and the other the busy last ones.
/// A trial that ends <see cref="TrialOutcome.WorkerFailed"/> (or throws <see cref="WorkerException"/>) is retried on
/// another worker; a worker that fails <see cref="MaxConsecutiveFailures"/> times in a row leaves the pool.
/// The pool and the balance counts persist across batches, so one scheduler serves a whole run.
/// </summary>
public sealed class TrialScheduler
{
    private readonly Lock _gate = new();
    private readonly List<IWorker> _active;
    private readonly List<RemovedWorker> _removed = [];
    private readonly Dictionary<string, Dictionary<string, int>> _runsPerCommit = [];
    private readonly Dictionary<string, string> _lastCommit = [];
    private readonly Dictionary<string, int> _consecutiveFailures = [];
    private readonly SemaphoreSlim _callbackGate = new(1, 1);

    public TrialScheduler(IReadOnlyList<IWorker> workers, int maxConsecutiveFailures = 3)
    {
        if (workers.Count == 0)
        {
            throw new UsageException("--workers", "no workers given", "pass at least one, e.g. --workers local:2");
        }

        _active = [.. workers];
        MaxConsecutiveFailures = maxConsecutiveFailures;
    }

    public int MaxConsecutiveFailures { get; }

    /// <summary>Workers still in the pool.</summary>
    public IReadOnlyList<IWorker> Active
    {
        get
        {
            lock (_gate)
            {
                return [.. _active];
            }
        }
    }

    /// <summary>Workers taken out of the pool, in the order they were removed.</summary>
    public IReadOnlyList<RemovedWorker> Removed
    {
        get
        {
            lock (_gate)
            {
                return [.. _removed];
            }
        }
    }

    /// <summary>
    /// Runs every trial once (plus retries after worker failures) and returns the results in the order of
    /// <paramref name="trials"/>. <paramref name="onCompleted"/> is called as each trial finishes, one call at a time,
    /// so it may write to a database without locking.
    /// </summary>
    /// <exception cref="WorkerException">Every worker left the pool while trials were still waiting.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled; trials in flight were stopped and reported first.</exception>
    public async Task<IReadOnlyList<(TrialSpec Spec, TrialResult Result)>> RunAsync(
        IReadOnlyList<TrialSpec> trials,
        Func<TrialSpec, TrialResult, Task> onCompleted,
        CancellationToken ct = default)
    {
        var batch = new Batch(trials);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var loops = Active.Select(worker => Task.Run(() => WorkerLoopAsync(worker, batch, onCompleted, stop), CancellationToken.None)).ToList();
        try
        {
            await Task.WhenAll(loops);
        }
        catch
        {
            // One loop failed (e.g. the callback threw): stop the others before reporting it.
            await stop.CancelAsync();
            await Task.WhenAll(loops.Select(l => l.ContinueWith(_ => { }, TaskScheduler.Default)));
            throw;
        }

        ct.ThrowIfCancellationRequested();
        if (batch.Waiting.Count > 0)
        {
            if (Active.Count == 0)
            {
                throw new WorkerException("all workers", $"{batch.Waiting.Count} trial(s) could not run because every worker left the pool: " +
                    string.Join("; ", Removed.Select(r => $"{r.Worker}: {r.Reason}")), "fix or replace the workers and run again");
            }

            // What is left failed on every remaining worker; report it instead of retrying forever.
            foreach (var waiting in batch.Waiting.ToList())
            {
                batch.Waiting.Remove(waiting);
                await CompleteAsync(batch, waiting, waiting.LastFailure!, onCompleted);
            }
        }

        return batch.Results();
    }

    private async Task WorkerLoopAsync(IWorker worker, Batch batch, Func<TrialSpec, TrialResult, Task> onCompleted, CancellationTokenSource stop)
    {
        while (true)
        {
            Pending? next;
            Task changed;
            lock (_gate)
            {
                if (stop.IsCancellationRequested || !_active.Contains(worker))
                {
                    return;
                }

                next = Pick(worker, batch);
                if (next is not null)
                {
                    batch.Waiting.Remove(next);
                    batch.InFlight++;
                    batch.Started[next.Spec.Commit.Sha] = batch.Started.GetValueOrDefault(next.Spec.Commit.Sha) + 1;
                    var counts = _runsPerCommit.TryGetValue(worker.Name, out var c) ? c : _runsPerCommit[worker.Name] = [];
                    counts[next.Spec.Commit.Sha] = counts.GetValueOrDefault(next.Spec.Commit.Sha) + 1;
                    _lastCommit[worker.Name] = next.Spec.Commit.Sha;
                }
                else if (batch.InFlight == 0)
                {
                    return;
                }

                changed = batch.Changed.Task;
            }

            if (next is null)
            {
                // Another worker's trial may come back for retry; wait for that (or for the batch to drain).
                await changed.WaitAsync(stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                continue;
            }

            TrialResult result;
            try
            {
                result = await worker.RunTrialAsync(next.Spec, stop.Token) with { Worker = worker.Name };
            }
            catch (WorkerException e)
            {
                var now = DateTimeOffset.Now;
                result = new TrialResult(TrialOutcome.WorkerFailed, e.Message, [], now, now, worker.Name) { Worker = worker.Name };
            }

            var retry = false;
            lock (_gate)
            {
                batch.InFlight--;
                if (result.Outcome == TrialOutcome.WorkerFailed && !stop.IsCancellationRequested)
                {
                    var failures = _consecutiveFailures[worker.Name] = _consecutiveFailures.GetValueOrDefault(worker.Name) + 1;
                    if (failures >= MaxConsecutiveFailures)
                    {
                        _active.Remove(worker);
                        _removed.Add(new RemovedWorker(worker.Name, string.Create(CultureInfo.InvariantCulture,
                            $"failed {failures} trials in a row; last: {result.Reason}")));
                    }

                    next.FailedOn.Add(worker.Name);
                    next.LastFailure = result;
                    retry = _active.Any(w => !next.FailedOn.Contains(w.Name));
                    if (retry)
                    {
                        batch.Waiting.Add(next);
                    }
                }
                else
                {
                    _consecutiveFailures[worker.Name] = 0;
                }

                batch.Signal();
            }

            if (!retry)
            {
                await CompleteAsync(batch, next, result, onCompleted);
            }
        }
    }

    /// <summary>The waiting trial this worker should run next: not one that already failed on it; the commit it has run
    /// least; the commit this batch has started least; not the commit it ran last if another is waiting; then first
    /// come, first served.</summary>
    private Pending? Pick(IWorker worker, Batch batch)
    {
        var counts = _runsPerCommit.GetValueOrDefault(worker.Name);
        var last = _lastCommit.GetValueOrDefault(worker.Name);
        return batch.Waiting
            .Where(p => !p.FailedOn.Contains(worker.Name))
            .OrderBy(p => counts?.GetValueOrDefault(p.Spec.Commit.Sha) ?? 0)
            .ThenBy(p => batch.Started.GetValueOrDefault(p.Spec.Commit.Sha))
            .ThenBy(p => p.Spec.Commit.Sha == last ? 1 : 0)
            .ThenBy(p => p.Order)
            .FirstOrDefault();
    }

    private async Task CompleteAsync(Batch batch, Pending pending, TrialResult result, Func<TrialSpec, TrialResult, Task> onCompleted)
    {
        lock (_gate)
        {
            batch.Done[pending.Order] = result;
        }

        await _callbackGate.WaitAsync();
        try
        {
            await onCompleted(pending.Spec, result);
        }
        finally
        {
            _callbackGate.Release();
        }
    }

    private sealed class Pending(TrialSpec spec, int order)
    {
        public TrialSpec Spec { get; } = spec;

        public int Order { get; } = order;

        public HashSet<string> FailedOn { get; } = [];

        public TrialResult? LastFailure { get; set; }
    }

    private sealed class Batch
    {
        private readonly IReadOnlyList<TrialSpec> _trials;

        public Batch(IReadOnlyList<TrialSpec> trials)
        {
            _trials = trials;
            Waiting = [.. trials.Select((t, i) => new Pending(t, i))];
        }

        public List<Pending> Waiting { get; }

        public int InFlight { get; set; }

        /// <summary>Trials started per commit SHA in this batch, retries included.</summary>
        public Dictionary<string, int> Started { get; } = [];

        public Dictionary<int, TrialResult> Done { get; } = [];

        public TaskCompletionSource Changed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Signal()
        {
            var changed = Changed;
            Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed.TrySetResult();
        }

        public IReadOnlyList<(TrialSpec Spec, TrialResult Result)> Results() =>
            [.. _trials.Select((t, i) => (t, Done.GetValueOrDefault(i))).Where(x => x.Item2 is not null).Select(x => (x.t, x.Item2!))];
    }
}
