using Bisector.Cli;
using Bisector.Recipes;
using Bisector.Tests.Recipes;

namespace Bisector.Tests.Runs;

/// <summary>flags > bisect.yaml > recipe, resolved once: each error names the source of the bad value, and what a run
/// stores resolves to the same recipe (and hash) when it resumes.</summary>
public sealed class RunSettingsSpecs : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public void I_can_raise_repeats_by_flag_over_a_bisect_yaml_cap_and_resume_to_the_same_recipe()
    {
        // Arrange: bisect.yaml caps at 4 trials; the flag asks for 6 first trials (the cap is lifted with them)
        var recipe = _folder.Write("tiny.yaml", RecipeFixtures.Full);
        var config = _folder.Write("bisect.yaml", "max-trials: 4\nwindow: 20s\n");

        // Act
        var resolved = StartCommand.Resolve(Flags(recipe, config) with { Repeats = 6 }, "bisector start");
        var o = resolved.Options;
        var resumed = RecipeOverrides.WithStoredRun(RecipeLoader.Load(recipe), "r1", o.Repeats, o.MaxTrials, o.Window, o.Warmup);

        // Assert
        Assert.Equal(new TrialsSpec(6, 6), resolved.Recipe.Trials);
        Assert.Equal(TimeSpan.FromSeconds(20), resolved.Recipe.Sampling.Window);
        Assert.Equal(resolved.Recipe.Hash, resumed.Hash);
    }

    [Fact]
    public void I_get_the_real_source_named_when_a_value_is_wrong_only_against_the_recipe()
    {
        // Arrange: the recipe samples every 100 ms; a 50 ms window is valid syntax but shorter than one interval
        var recipe = _folder.Write("tiny.yaml", RecipeFixtures.Full);
        var config = _folder.Write("bisect.yaml", "# defaults\nrepeats: 3\nwindow: 50ms\n");

        // Act
        var fromFile = Assert.Throws<ConfigException>(() => StartCommand.Resolve(Flags(recipe, config), "bisector start"));
        var fromFlag = Assert.Throws<UsageException>(() => StartCommand.Resolve(Flags(recipe, null) with { Window = "50ms" }, "bisector start"));
        var flagWins = StartCommand.Resolve(Flags(recipe, config) with { Window = "2s" }, "bisector start");

        // Assert
        Assert.Equal((config, 3), (fromFile.File, fromFile.Line));
        Assert.Contains("'window'", fromFile.Message);
        Assert.Equal("--window", fromFlag.Option);
        Assert.Equal(TimeSpan.FromSeconds(2), flagWins.Recipe.Sampling.Window);
    }

    [Fact]
    public void I_get_one_local_worker_per_core_when_neither_a_flag_nor_bisect_yaml_names_workers()
    {
        // Arrange: no bisect.yaml in the repository; a second folder has one that names workers
        var recipe = _folder.Write("tiny.yaml", RecipeFixtures.Full);
        var config = _folder.Write("with-workers.yaml", "workers: [local:3]\n");
        var cores = Environment.ProcessorCount;

        // Act
        var machine = StartCommand.Resolve(Flags(recipe, null), "bisector start").Options;
        var fromConfig = StartCommand.Resolve(Flags(recipe, config), "bisector start").Options;
        var fromFlag = StartCommand.Resolve(Flags(recipe, config) with { Workers = ["local:1"] }, "bisector start").Options;

        // Assert
        Assert.Equal([$"local:{Math.Min(cores, Bisector.Workers.DefaultWorkers.Cap)}"], machine.Workers);
        Assert.StartsWith($"default: {cores} core", machine.WorkersFrom);
        Assert.Equal(["local:3"], fromConfig.Workers);
        Assert.Equal("with-workers.yaml", fromConfig.WorkersFrom);
        Assert.Equal(["local:1"], fromFlag.Workers);
        Assert.Equal("--workers", fromFlag.WorkersFrom);
    }

    [Theory]
    [InlineData(1, "local:1", "default: 1 core")]
    [InlineData(2, "local:2", "default: 2 cores")]
    [InlineData(16, "local:4", "default: 16 cores, at most 4")]
    public void I_get_a_default_worker_count_from_the_cores_capped(int cores, string spec, string why)
    {
        // Act
        var chosen = Bisector.Workers.DefaultWorkers.ForThisMachine(cores);

        // Assert
        Assert.Equal((spec, why), chosen);
    }

    public void Dispose() => _folder.Dispose();

    private StartCommand.Settings Flags(string recipe, string? config) =>
        new("a..b", [], recipe, [], null, null, null, null, null, null, null, Path.Combine(_folder.Path, "results"), _folder.Path, config, false, false, false);
}
