using Bisector.Recipes;
using static Bisector.Tests.Recipes.RecipeFixtures;

namespace Bisector.Tests.Recipes;

public class ProjectConfigLoaderSpecs
{
    private const string Full = """
        recipe: recipes/demo-daemon.yaml   # relative to the bisect.yaml file
        paths: [src/journal, src/basic]
        workers: [local:2, "ssh://bench@10.0.0.5:2222", container:debian:12]
        strategy: kary
        confidence: 0.95
        alpha: 0.01
        repeats: 3
        max-trials: 12
        window: 10s
        warmup: 2s
        results: results
        """;

    [Fact]
    public void I_can_load_every_bisect_yaml_key_with_paths_resolved_next_to_the_file()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = folder.Write("repo/bisect.yaml", Full);

        // Act
        var config = ProjectConfigLoader.Load(path);

        // Assert
        Assert.Equal(Path.Combine(folder.Path, "repo", "recipes", "demo-daemon.yaml"), config.Recipe);
        Assert.Equal(["src/journal", "src/basic"], config.Paths);
        Assert.Equal(["local:2", "ssh://bench@10.0.0.5:2222", "container:debian:12"], config.Workers);
        Assert.Equal(SearchStrategyKind.Kary, config.Strategy);
        Assert.Equal(0.95, config.Confidence);
        Assert.Equal(0.01, config.Alpha);
        Assert.Equal(3, config.Repeats);
        Assert.Equal(12, config.MaxTrials);
        Assert.Equal(TimeSpan.FromSeconds(10), config.Window);
        Assert.Equal(TimeSpan.FromSeconds(2), config.Warmup);
        Assert.Equal(Path.Combine(folder.Path, "repo", "results"), config.Results);
        Assert.Equal(Path.GetFullPath(path), config.SourceFile);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# nothing configured yet\n")]
    public void I_get_nulls_for_every_absent_key_so_flags_can_override(string yaml)
    {
        // Act
        var config = ProjectConfigLoader.Parse(yaml, "bisect.yaml", "/repo");

        // Assert
        Assert.Equal(ProjectConfig.Empty("bisect.yaml"), config);
    }

    [Fact]
    public void I_get_nulls_only_for_the_keys_not_written_and_the_line_of_each_written_one()
    {
        // Act
        var config = ProjectConfigLoader.Parse("strategy: exhaustive\nwindow: 1m\n", "bisect.yaml", "/repo");

        // Assert
        var empty = ProjectConfig.Empty("bisect.yaml");
        Assert.Equal(empty with { Strategy = SearchStrategyKind.Exhaustive, Window = TimeSpan.FromMinutes(1) }, config with { Lines = empty.Lines });
        Assert.Equal(1, config.LineOf("strategy"));
        Assert.Equal(2, config.LineOf("window"));
        Assert.Null(config.LineOf("repeats"));
    }

    [Fact]
    public void I_get_null_when_a_folder_has_no_bisect_yaml_and_a_config_when_it_has_one()
    {
        // Arrange
        using var folder = new TempFolder();

        // Act
        var absent = ProjectConfigLoader.LoadIfPresent(folder.Path);
        folder.Write("bisect.yaml", "repeats: 4\n");
        var present = ProjectConfigLoader.LoadIfPresent(folder.Path);

        // Assert
        Assert.Null(absent);
        Assert.Equal(4, present?.Repeats);
    }

    [Theory]
    [InlineData("confidence: 0.95", "confidence: 1", 5, "'confidence: 1' is out of range", "less than 1")]
    [InlineData("alpha: 0.01", "alpha: often", 6, "'alpha: often' is not a number")]
    [InlineData("strategy: kary", "strategy: bisection", 4, "did you mean 'bisect'?")]
    [InlineData("max-trials: 12", "max-trials: 2", 8, "'max-trials' (2) is smaller than 'repeats' (3)")]
    [InlineData("max-trials: 12", "max: 12", 8, "unknown key 'max'", "max-trials")]
    [InlineData("window: 10s", "window: 10", 9, "'window: 10' is not a duration", "10s")]
    [InlineData("repeats: 3", "repeats: 1", 7, "'repeats: 1' is out of range")]
    [InlineData("local:2,", "local:0,", 3, "'workers' entry 'local:0' is not a worker")]
    [InlineData("\"ssh://bench@10.0.0.5:2222\"", "ssh:bench@host", 3, "'workers' entry 'ssh:bench@host' is not a worker")]
    [InlineData("paths: [src/journal, src/basic]", "paths: src/journal", 2, "'paths' must be a list")]
    [InlineData("results: results", "results: results\nrepeats: 5", 12, "duplicate key 'repeats' (first at line 7, again at line 12)")]
    public void I_get_bad_bisect_yaml_values_named_with_file_line_and_fix(string oldText, string newText, int line, params string[] fragments)
    {
        // Arrange
        Assert.Contains(oldText, Full);
        var yaml = Full.Replace(oldText, newText);

        // Act & Assert
        AssertError(() => ProjectConfigLoader.Parse(yaml, "bisect.yaml", "/repo"), "bisect.yaml", line, fragments);
    }

    [Fact]
    public void I_get_aliases_in_bisect_yaml_rejected_too()
    {
        AssertError(() => ProjectConfigLoader.Parse("paths: &p [a]\nworkers: *p\n", "bisect.yaml", "/repo"), "bisect.yaml", 2, "alias '*p'");
    }
}
