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
}
