using Bisector.Workers;

namespace Bisector.Tests.Workers;

public sealed class WorkerRosterSpecs
{
    [Fact]
    public async Task I_can_tell_each_workers_kind_from_the_runs_specs()
    {
        // Arrange: an ssh host whose name starts like a local worker's must still be an ssh worker.
        string[] specs = ["local:2", "ssh://local-3@example.invalid:2222?identity=/dev/null&known-hosts=/dev/null", "local:1"];

        // Act
        var roster = await WorkerSpecs.RosterAsync(specs);

        // Assert
        Assert.NotNull(roster);
        Assert.Equal(WorkerKind.Local, roster["local-1"]);
        Assert.Equal(WorkerKind.Local, roster["local-2"]);
        Assert.Equal(WorkerKind.Local, roster["local-3"]);
        Assert.Equal(WorkerKind.Ssh, roster["ssh://local-3@example.invalid:2222"]);
        Assert.Equal(4, roster.Count);
    }

    [Fact]
    public async Task I_get_no_roster_when_the_specs_no_longer_parse_here()
    {
        // Arrange: a Slurm spec whose slurm.conf exists only on the machine that ran it.
        string[] specs = ["local:1", "slurm:debug?conf=/nonexistent/slurm.conf"];

        // Act
        var roster = await WorkerSpecs.RosterAsync(specs);

        // Assert: the report then says "kind unknown" instead of guessing from a name.
        Assert.Null(roster);
    }
}
