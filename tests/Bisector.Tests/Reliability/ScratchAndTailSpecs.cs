namespace Bisector.Tests.Reliability;

/// <summary>The two small helpers every stage shares: removing the tool's own scratch folders and quoting the end of a
/// failed process's output.</summary>
public sealed class ScratchAndTailSpecs
{
    [Fact]
    public void I_can_remove_a_scratch_folder_and_ask_again_for_one_that_is_gone()
    {
        // Arrange
        var folder = Directory.CreateTempSubdirectory("bisector-scratch-").FullName;
        Directory.CreateDirectory(Path.Combine(folder, "t", "run"));
        File.WriteAllText(Path.Combine(folder, "t", "run", "ready"), "");

        // Act
        Scratch.TryDelete(folder);
        Scratch.TryDelete(folder);

        // Assert
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public void I_can_quote_the_last_lines_of_a_failed_processes_output_without_its_trailing_blank_lines()
    {
        // Arrange
        var output = string.Join('\n', Enumerable.Range(1, 30).Select(i => $"line {i}")) + "\n\n";

        // Act
        var twenty = ProcessFailedException.TailOf(output);
        var two = ProcessFailedException.TailOf(output, 2);

        // Assert
        Assert.Equal(20, twenty.Split('\n').Length);
        Assert.StartsWith("line 11\n", twenty, StringComparison.Ordinal);
        Assert.Equal("line 29\nline 30", two);
        Assert.Equal("", ProcessFailedException.TailOf(""));
    }
}
