using Bisector.Cli;
using Bisector.Demo;
using Bisector.Recipes;
using Bisector.Sampling;
using Bisector.Statistics;
using Bisector.Storage;
using Bisector.Tests.Storage;

namespace Bisector.Tests.Reliability;

/// <summary>
/// <c>start --dry-run</c> is where users check their set-up: it checks everything a real run checks before its first
/// build — the recipe (unknown keys included), bisect.yaml, the range, the worker specs — and fails with the real run's
/// exit code for each. The real tool as a child process, on the generated demo repository with its real build recipe.
/// </summary>
public sealed class DryRunSpecs : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("bisector-dryrun-").FullName;
    private DemoRepository _demo = null!;
    private string _recipe = null!;

    private string Results => Path.Combine(_root, "results");

    public async Task InitializeAsync()
    {
        _demo = await DemoRepository.CreateAsync(Path.Combine(_root, "repo"));
        _recipe = await DemoCommand.WriteRecipeAsync(Path.Combine(_root, "recipes"));
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact(Timeout = 120_000)]
    public async Task I_can_dry_run_a_valid_set_up_and_see_what_was_checked()
    {
        // Act
        var dry = await StartAsync(dryRun: true, ["--workers", "local:2"]);

        // Assert
        Assert.True(dry.Exit == 0, dry.Err);
        Assert.Contains($"{_demo.CandidateCount} change src/store/* and will be tested", dry.Out);
        Assert.Contains("Checked, as a real run would before its first build:", dry.Out);
        Assert.Contains($"recipe      {_recipe} valid: 'demo-daemon'", dry.Out);
        Assert.Contains("workers     local-1, local-2 (specs valid;", dry.Out);
        Assert.Contains("plan: a change of min-effect (1.00 MiB): ≈ ", dry.Out);
        Assert.Contains("  basis: none: nothing measured with this recipe in this results folder yet", dry.Out);
        Assert.Contains("Dry run: nothing was built, run or stored.", dry.Out);
        Assert.False(File.Exists(Path.Combine(Results, "bisector.db")), "a dry run stored something");
    }

    [Fact(Timeout = 120_000)]
    public async Task I_can_dry_run_and_see_a_cost_plan_from_a_stored_run_of_the_same_recipe()
    {
        // Arrange: a stored run of this recipe in the results folder (its good end's trials at 4.3 MiB, bad at 8.4 MiB)
        var recipe = RecipeLoader.Load(_recipe);
        string runId;
        await using (var store = await ResultsStore.OpenAsync(Path.Combine(Results, "bisector.db")))
        {
            var run = await StoredRun.CreateAsync(store, recipe, candidates: 4);
            runId = run.Id;
            for (var i = 0; i < 3; i++)
            {
                await run.AddTrialAsync(0, i, Flat(4.3 + 0.01 * i));
                await run.AddTrialAsync(4, i, Flat(8.4 - 0.01 * i));
            }
        }

        // Act
        var dry = await StartAsync(dryRun: true, ["--workers", "local:2"]);

        // Assert
        Assert.True(dry.Exit == 0, dry.Err);
        Assert.Matches(@"plan: ≈ \d+ trials \(\d+–\d+\) in ≈ \d+ rounds ≈ .* on local:2", dry.Out);
        Assert.Contains($"  basis: stored run {runId} of this recipe (running, 6 trial(s), 0 build(s))", dry.Out);
        Assert.Contains("Dry run: nothing was built, run or stored.", dry.Out);
    }

    private static IReadOnlyDictionary<string, TrialSeries> Flat(double mib)
    {
        var t = Enumerable.Range(0, 80).Select(i => i / 10.0).ToList();
        return new Dictionary<string, TrialSeries> { [Metrics.RssAnon] = new(t, t.Select(_ => mib * 1024 * 1024).ToList()) };
    }

    [Theory(Timeout = 180_000)]
    [InlineData("recipe-unknown-key", 3, "unknown key 'decide.bogus'")]
    [InlineData("recipe-bad-value", 3, "min-effect")]
    [InlineData("bisect-yaml-unknown-key", 3, "bisect.yaml:2:")]
    [InlineData("worker-spec", 2, "--workers")]
    [InlineData("range", 4, "nosuchtag")]
    public async Task I_can_dry_run_a_broken_set_up_and_get_the_real_runs_error_and_exit_code(string broken, int exitCode, string fragment)
    {
        // Arrange
        string[] extra = ["--workers", "local:1"];
        var range = "v1.0..v1.1";
        var yaml = await File.ReadAllTextAsync(_recipe);
        switch (broken)
        {
            case "recipe-unknown-key":
                var unknownKey = yaml.Replace("decide:\n", "decide:\n  bogus: 1\n", StringComparison.Ordinal);
                Assert.NotEqual(yaml, unknownKey);
                await File.WriteAllTextAsync(_recipe, unknownKey);
                break;
            case "recipe-bad-value":
                var badValue = System.Text.RegularExpressions.Regex.Replace(yaml, "min-effect: [^\n]*", "min-effect: lots");
                Assert.NotEqual(yaml, badValue);
                await File.WriteAllTextAsync(_recipe, badValue);
                break;
            case "bisect-yaml-unknown-key":
                var config = Path.Combine(_root, "bisect.yaml");
                await File.WriteAllTextAsync(config, "# project defaults\nrepeatz: 3\n");
                extra = [.. extra, "--config", config];
                break;
            case "worker-spec":
                extra = ["--workers", "local:0"];
                break;
            case "range":
                range = "nosuchtag..v1.1";
                break;
        }

        // Act
        var dry = await StartAsync(dryRun: true, [.. extra], range);
        var real = await StartAsync(dryRun: false, [.. extra], range);

        // Assert: the same error, the same exit code, and the real run failed before building anything
        Assert.True(dry.Exit == exitCode, $"dry run: exit {dry.Exit}, expected {exitCode}:\n{dry.Err}\n{dry.Out}");
        Assert.Equal(real.Exit, dry.Exit);
        Assert.Contains(fragment, dry.Err);
        Assert.Equal(real.Err.Trim(), dry.Err.Trim());
        Assert.DoesNotContain("Checked", dry.Out);
        Assert.False(Directory.Exists(Path.Combine(Results, "cache")), "the real run built something");
    }

    private Task<(int Exit, string Out, string Err)> StartAsync(bool dryRun, string[] extra, string range = "v1.0..v1.1") =>
        ToolProcess.RunAsync(TimeSpan.FromMinutes(1),
            ["start", range, "--paths", .. _demo.Paths, "--repo", _demo.Path, "--recipe", _recipe, "--results", Results, .. extra, .. (dryRun ? new[] { "--dry-run" } : [])]);
}
