using Bisector.Runs;
using Bisector.Tests.Demo;
using Bisector.Workers;

namespace Bisector.Tests.Reliability;

/// <summary>
/// A run registers git worktrees in the user's repository (an incremental build tree, one checkout per build); when it
/// finishes, or when 'bisector clean' removes what a killed run left, <c>git worktree list</c> there is exactly as
/// before — and a stale entry of the user's own stays, since only the run's own entries are pruned. The real tool as
/// a child process, a generated repository, real builds and trials.
/// </summary>
public sealed class RepositoryLeftAsFoundSpecs : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("bisector-worktrees-").FullName;

    private string Repo => Path.Combine(_root, "repo");

    private string Results => Path.Combine(_root, "results");

    private static string Recipe(string buildStep) => $"""
        name: tiny-incremental
        build:
          mode: incremental
          steps: ["{buildStep}"]
          artifacts: [artifact.txt]
          timeout: 2m
        run:
          command: exec sleep 30
          memory-limit: 64M
        decide:
          metric: rss_anon
        """;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Repo, "src"));
        await DemoTestSupport.GitAsync(Repo, "init", "-q", "-b", "main");
        foreach (var n in Enumerable.Range(1, 4))
        {
            await File.WriteAllTextAsync(Path.Combine(Repo, "src", "main.c"), $"int main(void) {{ return {n}; }}\n");
            await DemoTestSupport.GitAsync(Repo, "add", "-A");
            await DemoTestSupport.GitAsync(Repo, "-c", "user.name=Test", "-c", "user.email=t@example.com", "commit", "-q", "-m", $"change {n}");
        }

        // The user's own stale worktree (its folder deleted by hand): not the run's to prune.
        var mine = Path.Combine(_root, "my-old-tree");
        await DemoTestSupport.GitAsync(Repo, "worktree", "add", "-q", "--detach", mine, "HEAD~1");
        Directory.Delete(mine, recursive: true);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact(Timeout = 300_000)]
    public async Task I_can_finish_a_run_and_find_the_repositorys_worktree_list_as_it_was()
    {
        // Arrange
        var recipe = Path.Combine(_root, "tiny.yaml");
        await File.WriteAllTextAsync(recipe, Recipe("echo built > artifact.txt"));
        var before = await WorktreesAsync();

        // Act
        var run = await ToolProcess.RunAsync(TimeSpan.FromMinutes(4),
            "start", "HEAD~3..HEAD", "--repo", Repo, "--recipe", recipe, "--results", Results,
            "--window", "1s", "--warmup", "500ms", "--repeats", "2", "--max-trials", "2", "--workers", "local:1");

        // Assert
        Assert.True(run.Exit is 0 or 1, $"exit {run.Exit}:\n{run.Err}");
        Assert.Contains("report: ", run.Out);
        Assert.Equal(before, await WorktreesAsync());
        Assert.Contains("my-old-tree", before);
    }

    [Fact(Timeout = 300_000)]
    public async Task I_can_clean_a_killed_run_and_find_the_repositorys_worktree_list_as_it_was()
    {
        // Arrange: a build that hangs, so the run is killed while its incremental tree is registered
        var recipe = Path.Combine(_root, "hang.yaml");
        await File.WriteAllTextAsync(recipe, Recipe("sleep 120; echo built > artifact.txt"));
        var before = await WorktreesAsync();
        string runId;
        using (var tool = ToolProcess.Start("start", "HEAD~3..HEAD", "--repo", Repo, "--recipe", recipe, "--results", Results,
                   "--window", "1s", "--warmup", "500ms", "--repeats", "2", "--workers", "local:1"))
        {
            runId = await RunIdOfRegisteredTreeAsync(tool, TimeSpan.FromMinutes(2));
            tool.Signal(Posix.SigKill);
            await tool.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.NotEqual(before, await WorktreesAsync());

        // Act
        var clean = await ToolProcess.RunAsync(TimeSpan.FromMinutes(1), "clean", runId, "--results", Results);

        // Assert
        Assert.True(clean.Exit == 0, $"exit {clean.Exit}:\n{clean.Err}\n{clean.Out}");
        Assert.Contains("1 worktree(s)", clean.Out + clean.Err);
        Assert.Equal(before, await WorktreesAsync());
        Assert.False(Directory.Exists(RunJanitor.WorkRoot(runId)));
    }

    /// <summary>What the user sees: every registered worktree, its HEAD and whether it is prunable.</summary>
    private Task<string> WorktreesAsync() => DemoTestSupport.GitAsync(Repo, "worktree", "list", "--porcelain");

    private async Task<string> RunIdOfRegisteredTreeAsync(ToolProcess tool, TimeSpan timeout)
    {
        var prefix = RunJanitor.WorkRoot("");
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(tool.Process.HasExited, $"the run ended before its build started:\n{tool.Err}");
            var tree = (await DemoTestSupport.GitAsync(Repo, "worktree", "list", "--porcelain")).Split('\n')
                .Where(l => l.StartsWith("worktree " + prefix, StringComparison.Ordinal) && l.Contains("/build/tree-", StringComparison.Ordinal)).Select(l => l["worktree ".Length..]).FirstOrDefault();
            if (tree is not null)
                return tree[prefix.Length..].Split('/')[0];
            await Task.Delay(200);
        }

        throw new TimeoutException($"no worktree of the run was registered within {timeout}:\n{tool.Err}");
    }
}
