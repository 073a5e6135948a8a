using Bisector.Git;

namespace Bisector.Tests.Git;

/// <summary>Reverting a commit with the git CLI in a worktree, on real repositories.</summary>
public sealed class GitRevertSpecs : IAsyncLifetime
{
    private readonly string _worktrees = Directory.CreateTempSubdirectory("bisector-revert-wt-").FullName;
    private TempGitRepo? _repo;

    [Fact(Timeout = 60_000)]
    public async Task I_can_revert_a_commit_in_a_sparse_worktree_of_a_clone_that_lacks_a_blob_the_commit_does_not_touch()
    {
        // Arrange: like the systemd-stable snapshot, which lacks hwdb.d/ma-large.txt's blob and is checked out without
        // it: `git revert` fails there with "invalid object … for 'hwdb.d/ma-large.txt'" (journald run 20261130-185637-c4b5)
        _repo = await TempGitRepo.CreateAsync();
        await _repo.CommitFilesAsync("one", CancellationToken.None, ("hwdb.d/ma-large.txt", "big\n"), ("src/fileio.c", "4 KiB\n"));
        var culprit = await _repo.CommitFilesAsync("4 MiB", CancellationToken.None, ("src/fileio.c", "4 MiB\n"));
        var blob = (await _repo.GitAsync(CancellationToken.None, "rev-parse", culprit + ":hwdb.d/ma-large.txt")).Trim();
        File.Delete(Path.Combine(_repo.Path, ".git", "objects", blob[..2], blob[2..]));
        var tree = Path.Combine(_worktrees, "tree");
        await GitWorktree.AddDetachedAsync(_repo.Path, tree, culprit, ["hwdb.d/ma-large.txt"]);
        var parent = (await _repo.GitAsync(CancellationToken.None, "rev-parse", culprit + "^")).Trim();
        var commit = new Commit(culprit, "4 MiB", "Test", DateTimeOffset.UnixEpoch, [parent]);

        // Act
        var applied = await GitRevert.ApplyAsync(tree, commit);

        // Assert: the commit's own change is undone; the missing file was never needed
        Assert.True(applied.Clean, applied.Message);
        Assert.Equal("4 KiB\n", await File.ReadAllTextAsync(Path.Combine(tree, "src/fileio.c")));
        Assert.Equal($"git diff --binary {parent} {culprit} | git apply -R --3way", applied.Command);
        Assert.False(File.Exists(Path.Combine(tree, "hwdb.d/ma-large.txt")));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try
        {
            // git refuses to remove this worktree (its status needs the blob the test deleted); the folders go anyway.
            if (_repo is not null)
                await GitWorktree.RemoveAsync(_repo.Path, Path.Combine(_worktrees, "tree"));
        }
        catch (BisectorException)
        {
        }
        finally
        {
            if (_repo is not null)
                await _repo.DisposeAsync();
            Directory.Delete(_worktrees, recursive: true);
        }
    }
}
