using Bisector.Recipes;
using static Bisector.Tests.Recipes.RecipeFixtures;

namespace Bisector.Tests.Recipes;

public class RecipeOverridesSpecs
{
    [Fact]
    public void I_can_override_trials_and_sampling_from_flags_and_get_a_new_hash()
    {
        // Arrange
        var recipe = Parse(Full);

        // Act
        var changed = RecipeOverrides.WithFlags(recipe, repeats: 5, window: TimeSpan.FromMinutes(1), warmup: TimeSpan.Zero);

        // Assert
        Assert.Equal(new TrialsSpec(5, 12), changed.Trials);
        Assert.Equal(TimeSpan.FromMinutes(1), changed.Sampling.Window);
        Assert.Equal(TimeSpan.Zero, changed.Sampling.Warmup);
        Assert.NotEqual(recipe.Hash, changed.Hash);
        // The same values written in the recipe give the same hash as the override.
        var written = Parse(Full.Replace("repeats: 3", "repeats: 5").Replace("window: 10s", "window: 60s").Replace("warmup: 2s", "warmup: 0s"));
        Assert.Equal(written.Hash, changed.Hash);
    }

    [Fact]
    public void I_get_the_recipe_unchanged_when_nothing_is_overridden()
    {
        var recipe = Parse(Full);

        Assert.Same(recipe, RecipeOverrides.WithProjectConfig(recipe, ProjectConfig.Empty("bisect.yaml")));
    }

    [Fact]
    public void I_get_a_usage_error_naming_the_flag_for_an_inconsistent_override()
    {
        // Arrange
        var recipe = Parse(Full);

        // Act
        var ex = Assert.Throws<UsageException>(() => RecipeOverrides.WithFlags(recipe, repeats: 20, maxTrials: 10));
        var window = Assert.Throws<UsageException>(() => RecipeOverrides.WithFlags(recipe, window: TimeSpan.FromMilliseconds(50)));

        // Assert
        Assert.Equal("--max-trials", ex.Option);
        Assert.Contains("smaller than the 20 repeats", ex.Message);
        Assert.Equal("--window", window.Option);
        Assert.Contains("sampling interval (100ms)", window.Message);
    }

    [Fact]
    public void I_get_a_config_error_naming_bisect_yaml_for_an_inconsistent_project_override()
    {
        // Arrange
        var recipe = Parse(Full);
        var config = ProjectConfigLoader.Parse("# defaults\nmax-trials: 2\n", "bisect.yaml", "/repo");

        // Act
        var ex = Assert.Throws<ConfigException>(() => RecipeOverrides.WithProjectConfig(recipe, config));

        // Assert
        Assert.Equal("bisect.yaml", ex.File);
        Assert.Equal(2, ex.Line);
        Assert.StartsWith("bisect.yaml:2: ", ex.Message);
        Assert.Contains("'max-trials': 2 is smaller than the 3 repeats", ex.Message);
    }
}
