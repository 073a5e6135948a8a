using System.Text.Json;
using System.Text.RegularExpressions;
using Bisector.Tests.Git;
using Bisector.Tests.Reliability;

namespace Bisector.Tests.EndToEnd;

/// <summary>
/// A new user's path, end to end with the real tool: a repository with a plain Makefile daemon of its own (a small C
/// program that starts leaking at a known commit) → <c>init --yes</c> → <c>recipe check</c> → <c>start --json</c> names
/// the culprit. Windows are short (1 s warm-up, 3 s window): a leak of 300 MiB/min against a flat good side needs no
/// more, and the trial count is the search's own.
/// </summary>
[LongRunning(71)]
public sealed class FirstVerdictSpecs
{
    private const string GoodDaemon = """
        #include <signal.h>
        #include <unistd.h>

        int main(void)
        {
            signal(SIGPIPE, SIG_IGN);
            for (;;)
                usleep(50 * 1000);
        }
        """;

    // 256 KiB every 50 ms, touched so it is resident, never freed: 5 MiB/s.
    private const string LeakyDaemon = """
        #include <signal.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>

        int main(void)
        {
            signal(SIGPIPE, SIG_IGN);
            for (;;)
            {
                char *block = malloc(256 * 1024);
                if (block)
                    memset(block, 1, 256 * 1024);
                usleep(50 * 1000);
            }
        }
        """;

    private const string Makefile = "all: leakd\n\nleakd: leakd.c\n\t$(CC) -O2 -o leakd leakd.c\n\nclean:\n\trm -f leakd\n\n.PHONY: all clean\n";

    [Fact(Timeout = 1_500_000)]
    public async Task I_can_go_from_a_make_built_daemon_to_a_named_culprit_with_init_recipe_check_and_start()
    {
        // Arrange: 6 commits after the good anchor; the 4th starts the leak.
        await using var repo = await TempGitRepo.CreateAsync();
        var results = Path.Combine(repo.Path, "results-e2e");
        repo.Write("leakd.c", GoodDaemon);
        repo.Write("Makefile", Makefile);
        repo.Write(".gitignore", "leakd\nresults-e2e/\n");
        var good = await repo.CommitAsync("leakd: a daemon that idles");
        string? culprit = null;
        for (var i = 1; i <= 6; i++)
        {
            repo.Write($"notes/{i}.txt", $"change {i}\n");
            if (i == 4)
                repo.Write("leakd.c", LeakyDaemon);
            var sha = await repo.CommitAsync(i == 4 ? "leakd: keep a buffer per tick" : $"notes: change {i}");
            if (i == 4)
                culprit = sha;
        }

        // Act 1: init, non-interactive; shorten the template's window for a test (the recipe is the user's to edit).
        var init = await ToolProcess.RunAsync(TimeSpan.FromMinutes(2), "init", "--repo", repo.Path, "--yes");
        Assert.True(init.Exit == 0, $"init: exit {init.Exit}\n{init.Err}\n{init.Out}");
        Assert.Contains("build system: Make (Makefile)", init.Out);
        var recipePath = Path.Combine(repo.Path, "recipes", "leakd.yaml");
        var recipe = await File.ReadAllTextAsync(recipePath);
        Assert.Contains("    - leakd", recipe);
        Assert.Contains("# DECIDE:", recipe);
        Assert.True(File.Exists(Path.Combine(repo.Path, "bisect.yaml")));
        await File.WriteAllTextAsync(recipePath, recipe.Replace("  warmup: 2s", "  warmup: 1s").Replace("  window: 30s", "  window: 3s"));

        // Act 2: recipe check on the good anchor.
        var check = await ToolProcess.RunAsync(TimeSpan.FromMinutes(5), "recipe", "check", recipePath, "--repo", repo.Path, "--commit", good, "--results", results);
        Assert.True(check.Exit == 0, $"recipe check: exit {check.Exit}\n{check.Err}\n{check.Out}");
        Assert.Contains("daemon    started and found behind its wrappers in 3/3 trials", check.Out);
        Assert.Contains("rss_anon (", check.Out);
        var suggestion = Regex.Match(check.Out, @"slope .* suggested min-effect (\S+/min)  ← decide.feature");
        Assert.True(suggestion.Success, check.Out);
        Assert.True(File.Exists(Regex.Match(check.Out, @"^plot      (.+)$", RegexOptions.Multiline).Groups[1].Value.Trim()), check.Out);
        await File.WriteAllTextAsync(recipePath, (await File.ReadAllTextAsync(recipePath)).Replace("  min-effect: 0 ", $"  min-effect: {suggestion.Groups[1].Value} "));

        // Act 3: start, with the machine-readable result.
        var start = await ToolProcess.RunAsync(TimeSpan.FromMinutes(20), "start", $"{good}..HEAD", "--repo", repo.Path, "--results", results, "--json");

        // Assert
        Assert.True(start.Exit == 0, $"start: exit {start.Exit}\n{start.Err}\n{start.Out}");
        using var json = JsonDocument.Parse(start.Out);
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("culprit", root.GetProperty("verdict").GetString());
        Assert.Equal(culprit, root.GetProperty("culprit").GetProperty("sha").GetString());
        var effect = root.GetProperty("effect");
        Assert.Equal("MiB/min", effect.GetProperty("unit").GetString());
        Assert.InRange(effect.GetProperty("shift").GetDouble(), 100, 400);
        Assert.Equal(7, root.GetProperty("commits").GetArrayLength());
        Assert.True(File.Exists(root.GetProperty("reports").GetProperty("markdown").GetString()));
        foreach (var verb in new[] { "status", "report" })
        {
            var again = await ToolProcess.RunAsync(TimeSpan.FromMinutes(3), verb, "--results", results, "--json");
            Assert.True(again.Exit == 0, $"{verb} --json: exit {again.Exit}\n{again.Err}\n{again.Out}");
            using var read = JsonDocument.Parse(again.Out);
            Assert.Equal(root.GetProperty("runId").GetString(), read.RootElement.GetProperty("runId").GetString());
            Assert.Equal("culprit", read.RootElement.GetProperty("verdict").GetString());
            Assert.Equal(culprit, read.RootElement.GetProperty("culprit").GetProperty("sha").GetString());
            Assert.True(File.Exists(read.RootElement.GetProperty("reports").GetProperty("html").GetString()));
        }
    }

    [Fact(Timeout = 900_000)]
    public async Task I_can_check_the_demo_recipe_and_get_its_noise_and_a_suggested_min_effect_below_the_demo_effect()
    {
        // Arrange: the demo repository and recipe; the smallest culprit effect of any demo scenario is about 2.5 MiB
        // of plateau (the recipe's own comment; docs/benchmarks.md).
        await using var demo = await DemoRun.CreateAsync();

        // Act
        var check = await ToolProcess.RunAsync(TimeSpan.FromMinutes(10), "recipe", "check", demo.Recipe, "--repo", demo.Demo.Path,
            "--commit", demo.Demo.GoodRef, "--results", demo.Results);

        // Assert
        Assert.True(check.Exit == 0, $"recipe check: exit {check.Exit}\n{check.Err}\n{check.Out}");
        Assert.Matches(@"build     (Built|Cached) in ", check.Out);
        Assert.Matches(@"links     \S+: .*libc\.so\.6", check.Out);
        Assert.Contains("daemon    started and found behind its wrappers in 3/3 trials", check.Out);
        var plateau = Regex.Match(check.Out, @"plateau  median (\S+) MiB +SD (\S+) MiB +suggested min-effect (\S+)  ← decide.feature");
        Assert.True(plateau.Success, check.Out);
        Assert.True(Bisector.Recipes.ConfigValues.TryParseAmount(plateau.Groups[3].Value, out var suggested, out _), check.Out);
        Assert.InRange(suggested, 64 * 1024, 2.5 * 1024 * 1024 - 1);
        Assert.DoesNotMatch(@"\d[eE][+-]\d", check.Out);
    }
}
