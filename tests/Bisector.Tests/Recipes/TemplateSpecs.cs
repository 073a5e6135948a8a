using System.Text.RegularExpressions;
using Bisector.Recipes;

namespace Bisector.Tests.Recipes;

public class TemplateSpecs
{
    private static readonly string RepositoryRoot = FindRepositoryRoot();

    [Theory]
    [InlineData("make")]
    [InlineData("cmake")]
    [InlineData("meson")]
    [InlineData("autotools")]
    public void I_can_load_each_generic_template(string template)
    {
        // Arrange
        var path = Path.Combine(RepositoryRoot, "recipes", "templates", template + ".yaml");

        // Act
        var recipe = RecipeLoader.Load(path);

        // Assert
        Assert.Equal("mydaemon", recipe.Name);
        Assert.NotEmpty(recipe.Build.Steps);
        Assert.NotEmpty(recipe.Build.Artifacts);
    }

    [Fact]
    public void I_can_find_every_recipe_key_documented_in_the_readme()
    {
        // Arrange
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "recipes", "README.md"));
        var documented = Regex.Matches(readme, @"^\| `([a-z.-]+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();

        // Act
        var undocumented = RecipeLoader.QualifiedKeys().Where(key => !documented.Contains(key)).ToArray();
        var missingProjectKeys = ProjectConfigLoader.Keys.Where(key => !documented.Contains(key)).ToArray();

        // Assert
        Assert.Empty(undocumented);
        Assert.Empty(missingProjectKeys);
    }

    [Fact]
    public void I_can_parse_the_example_of_every_documented_key_that_has_one()
    {
        // Arrange: the README's "Example" column, for keys of the recipe's sections, each spliced into a minimal recipe.
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "recipes", "README.md"));
        var rows = Regex.Matches(readme, @"^\| `((?:build|run|workload|sampling|decide|trials)\.[a-z.-]+)` \|.*\| `([^`]+)` \|$", RegexOptions.Multiline);
        Assert.True(rows.Count >= 30, $"only {rows.Count} example rows found; did the README table format change?");

        foreach (Match row in rows)
        {
            var key = row.Groups[1].Value;
            var example = row.Groups[2].Value;
            var yaml = Splice(key, example);

            // Act
            var ex = Record.Exception(() => RecipeLoader.Parse(yaml, "readme-example.yaml", RepositoryRoot));

            // Assert: the example parses, or fails only because it names a file that exists only in a real project.
            Assert.True(ex is null || ex.Message.Contains("patch file"), $"{key}: example '{example}' failed: {ex?.Message}\n{yaml}");
        }
    }

    private static string Splice(string key, string example)
    {
        var sections = new Dictionary<string, List<string>>
        {
            ["build"] = ["steps: [make]", "artifacts: [tinyd]"],
            ["run"] = ["command: ./tinyd"],
            ["decide"] = ["metric: rss_anon"],
        };
        var parts = key.Split('.');
        var section = parts[0];
        var line = parts.Length == 3 ? $"{parts[1]}: {{ {example} }}" : example;
        if (!sections.TryGetValue(section, out var lines))
            sections[section] = lines = section == "workload" ? ["command: ./load"] : [];
        // The example replaces the default line of the same key.
        lines.RemoveAll(l => l.StartsWith(line.Split(':')[0] + ":", StringComparison.Ordinal));
        lines.Add(line);
        return "name: tiny\n" + string.Concat(sections.Select(s => $"{s.Key}:\n" + string.Concat(s.Value.Select(l => $"  {l}\n"))));
    }

    private static string FindRepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Bisector.sln")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("Bisector.sln not found above " + AppContext.BaseDirectory);
    }
}
