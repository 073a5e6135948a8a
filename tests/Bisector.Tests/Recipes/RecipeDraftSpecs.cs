using Bisector.Recipes;

namespace Bisector.Tests.Recipes;

public sealed class RecipeDraftSpecs
{
    [Theory]
    [InlineData("Makefile", "all: stored client\nstored: main.o\n\t$(CC) -o $@ $^\nclient: client.c\n\t$(CC) -o $@ $<\n%.o: %.c\n\t$(CC) -c $<\nclean:\n\trm -f *.o\n.PHONY: all clean\n", BuildSystem.Make, "stored", "client")]
    [InlineData("CMakeLists.txt", "project(x C)\nadd_executable(bench bench.c)\nadd_executable(cached main.c)\n", BuildSystem.CMake, "cached", "bench")]
    [InlineData("meson.build", "project('x', 'c')\nexecutable('journald', 'j.c')\nexecutable('journal-ctl', 'c.c')\n", BuildSystem.Meson, "journald", "journal-ctl")]
    [InlineData("configure.ac", "AC_INIT([x], [1])\n", BuildSystem.Autotools, "mydaemond", "tool")]
    public void I_can_have_the_build_system_and_the_daemon_inferred_from_the_build_files(string file, string content, BuildSystem system, string daemon, string other)
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write(file, content);
        if (system == BuildSystem.Autotools)
            folder.Write("Makefile.am", "bin_PROGRAMS = tool \\\n  mydaemond\n");

        // Act
        var scan = RecipeDraft.Scan(folder.Path);

        // Assert
        Assert.NotNull(scan);
        Assert.Equal(system, scan.BuildSystem);
        Assert.Equal(daemon, scan.LikelyDaemon);
        Assert.Contains(other, scan.Executables);
    }

    [Theory]
    [InlineData(BuildSystem.Make)]
    [InlineData(BuildSystem.CMake)]
    [InlineData(BuildSystem.Meson)]
    [InlineData(BuildSystem.Autotools)]
    public void I_can_load_the_recipe_drafted_from_each_template_with_the_lines_to_decide_marked(BuildSystem system)
    {
        // Arrange
        using var folder = new TempFolder();
        var choices = new DraftChoices("stored", ["stored", "tools/stored-load"], null, null, null, system == BuildSystem.Make ? "256K/min" : null);

        // Act
        var text = RecipeDraft.Render(RecipeDraft.Template(system), system, choices);
        var recipe = RecipeLoader.Load(folder.Write("recipes/stored.yaml", text));

        // Assert
        Assert.Equal("stored", recipe.Name);
        Assert.Equal(["stored", "tools/stored-load"], recipe.Build.Artifacts);
        Assert.Equal("./stored", recipe.Run.Command);
        Assert.Null(recipe.Workload);
        Assert.DoesNotContain("mydaemon", text);
        Assert.True(text.Split('\n').Count(l => l.Contains(RecipeDraft.DecideMarker)) >= 3, text);
        if (system == BuildSystem.Make)
            Assert.Equal(256 * 1024, recipe.Decide.MinEffect);
    }
}
