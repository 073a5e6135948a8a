using System.Text.RegularExpressions;
using Bisector.Cli;
using Bisector.Demo;
using Bisector.Runs;
using Bisector.Sampling;
using Bisector.Search;
using Bisector.Storage;
using Bisector.Workers;

namespace Bisector.Tests.Workers;

/// <summary>Whole bisections of the demo repository with trials on SSH hosts (network namespaces + sshd) and locally.</summary>
[LongRunning(261)]
public sealed partial class SshRunSpecs : IClassFixture<TrialAgentFixture>
{
    private const int KillAfter = 2;

    [SshFact(Timeout = 900000)]
    public async Task I_can_bisect_the_demo_across_two_ssh_hosts_and_a_local_worker_and_still_name_the_culprit_when_one_host_dies()
    {
        // Arrange
        await using var hosts = await SshHosts.StartAsync(2);
        var folder = Directory.CreateTempSubdirectory("bisector-ssh-run-").FullName;
        var dying = SshTarget.Parse(hosts.Spec(1)).Name;
        var finished = 0;
        var killedAfter = -1;
        var log = new List<string>();
        void Log(string line)
        {
            lock (log)
            {
                log.Add(line);
                // Kill the second host once the first trials are stored, so it dies mid-run with trials of its own in
                // flight and enough of the search left (an evidence-sized search of the demo takes ~10 trials) for it to
                // fail the scheduler's three times in a row.
                if (TrialLine().IsMatch(line) && ++finished == KillAfter)
                {
                    killedAfter = finished;
                    hosts.Kill(1);
                }
            }
        }

        try
        {
            // Act
            var (demo, run) = await DemoCommand.RunAsync(
                Path.Combine(folder, "demo"), DemoScenario.Fragmentation, "bisect", [hosts.Spec(0), hosts.Spec(1), "local:1"],
                Path.Combine(folder, "results"), Log);

            // Assert
            var transcript = string.Join('\n', log);
            Assert.True(killedAfter == KillAfter, "the run ended before the host could be killed:\n" + transcript);
            Assert.True(run.Outcome is { Status: SearchStatus.Found, Culprit: { } }, transcript);
            Assert.Equal(demo.CulpritSha, run.Selection.Candidates[run.Outcome!.Culprit!.Value - 1].Sha);

            await using var store = await ResultsStore.OpenAsync(run.DatabasePath);
            var trials = await store.GetTrialsAsync(run.RunId);
            var table = new List<string>();
            foreach (var t in trials)
            {
                var s = await store.GetSamplesAsync(t.Id, Metrics.RssAnon);
                table.Add($"{t.Id} {t.Sha[..7]}#{t.TrialIndex} r{t.Round} {t.Worker} {t.Outcome} {s.Count} samples {(s.Count > 0 ? $"{s[0].Seconds}..{s[^1].Seconds} s" : "")} {t.StartedAt}..{t.EndedAt}");
            }

            transcript += "\ntrials:\n" + string.Join('\n', table);
            Assert.DoesNotContain(trials, t => t.Outcome == TrialOutcome.WorkerFailed);
            foreach (var trial in trials.Where(t => t.Outcome == TrialOutcome.Ok))
            {
                var samples = await store.GetSamplesAsync(trial.Id, Metrics.RssAnon);
                Assert.True(samples.Count > 0, $"trial {trial.Id} on {trial.Worker} was stored without samples\n{transcript}");
                if (trial.Worker.StartsWith("ssh://", StringComparison.Ordinal))
                {
                    // The stream reached the end of warm-up + window (8 s after readiness), so nothing was cut off; the
                    // last tick may land up to one sampling interval (0.1 s) before the end, as the remote clock ticks.
                    Assert.True(samples[^1].Seconds >= 8 - 0.1, $"trial {trial.Id} on {trial.Worker}: samples end at {samples[^1].Seconds} s\n{transcript}");
                }
            }

            var workers = trials.Select(t => t.Worker).ToHashSet();
            Assert.Contains(SshTarget.Parse(hosts.Spec(0)).Name, workers);
            Assert.Contains("local-1", workers);
            var removed = await store.GetRemovedWorkersAsync(run.RunId);
            Assert.Equal([dying], removed.Select(r => r.Worker));
            Assert.Matches("cannot reach|lost", removed[0].Reason);
            var report = await File.ReadAllTextAsync(run.ReportPath!);
            Assert.Contains("Removed from the pool:</b> " + dying, report);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [SshFact(Timeout = 60000)]
    public async Task I_leave_no_namespace_veth_or_sshd_behind_after_the_ssh_fixture()
    {
        // Arrange
        var hosts = await SshHosts.StartAsync(2);
        var unique = hosts.Unique;
        var pids = hosts.Hosts.Select(h => h.SshdPid).ToList();
        var root = hosts.Root;

        // Act
        var before = await SshHosts.LeftoversAsync(unique);
        await hosts.DisposeAsync();
        var after = await SshHosts.LeftoversAsync(unique);

        // Assert
        Assert.Contains($"bisector-{unique}-h2", before);
        Assert.Equal("", after);
        Assert.All(pids, pid => Assert.False(Posix.Exists(pid), $"sshd {pid} still runs"));
        Assert.False(Directory.Exists(root));
    }

    [SshFact(Timeout = 60000)]
    public async Task I_can_start_many_ssh_fixtures_at_once_without_two_sharing_an_address_block()
    {
        // Arrange: fixtures of concurrently running test classes each take a block; a random pick of 50 from 186
        // repeats one with probability 1 − e^(−50·49/2/186) ≈ 99.9 %, so this fails on a pick that ignores the others.
        var taken = new List<int>();

        // Act
        try
        {
            for (var i = 0; i < 50; i++)
            {
                taken.Add(await SshHosts.TakeSubnetAsync());
            }
        }
        finally
        {
            foreach (var subnet in taken)
            {
                await SshHosts.ReturnSubnetAsync(subnet);
            }
        }

        // Assert
        Assert.Equal(taken.Count, taken.Distinct().Count());
    }

    [GeneratedRegex(@"^  [0-9a-f]+ trial \d+: ")]
    private static partial Regex TrialLine();
}
