using System.Text;
using System.Text.RegularExpressions;

namespace Bisector.Recipes;

public enum BuildSystem
{
    Make,
    CMake,
    Meson,
    Autotools,
}

/// <summary>What <c>bisector init</c> found in a repository: its build system and the executables its build files
/// declare (the daemon is probably one of them, a load generator perhaps another).</summary>
/// <param name="OutputDirectory">Where the build puts executables, relative to the source tree ("build/" for the
/// templates' CMake and meson build folders, "src/" for a src/Makefile.am).</param>
public sealed record ProjectScan(BuildSystem BuildSystem, string BuildFile, IReadOnlyList<string> Executables, string OutputDirectory = "")
{
    /// <summary>The likeliest daemon: a name ending in "d" (sshd, journald), else the first executable.</summary>
    public string? LikelyDaemon => Executables.FirstOrDefault(e => e.EndsWith('d')) ?? Executables.FirstOrDefault();
}

/// <summary>What the user decided (or <c>init</c> inferred) to fill a template with.</summary>
public sealed record DraftChoices(string Daemon, IReadOnlyList<string> Artifacts, string? Command, string? Workload, string? ReadyFile, string? MinEffect);

/// <summary>
/// The pure part of <c>bisector init</c>: detect the build system from the repository's top-level files and draft a
/// recipe from the matching template (recipes/templates/, embedded in the tool). The draft keeps the template's
/// comments and marks with <c># DECIDE:</c> every line the user must check, so nothing inferred passes as known.
/// </summary>
public static partial class RecipeDraft
{
    public const string DecideMarker = "# DECIDE:";

    /// <summary>Meson and CMake first: their projects often carry a generated or helper Makefile too.</summary>
    public static ProjectScan? Scan(string repository)
    {
        string? Read(string name) => File.Exists(Path.Combine(repository, name)) ? File.ReadAllText(Path.Combine(repository, name)) : null;

        if (Read("meson.build") is { } meson)
            return new ProjectScan(BuildSystem.Meson, "meson.build", Distinct(MesonExecutable().Matches(meson).Select(m => m.Groups[1].Value)), "build/");
        if (Read("CMakeLists.txt") is { } cmake)
            return new ProjectScan(BuildSystem.CMake, "CMakeLists.txt", Distinct(CMakeExecutable().Matches(cmake).Select(m => m.Groups[1].Value)), "build/");
        foreach (var name in new[] { "configure.ac", "configure.in", "configure" })
        {
            if (Read(name) is not null)
            {
                var top = Read("Makefile.am");
                var programs = top ?? Read("src/Makefile.am") ?? "";
                var names = AutomakePrograms().Matches(programs)
                    .SelectMany(m => m.Groups[1].Value.Split([' ', '\t', '\\', '\n'], StringSplitOptions.RemoveEmptyEntries));
                return new ProjectScan(BuildSystem.Autotools, name, Distinct(names), top is null && programs.Length > 0 ? "src/" : "");
            }
        }

        foreach (var name in new[] { "GNUmakefile", "Makefile", "makefile" })
        {
            if (Read(name) is { } make)
                return new ProjectScan(BuildSystem.Make, name, Distinct(MakeTargets(make)));
        }

        return null;
    }

    /// <summary>Targets a Makefile builds that look like programs: not phony, no pattern, no file extension.</summary>
    internal static IEnumerable<string> MakeTargets(string makefile)
    {
        var phony = PhonyLine().Matches(makefile).SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
        string[] conventional = ["all", "clean", "install", "uninstall", "check", "test", "tests", "distclean", "dist", "default", "help"];
        foreach (Match m in MakeRule().Matches(makefile))
        {
            foreach (var target in m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!phony.Contains(target) && !conventional.Contains(target) && !target.Contains('.') && !target.Contains('%') && !target.Contains('$') && !target.Contains('/'))
                    yield return target;
            }
        }
    }

    public static string TemplateName(BuildSystem system) => system.ToString().ToLowerInvariant();

    /// <summary>The template's text, as shipped in recipes/templates/ (embedded, so an installed tool has them).</summary>
    public static string Template(BuildSystem system)
    {
        using var stream = typeof(RecipeDraft).Assembly.GetManifestResourceStream($"Bisector.Templates.{TemplateName(system)}.yaml")
            ?? throw new InvalidOperationException($"template {TemplateName(system)} is not embedded in the tool");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Fills <paramref name="template"/>: the daemon's name for "mydaemon", the artifacts, the run and workload
    /// commands and the ready file when given; every value the template only guesses is marked <see cref="DecideMarker"/>.</summary>
    public static string Render(string template, BuildSystem system, DraftChoices c)
    {
        var lines = template.Replace("\r\n", "\n").Split('\n').ToList();
        var output = new StringBuilder();
        output.Append($"# Drafted by 'bisector init' from recipes/templates/{TemplateName(system)}.yaml. Check every line marked\n")
              .Append($"# '{DecideMarker}', then run 'bisector recipe check <this file>' to measure its noise before a long run.\n");
        string? section = null;
        var skipList = false;
        foreach (var raw in lines)
        {
            var line = raw.Replace("mydaemon", c.Daemon, StringComparison.Ordinal);
            if (line.StartsWith("# Template:", StringComparison.Ordinal) || line.StartsWith("# Copy to recipes/", StringComparison.Ordinal) ||
                (section is null && line.StartsWith("# ", StringComparison.Ordinal)))
                continue;
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]) && !line.StartsWith('#'))
                section = line.Split(':')[0];
            if (skipList)
            {
                if (line.StartsWith("    - ", StringComparison.Ordinal))
                    continue;
                skipList = false;
            }

            var key = line.TrimStart().Split(':')[0];
            switch (section, key)
            {
                case ("build", "artifacts") when line.StartsWith("  artifacts:", StringComparison.Ordinal):
                    output.Append("  artifacts:").Append(Pad("  artifacts:")).Append(DecideMarker).Append(" every file the daemon and its workload need, relative to the source tree\n");
                    foreach (var artifact in c.Artifacts)
                        output.Append("    - ").Append(Quote(artifact)).Append('\n');
                    skipList = true;
                    continue;
                case ("run", "command") when line.StartsWith("  command:", StringComparison.Ordinal):
                    var command = c.Command ?? "./" + (c.Artifacts.FirstOrDefault(a => Path.GetFileName(a) == c.Daemon) ?? c.Daemon);
                    output.Append("  command: ").Append(Quote(command));
                    output.Append(c.Command is null ? "  " + DecideMarker + " flags that keep it in the foreground; per-trial state under $BISECTOR_RUN_DIR\n" : "\n");
                    continue;
                case ("run", "ready") when line.StartsWith("  ready:", StringComparison.Ordinal):
                    output.Append(c.ReadyFile is { } ready
                        ? $"  ready: {{ file: {Quote(ready)}, timeout: 10s }}\n"
                        : $"  # ready: {{ file: \"$BISECTOR_RUN_DIR/{c.Daemon}.sock\", timeout: 10s }}  {DecideMarker} a file the daemon creates once it serves; without one, sampling starts at once\n");
                    continue;
                case ("workload", "command") when line.StartsWith("  command:", StringComparison.Ordinal) && c.Workload is { } workload:
                    output.Append("  command: ").Append(Quote(workload)).Append('\n');
                    continue;
                case ("decide", "min-effect") when line.StartsWith("  min-effect:", StringComparison.Ordinal) && c.MinEffect is { } minEffect:
                    output.Append("  min-effect: ").Append(minEffect).Append(Pad("  min-effect: " + minEffect)).Append("# from 'bisector init --min-effect'; 'bisector recipe check' measures what the noise supports\n");
                    continue;
            }

            if (section == "workload" && c.Workload is null && line.Length > 0)
            {
                // No load generator is known: the workload is left for the user to write, commented out.
                output.Append(line.StartsWith("workload:", StringComparison.Ordinal)
                    ? $"# workload:  {DecideMarker} a program that drives the daemon as production does (none: the daemon runs idle)\n"
                    : "# " + line + "\n");
                continue;
            }

            output.Append(line).Append('\n');
        }

        return output.ToString().TrimEnd('\n') + "\n";
    }

    /// <summary>Project defaults next to the recipe, with the choices a user must make marked.</summary>
    public static string ProjectDefaults(string recipePath, string workers) =>
        "# Project defaults for 'bisector start', drafted by 'bisector init'; flags override every key (recipes/README.md).\n" +
        $"recipe: {Quote(recipePath)}\n" +
        $"paths: []                         {DecideMarker} pathspecs whose commits may be the culprit, e.g. [src/]; [] = every commit\n" +
        $"workers: [{workers}]                {DecideMarker} local:N runs N trials at once here; ssh://… or slurm:… spread them\n" +
        "strategy: bisect\n" +
        "confidence: 0.95\n" +
        "alpha: 0.01\n" +
        "results: results\n";

    private static string Pad(string text) => new(' ', Math.Max(1, 34 - text.Length));

    /// <summary>YAML-quotes a value that would otherwise not read back as the same plain string.</summary>
    private static string Quote(string value) =>
        PlainScalar().IsMatch(value) ? value : "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static IReadOnlyList<string> Distinct(IEnumerable<string> names) => names.Where(n => n.Length > 0).Distinct().ToArray();

    [GeneratedRegex(@"^[A-Za-z0-9_./$-][A-Za-z0-9_./$ -]*$")]
    private static partial Regex PlainScalar();

    [GeneratedRegex(@"executable\(\s*'([^']+)'")]
    private static partial Regex MesonExecutable();

    [GeneratedRegex(@"add_executable\(\s*([A-Za-z0-9_.+-]+)", RegexOptions.IgnoreCase)]
    private static partial Regex CMakeExecutable();

    [GeneratedRegex(@"^\s*s?bin_PROGRAMS\s*\+?=\s*((?:[^\n\\]|\\\n)*)", RegexOptions.Multiline)]
    private static partial Regex AutomakePrograms();

    [GeneratedRegex(@"^([A-Za-z0-9_][A-Za-z0-9_ .%$()/-]*?)\s*:(?!=)", RegexOptions.Multiline)]
    private static partial Regex MakeRule();

    [GeneratedRegex(@"^\.PHONY\s*:\s*(.*)$", RegexOptions.Multiline)]
    private static partial Regex PhonyLine();
}
