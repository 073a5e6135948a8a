using Bisector.Workers;

namespace Bisector.Tests.Workers;

/// <summary>
/// Publishes the trial agent (this checkout's src/Bisector.Agent, NativeAOT, one file) before a class's tests start, so the minutes
/// that takes on a loaded machine never count against a test's timeout. SSH and Slurm workers ship it to their hosts.
/// Only as root: every test that ships the agent needs root for its namespaces or cluster and skips otherwise.
/// </summary>
public sealed class TrialAgentFixture : IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        if (Environment.UserName == "root")
        {
            await TrialAgent.EnsurePublishedAsync();
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;
}
