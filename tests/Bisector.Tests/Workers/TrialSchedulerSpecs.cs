using Bisector.Workers;

namespace Bisector.Tests.Workers;

public sealed class TrialSchedulerSpecs(TestDaemon daemon) : IClassFixture<TestDaemon>
{
    private const string ShaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string ShaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    [Fact(Timeout = 120000)]
    public async Task I_can_spread_each_commits_trials_over_two_local_workers()
    {
        // Arrange
        var workers = WorkerSpecs.Parse(["local:2"], Path.Combine(daemon.Root, "work"));
        var scheduler = new TrialScheduler(workers);
        // A window of 2 s: long enough that a busy machine still yields a trustworthy (not Incomplete) series.
        var recipe = TestDaemon.Recipe(warmup: TimeSpan.FromMilliseconds(200), window: TimeSpan.FromSeconds(2));
        var trials = new[] { ShaA, ShaA, ShaB, ShaB }.Select((sha, i) => daemon.Trial(recipe, sha, i)).ToList();
        var completed = new List<string>();

        // Act
        var results = await scheduler.RunAsync(trials, (spec, result) =>
        {
            completed.Add(spec.TrialKey);
            return Task.CompletedTask;
        });

        // Assert
        Assert.Equal(trials.Select(t => t.TrialKey), results.Select(r => r.Spec.TrialKey));
        Assert.All(results, r => Assert.Equal(TrialOutcome.Ok, r.Result.Outcome));
        Assert.Equal(trials.Select(t => t.TrialKey).Order(), completed.Order());
        foreach (var sha in new[] { ShaA, ShaB })
        {
            var hosts = results.Where(r => r.Spec.Commit.Sha == sha).Select(r => r.Result.Host.Split('/')[^1]).Order();
            Assert.Equal(["local-1", "local-2"], hosts);
        }

        // Trials that run side by side are of different commits, so both commits see the same machine load.
        var byStart = results.OrderBy(r => r.Result.StartedAt).Select(r => r.Spec.Commit.Sha).ToList();
        Assert.NotEqual(byStart[0], byStart[1]);
        Assert.NotEqual(byStart[2], byStart[3]);
        Assert.Empty(scheduler.Removed);
    }

    [Fact(Timeout = 120000)]
    public async Task I_can_retry_trials_of_a_broken_worker_elsewhere_and_take_it_out_of_the_pool()
    {
        // Arrange
        await using var unreachable = new UnreachableWorker("ssh://root@10.255.255.1");
        var local = new LocalWorker("local-1", daemon.WorkRoot("local-1"));
        var scheduler = new TrialScheduler([unreachable, local], maxConsecutiveFailures: 2);
        var recipe = TestDaemon.Recipe(warmup: TimeSpan.FromMilliseconds(200), window: TimeSpan.FromSeconds(2));
        var trials = new[] { ShaA, ShaB, ShaA }.Select((sha, i) => daemon.Trial(recipe, sha, i)).ToList();
        var callbacks = 0;

        // Act
        var results = await scheduler.RunAsync(trials, (_, _) =>
        {
            Interlocked.Increment(ref callbacks);
            return Task.CompletedTask;
        });

        // Assert
        Assert.Equal(3, callbacks);
        Assert.All(results, r => Assert.Equal(TrialOutcome.Ok, r.Result.Outcome));
        Assert.All(results, r => Assert.EndsWith("/local-1", r.Result.Host));
        Assert.Equal(2, unreachable.Attempts);
        var removed = Assert.Single(scheduler.Removed);
        Assert.Equal("ssh://root@10.255.255.1", removed.Worker);
        Assert.Contains("2 trials in a row", removed.Reason);
        Assert.Equal(["local-1"], scheduler.Active.Select(w => w.Name));
    }

    [Fact(Timeout = 30000)]
    public async Task I_can_see_the_run_stop_when_every_worker_has_left_the_pool()
    {
        // Arrange
        await using var unreachable = new UnreachableWorker("ssh://root@10.255.255.1");
        var scheduler = new TrialScheduler([unreachable], maxConsecutiveFailures: 3);
        var recipe = TestDaemon.Recipe();
        var trials = Enumerable.Range(0, 4).Select(i => daemon.Trial(recipe, ShaA, i)).ToList();

        // Act
        var error = await Assert.ThrowsAsync<WorkerException>(() => scheduler.RunAsync(trials, (_, _) => Task.CompletedTask));

        // Assert
        Assert.Contains("every worker left the pool", error.Message);
        Assert.Contains("connection refused", error.Message);
        Assert.Equal(3, unreachable.Attempts);
    }

    [Fact]
    public void I_can_only_name_worker_kinds_that_exist()
    {
        // Act
        var unknown = Assert.Throws<UsageException>(() => WorkerSpecs.Parse(["lcoal:2"], "/tmp/x"));
        var badCount = Assert.Throws<UsageException>(() => WorkerSpecs.Parse(["local:zero"], "/tmp/x"));
        var ssh = Assert.Throws<UsageException>(() => WorkerSpecs.Parse(["ssh://root@host:0"], "/tmp/x"));
        var sshWorker = WorkerSpecs.Parse(["ssh://root@host"], "/tmp/x").Single();
        var workers = WorkerSpecs.Parse(["local:3"], "/tmp/x");

        // Assert
        Assert.Equal("--workers", unknown.Option);
        Assert.Contains("'lcoal:2'", unknown.Message);
        Assert.Contains("invalid worker count", badCount.Message);
        Assert.Contains("invalid port", ssh.Message);
        Assert.Equal("ssh://root@host", Assert.IsType<SshWorker>(sshWorker).Name);
        Assert.Equal(["local-1", "local-2", "local-3"], workers.Select(w => w.Name));
    }

    /// <summary>Stands in for an SSH host that cannot be reached (there is no such backend to run here yet): every trial
    /// fails the way a dead connection would.</summary>
    private sealed class UnreachableWorker(string name) : IWorker
    {
        private int _attempts;

        public string Name { get; } = name;

        public WorkerKind Kind => WorkerKind.Ssh; // stands in for a remote host that stopped answering

        public int Attempts => _attempts;

        public Task<WorkerCheck> CheckAsync(CancellationToken ct = default) =>
            Task.FromResult(new WorkerCheck(Name, false, ["connection refused"]));

        public Task<TrialResult> RunTrialAsync(TrialSpec spec, CancellationToken ct = default)
        {
            Interlocked.Increment(ref _attempts);
            throw new WorkerException(Name, "connection refused", "check the host is up and sshd listens");
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
