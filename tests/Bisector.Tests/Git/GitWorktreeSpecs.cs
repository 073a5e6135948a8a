using Bisector.Git;

namespace Bisector.Tests.Git;

public sealed class GitWorktreeSpecs
{
    [Fact(Timeout = 60000)]
    public async Task I_can_add_move_and_remove_a_detached_worktree()
    {
        // Arrange
        var ct = new CancellationTokenSource(TimeSpan.FromSeconds(50)).Token;
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var first = await repo.CommitFilesAsync("first", ct, ("src/a.c", "one"));
        var second = await repo.CommitFilesAsync("second", ct, ("src/a.c", "two"), ("src/b.c", "new"));
        var dir = Path.Combine(Path.GetTempPath(), "bisector-wt-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            // Act
            await GitWorktree.AddDetachedAsync(repo.Path, dir, first, ct);
            var afterAdd = (await GitWorktree.HeadAsync(dir, ct), File.ReadAllText(Path.Combine(dir, "src/a.c")));
            File.WriteAllText(Path.Combine(dir, "build.o"), "object file that an incremental build keeps");
            File.WriteAllText(Path.Combine(dir, "src/a.c"), "edited by a build step");
            await GitWorktree.CheckoutAsync(dir, second, ct);
            var afterCheckout = (await GitWorktree.HeadAsync(dir, ct), File.ReadAllText(Path.Combine(dir, "src/a.c")));
            var mainHead = await repo.RevParseAsync("HEAD", ct);
            await GitWorktree.RemoveAsync(repo.Path, dir, ct);
            var listed = await repo.GitAsync(ct, "worktree", "list", "--porcelain");

            // Assert
            Assert.Equal((first, "one"), afterAdd);
            Assert.Equal((second, "two"), afterCheckout);
            Assert.True(File.Exists(Path.Combine(dir, "build.o")) is false, "remove deletes the worktree directory");
            Assert.Equal(second, mainHead);
            Assert.DoesNotContain(dir, listed);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task I_keep_untracked_build_output_when_moving_a_worktree()
    {
        // Arrange
        var ct = new CancellationTokenSource(TimeSpan.FromSeconds(50)).Token;
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var first = await repo.CommitFilesAsync("first", ct, ("src/a.c", "one"));
        var second = await repo.CommitFilesAsync("second", ct, ("src/a.c", "two"));
        var dir = Path.Combine(Path.GetTempPath(), "bisector-wt-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            await GitWorktree.AddDetachedAsync(repo.Path, dir, second, ct);
            File.WriteAllText(Path.Combine(dir, "a.o"), "obj");

            // Act
            await GitWorktree.CheckoutAsync(dir, first, ct);

            // Assert
            Assert.Equal("obj", File.ReadAllText(Path.Combine(dir, "a.o")));
            Assert.Equal("one", File.ReadAllText(Path.Combine(dir, "src/a.c")));
        }
        finally
        {
            await GitWorktree.RemoveAsync(repo.Path, dir, ct);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task I_get_the_git_command_and_stderr_when_a_checkout_fails()
    {
        // Arrange
        var ct = new CancellationTokenSource(TimeSpan.FromSeconds(50)).Token;
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var first = await repo.CommitFilesAsync("first", ct, ("a", "1"));
        var dir = Path.Combine(Path.GetTempPath(), "bisector-wt-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            await GitWorktree.AddDetachedAsync(repo.Path, dir, first, ct);

            // Act
            var error = await Assert.ThrowsAsync<ProcessFailedException>(() => GitWorktree.CheckoutAsync(dir, "0123456789abcdef", ct));

            // Assert
            Assert.Contains("git checkout", error.CommandLine);
            Assert.Equal(dir, error.WorkingDirectory);
            Assert.NotEqual(0, error.ProcessExitCode);
            Assert.False(string.IsNullOrWhiteSpace(error.StderrTail));
        }
        finally
        {
            await GitWorktree.RemoveAsync(repo.Path, dir, ct);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task I_can_check_out_a_commit_whose_excluded_file_has_no_object_in_the_repository()
    {
        // Arrange: like the fetched systemd snapshot, one blob is missing from the object store, so a full checkout fails
        var ct = new CancellationTokenSource(TimeSpan.FromSeconds(50)).Token;
        await using var repo = await TempGitRepo.CreateAsync(ct);
        var first = await repo.CommitFilesAsync("first", ct, ("src/a.c", "one"), ("hwdb.d/ma-large.txt", "huge table"));
        var second = await repo.CommitFilesAsync("second", ct, ("src/a.c", "two"));
        var blob = await repo.RevParseAsync($"{second}:hwdb.d/ma-large.txt", ct);
        File.Delete(Path.Combine(repo.Path, ".git", "objects", blob[..2], blob[2..]));
        var full = Path.Combine(Path.GetTempPath(), "bisector-wt-" + Guid.NewGuid().ToString("N")[..12]);
        var sparse = Path.Combine(Path.GetTempPath(), "bisector-wt-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            // Act
            var failure = await Assert.ThrowsAsync<ProcessFailedException>(() => GitWorktree.AddDetachedAsync(repo.Path, full, second, ct));
            await GitWorktree.AddDetachedAsync(repo.Path, sparse, first, ["hwdb.d/ma-large.txt"], ct);
            await GitWorktree.CheckoutAsync(sparse, second, ct);

            // Assert
            Assert.Contains(blob, failure.Message + failure.StderrTail);
            Assert.Equal("two", File.ReadAllText(Path.Combine(sparse, "src/a.c")));
            Assert.False(File.Exists(Path.Combine(sparse, "hwdb.d/ma-large.txt")));
            Assert.Equal(second, await GitWorktree.HeadAsync(sparse, ct));
        }
        finally
        {
            await GitWorktree.RemoveAsync(repo.Path, sparse, CancellationToken.None);
            if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
            if (Directory.Exists(sparse)) Directory.Delete(sparse, recursive: true);
        }
    }
}
