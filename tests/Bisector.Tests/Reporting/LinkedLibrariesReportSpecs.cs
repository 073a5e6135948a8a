using Bisector.Building;
using Bisector.Cli;
using Bisector.Demo;
using Bisector.Git;
using Bisector.Reporting;
using Bisector.Runs;
using Bisector.Storage;
using Bisector.Tests.Demo;
using Bisector.Tests.Storage;

namespace Bisector.Tests.Reporting;

/// <summary>Where along the range the builds' linked libraries change: real gcc builds of the demo stored in SQLite,
/// then the report and the terminal summary.</summary>
public sealed class LinkedLibrariesReportSpecs : IDisposable
{
    private readonly TempDir _temp = new();

    [Fact(Timeout = 300_000)]
    public async Task I_can_see_which_built_commit_started_linking_a_library()
    {
        // Arrange: a recipe whose builds from position 5 on also link libm into demo-client (as a configure step that
        // finds an optional library would); positions 0, 3, 5 and 7 built, so 4 is between the change's two builds
        var demo = await DemoRepository.CreateAsync(_temp.Sub("repo"));
        var line = CommitLine.Of(await CommitSelector.SelectAsync(demo.Path, $"{demo.GoodRef}..{demo.BadRef}", demo.Paths));
        var linking = string.Join("|", Enumerable.Range(5, line.CandidateCount - 4).Select(p => line[p].Sha));
        var step = $"make -j2 && case \"$BISECTOR_COMMIT\" in {linking}) printf 'int main(void) {{ return 0; }}\\n' > stub.c && " +
                   "gcc -o demo-client stub.c -Wl,--no-as-needed -lm;; esac";
        var recipe = DemoTestSupport.BuildRecipe(_temp.Path, step);
        var builder = new Builder(demo.Path, recipe, _temp.Sub("cache"), _temp.Sub("scratch"));
        await using var store = await ResultsStore.OpenAsync(Path.Combine(_temp.Path, "bisector.db"));
        var run = await StoredRun.CreateAsync(store, recipe, line.CandidateCount, commits: Enumerable.Range(0, line.CandidateCount + 1).Select(p => line[p]).ToList());
        int[] built = [0, 3, 5, 7];

        // Act: built, stored and read back as the report's assembler reads them
        foreach (var p in built)
        {
            var build = await builder.BuildAsync(line[p]);
            Assert.True(build.Succeeded, build.Log);
            await store.AddBuildAsync(run.Id, build, recipe.Hash);
        }
        var links = ReportAssembler.Links(built.Select(p => (p, line[p].Sha)), await store.GetBuildsAsync(run.Id));
        var changes = LinkedLibrariesSection.Changes(links);
        var status = new StringWriter();
        await StatusCommand.ExecuteAsync(_temp.Path, run.Id, false, status);

        // Assert: every build read, and one change: demo-client links libm from 5 on, since 3 (4 was not built)
        Assert.Equal(built, links.Select(l => l.Position));
        Assert.All(links, l => Assert.Contains("libc.so.6", l.Files.Single(f => f.File == "demod").Needed));
        var change = Assert.Single(changes);
        Assert.Equal((3, 5, "demo-client"), (change.From, change.At, change.File));
        Assert.Equal(["libm.so.6"], change.Added);
        Assert.Empty(change.Removed);
        Assert.Null(change.Present);
        Assert.Contains($"links      #5 {line[5].Sha[..10]} demo-client: +libm.so.6", status.ToString());
    }

    [Fact]
    public async Task I_can_read_a_library_the_culprits_build_started_linking_beside_the_verdict()
    {
        // Arrange: the synthetic run's culprit (6) links liblzma where the build before it (5) did not, as journald v247
        // built where liblzma-dev was installed did; 8 and 10 link it too
        LinkedFile[] plain = [new("build/daemon", ["libcap.so.2", "libc.so.6"])];
        LinkedFile[] xz = [new("build/daemon", ["libcap.so.2", "liblzma.so.5", "libc.so.6"])];
        var model = SyntheticRun.Build() with { Links = [new(0, plain), new(5, plain), new(6, xz), new(8, xz), new(10, xz)] };
        var output = new StringWriter();

        // Act
        var files = await ReportWriter.WriteAsync(model, _temp.Sub("report"));
        TerminalSummary.WritePlain(model, output);
        using var json = System.Text.Json.JsonDocument.Parse(RunResultJson.Render(model, null));

        // Assert: the report's section names the culprit's change and lists the libraries; the terminal says it once,
        // the JSON result gives it as data
        var md = await File.ReadAllTextAsync(files.Markdown);
        Assert.Contains("Linked libraries (changed at 1 commit(s))", md);
        Assert.Contains("The culprit's build (6) links differently from the build before it", md);
        Assert.Contains("liblzma.so.5", md);
        Assert.Contains("libcap.so.2, libc.so.6", md);
        var html = await File.ReadAllTextAsync(files.Html);
        Assert.Contains("id=\"linked-libraries\"", html);
        var terminal = output.ToString().Split('\n').Where(l => l.StartsWith("Linked libraries:", StringComparison.Ordinal)).ToList();
        Assert.Contains("build/daemon: +liblzma.so.5", Assert.Single(terminal));
        var change = Assert.Single(json.RootElement.GetProperty("linkChanges").EnumerateArray());
        Assert.Equal((5, 6, "liblzma.so.5"), (change.GetProperty("from").GetInt32(), change.GetProperty("at").GetInt32(), change.GetProperty("added")[0].GetString()));
    }

    [Fact]
    public async Task I_can_see_one_short_paragraph_when_every_build_links_the_same()
    {
        // Arrange
        LinkedFile[] plain = [new("demod", ["libc.so.6"]), new("demo-client", ["libc.so.6"])];
        var model = SyntheticRun.Build() with { Links = [new(0, plain), new(5, plain), new(10, plain)] };
        var output = new StringWriter();

        // Act
        var files = await ReportWriter.WriteAsync(model, _temp.Sub("report"));
        TerminalSummary.WritePlain(model, output);

        // Assert
        var md = await File.ReadAllTextAsync(files.Markdown);
        Assert.Contains("Linked libraries (the same in every build)", md);
        Assert.Contains("Every build (3 commit(s)) links the same shared libraries", md);
        Assert.DoesNotContain("Linked libraries:", output.ToString());
        Assert.Empty(LinkedLibrariesSection.Changes(model.Links));
    }

    [Fact]
    public async Task I_can_see_a_library_renamed_with_the_projects_version_as_one_file_and_a_machine_librarys_new_version_beside_the_verdict()
    {
        // Arrange: journald's v247..v248 builds (run 25): at 5 the project's own library is deployed as -248.so instead of
        // -247.so and the daemon links it under that name, linking nothing else in or out; at the culprit (6) the daemon
        // links the machine's libssl under a new soname
        LinkedFile[] v247 = [new("build/src/shared/libsystemd-shared-247.so", ["libcap.so.2", "libc.so.6"]), new("build/systemd-journald", ["libsystemd-shared-247.so", "libc.so.6"])];
        LinkedFile[] v248 = [new("build/src/shared/libsystemd-shared-248.so", ["libcap.so.2", "libc.so.6"]), new("build/systemd-journald", ["libsystemd-shared-248.so", "libc.so.6"])];
        LinkedFile[] ssl3 = [v248[0], new("build/systemd-journald", ["libsystemd-shared-248.so", "libssl.so.3", "libc.so.6"])];
        LinkedFile[] ssl11 = [v248[0], new("build/systemd-journald", ["libsystemd-shared-248.so", "libssl.so.1.1", "libc.so.6"])];
        var renameOnly = SyntheticRun.Build() with { Links = [new(0, v247), new(5, v248), new(10, v248)] };
        var sslAtCulprit = SyntheticRun.Build() with { Links = [new(0, v247), new(5, ssl11), new(6, ssl3), new(10, ssl3)] };
        var output = new StringWriter();

        // Act
        var files = await ReportWriter.WriteAsync(renameOnly, _temp.Sub("rename"));
        TerminalSummary.WritePlain(renameOnly, output);
        using var json = System.Text.Json.JsonDocument.Parse(RunResultJson.Render(renameOnly, null));
        var ssl = LinkedLibrariesSection.Changes(sslAtCulprit.Links);
        var sslFiles = await ReportWriter.WriteAsync(sslAtCulprit, _temp.Sub("ssl"));

        // Assert: the renamed library is one file that links the same, the daemon's link to it a version change, and
        // neither is a change of linking in the title or on the terminal; the JSON result says both
        var md = await File.ReadAllTextAsync(files.Markdown);
        Assert.Contains("Linked libraries (the same in every build; version numbers in file names changed)", md);
        Assert.Contains("(was build/src/shared/libsystemd-shared-247.so)", md);
        Assert.Contains("libsystemd-shared-248.so (was libsystemd-shared-247.so)", md);
        Assert.DoesNotContain("no longer deployed", md);
        Assert.DoesNotContain("Linked libraries:", output.ToString());
        var changes = json.RootElement.GetProperty("linkChanges").EnumerateArray().ToList();
        Assert.Equal(2, changes.Count);
        Assert.All(changes, c => Assert.True(c.GetProperty("versionOnly").GetBoolean()));
        Assert.Equal("build/src/shared/libsystemd-shared-247.so", changes.Single(c => c.GetProperty("file").GetString()!.EndsWith(".so", StringComparison.Ordinal)).GetProperty("renamedFrom").GetString());
        var daemon = changes.Single(c => c.GetProperty("file").GetString() == "build/systemd-journald").GetProperty("replaced")[0];
        Assert.Equal(("libsystemd-shared-247.so", "libsystemd-shared-248.so", true), (daemon.GetProperty("old").GetString(), daemon.GetProperty("new").GetString(), daemon.GetProperty("own").GetBoolean()));
        // a machine library under a new soname is a change of linking, named beside the verdict
        var atCulprit = Assert.Single(ssl, c => c.At == 6);
        Assert.Equal(new LibraryRename("libssl.so.1.1", "libssl.so.3", Own: false), Assert.Single(atCulprit.Replaced));
        Assert.False(atCulprit.VersionOnly);
        Assert.Contains("The culprit's build (6) links differently from the build before it (build/systemd-journald: libssl.so.1.1 → libssl.so.3)",
            await File.ReadAllTextAsync(sslFiles.Markdown));
    }

    public void Dispose() => _temp.Dispose();
}
