using System.Text;
using Bisector.Recipes;
using static Bisector.Tests.Recipes.RecipeFixtures;

namespace Bisector.Tests.Recipes;

public class HostileInputSpecs
{
    [Fact]
    public void I_get_a_yaml_bomb_rejected_at_its_first_alias()
    {
        // Arrange: the classic "billion laughs", nine levels of nine aliases.
        var bomb = new StringBuilder("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (var level = 'b'; level <= 'i'; level++)
        {
            var previous = (char)(level - 1);
            bomb.Append(level).Append(": &").Append(level).Append(" [")
                .Append(string.Join(",", Enumerable.Repeat("*" + previous, 9))).Append("]\n");
        }

        // Act & Assert
        AssertRecipeError(bomb.ToString(), 2, "alias '*a'", "not supported");
    }

    [Fact]
    public void I_get_an_alias_rejected_even_when_it_is_harmless()
    {
        AssertRecipeError(Minimal + "\ndescription: &d text\nx: *d\n", 10, "alias '*d'");
    }

    [Fact]
    public void I_get_a_huge_file_rejected_before_it_is_parsed()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = folder.Write("huge.yaml", Minimal + "\n# " + new string('x', 2 * 1024 * 1024) + "\n");

        // Act
        var ex = Assert.Throws<ConfigException>(() => RecipeLoader.Load(path));

        // Assert
        Assert.Equal(path, ex.File);
        Assert.Contains("more than the 1024 KiB", ex.Message);
    }

    [Fact]
    public void I_get_deep_nesting_rejected_without_a_stack_overflow()
    {
        // Arrange
        const int depth = 100_000;
        var yaml = "name: " + new string('[', depth) + new string(']', depth) + "\n";

        // Act & Assert
        AssertRecipeError(yaml, 1, "nests deeper than 32 levels");
    }

    [Fact]
    public void I_get_tab_indentation_named_with_its_line()
    {
        AssertRecipeError("name: x\nbuild:\n\tsteps: [make]\n", 3, "indented with a tab", "spaces");
    }

    [Fact]
    public void I_get_duplicate_keys_rejected_with_both_lines()
    {
        AssertRecipeError(Minimal.Replace("  command: ./tinyd", "  command: ./tinyd\n  command: ./other"), 7,
            "duplicate key 'command' (first at line 6, again at line 7)");
    }

    [Fact]
    public void I_get_non_utf8_bytes_named_with_their_line()
    {
        // Arrange: Latin-1 'é' on line 2.
        using var folder = new TempFolder();
        var bytes = Encoding.ASCII.GetBytes("name: tiny\ndescription: caf").Concat(new byte[] { 0xE9 }).Concat(Encoding.ASCII.GetBytes("\n")).ToArray();
        var path = folder.WriteBytes("latin1.yaml", bytes);

        // Act & Assert
        AssertError(() => RecipeLoader.Load(path), path, 2, "not valid UTF-8", "save the file as UTF-8");
    }

    [Fact]
    public void I_can_load_a_utf8_file_with_a_byte_order_mark()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = folder.WriteBytes("bom.yaml", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Minimal)]);

        // Act
        var recipe = RecipeLoader.Load(path);

        // Assert
        Assert.Equal("tiny", recipe.Name);
    }

    [Fact]
    public void I_get_a_utf16_file_rejected_clearly()
    {
        using var folder = new TempFolder();
        var path = folder.WriteBytes("utf16.yaml", [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(Minimal)]);

        AssertError(() => RecipeLoader.Load(path), path, 1, "UTF-16");
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    [InlineData("# only a comment\n")]
    [InlineData("~\n")]
    public void I_get_an_empty_recipe_rejected(string yaml)
    {
        var ex = Assert.Throws<ConfigException>(() => Parse(yaml));

        Assert.Equal("test.yaml", ex.File);
        Assert.Contains("is empty", ex.Message);
        Assert.Contains("build.steps", ex.Message);
    }

    [Theory]
    [InlineData("name: [unclosed\nbuild: {}\n", 1)]
    [InlineData("name: x\n  build: y\n", 2)]
    [InlineData("name: x\nbuild:\n  steps: [make]\n bad: indent\n", 4)]
    [InlineData("name: \"unterminated\nbuild: x\n", 1)]
    public void I_get_yaml_syntax_errors_with_their_line(string yaml, int line)
    {
        AssertRecipeError(yaml, line, "is not valid YAML");
    }

    [Theory]
    [InlineData("- a\n- b\n", "must be a mapping")]
    [InlineData("just text\n", "must be a mapping")]
    [InlineData(Minimal + "\n---\nname: second\n", "more than one YAML document")]
    [InlineData("? [a, b]\n: c\n", "list or mapping as a key")]
    [InlineData("name: a\u0001b\n", "control character U+0001")]
    public void I_get_documents_of_the_wrong_shape_rejected(string yaml, string fragment)
    {
        var ex = Assert.Throws<ConfigException>(() => Parse(yaml));

        Assert.Equal("test.yaml", ex.File);
        Assert.NotNull(ex.Line);
        Assert.Contains(fragment, ex.Message);
    }

    [Fact]
    public void I_get_a_directory_passed_as_a_recipe_rejected()
    {
        using var folder = new TempFolder();

        var ex = Assert.Throws<ConfigException>(() => RecipeLoader.Load(folder.Path));

        Assert.Contains("is a directory", ex.Message);
    }
}
