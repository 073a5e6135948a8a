using System.CommandLine;
using Bisector.Recipes;
using Spectre.Console;

namespace Bisector.Cli;

/// <summary><c>bisector init</c>: in a user's repository, detect the build system, infer (or ask) the daemon and its
/// artifacts, and write bisect.yaml and recipes/&lt;daemon&gt;.yaml from the matching template.</summary>
internal static class InitCommand
{
    internal sealed record Settings(string Repository, string? Daemon, string[] Artifacts, string? Command, string? Workload,
        string? Ready, string? MinEffect, string? BuildSystem, string Workers, bool Yes, bool Force);

    public static Command Create()
    {
        var repo = new Option<string?>("--repo") { Description = "The repository to set up (default: the current folder)" };
        var daemon = new Option<string?>("--daemon") { Description = "The daemon's executable name (default: inferred from the build files, or asked)" };
        var artifacts = new Option<string[]>("--artifacts") { Description = "Files to deploy per commit, relative to the source tree (default: the executables found)", AllowMultipleArgumentsPerToken = true };
        var command = new Option<string?>("--command") { Description = "How to start the daemon in the foreground (default: ./DAEMON, marked to check)" };
        var workload = new Option<string?>("--workload") { Description = "A command that drives the daemon (default: none, left commented out to write)" };
        var ready = new Option<string?>("--ready") { Description = "A file the daemon creates once it serves, e.g. '$BISECTOR_RUN_DIR/d.sock'" };
        var minEffect = new Option<string?>("--min-effect") { Description = "decide.min-effect to write, e.g. 512K/min (default: the template's; 'recipe check' suggests one)" };
        var buildSystem = new Option<string?>("--build-system") { Description = "make, cmake, meson or autotools (default: detected)" };
        var workers = new Option<string>("--workers") { Description = "Workers for bisect.yaml (default local:2)", DefaultValueFactory = _ => "local:2" };
        var yes = new Option<bool>("--yes", "-y") { Description = "Never ask: take what was inferred (for scripts)" };
        var force = new Option<bool>("--force") { Description = "Overwrite an existing bisect.yaml or recipe" };
        var cmd = new Command("init", "Set up a repository for bisection: detect its build, write bisect.yaml and recipes/<daemon>.yaml from a template")
        {
            repo, daemon, artifacts, command, workload, ready, minEffect, buildSystem, workers, yes, force,
        };
        cmd.SetAction((parse, ct) => App.GuardAsync(() => ExecuteAsync(new Settings(
            Path.GetFullPath(parse.GetValue(repo) ?? "."), parse.GetValue(daemon), parse.GetValue(artifacts) ?? [], parse.GetValue(command),
            parse.GetValue(workload), parse.GetValue(ready), parse.GetValue(minEffect), parse.GetValue(buildSystem), parse.GetValue(workers)!,
            parse.GetValue(yes), parse.GetValue(force)), Console.Out, ct)));
        return cmd;
    }

    public static async Task<int> ExecuteAsync(Settings s, TextWriter output, CancellationToken ct = default)
    {
        if (!Directory.Exists(s.Repository))
            throw new UsageException("--repo", $"'{s.Repository}' is not a folder", "Give the repository's path, or run init inside it");
        var interactive = !s.Yes && !Console.IsInputRedirected && !Console.IsOutputRedirected;
        var scan = RecipeDraft.Scan(s.Repository);
        var system = s.BuildSystem is { } named
            ? Enum.TryParse<BuildSystem>(named, ignoreCase: true, out var chosen) ? chosen
                : throw new UsageException("--build-system", $"'{named}' is not a build system Bisector has a template for", "Use make, cmake, meson or autotools")
            : scan?.BuildSystem
              ?? throw new UsageException("--build-system", $"no Makefile, CMakeLists.txt, meson.build or configure.ac at the top of {s.Repository}",
                  "Run init at the repository root, or name the build with --build-system make|cmake|meson|autotools");
        var found = scan?.Executables ?? [];
        await output.WriteLineAsync($"build system: {system} ({scan?.BuildFile ?? "--build-system"}); executables declared: {(found.Count == 0 ? "none found" : string.Join(", ", found))}");

        var daemon = s.Daemon ?? Ask(interactive, found, scan?.LikelyDaemon);
        if (daemon.Length == 0 || daemon.Any(c => char.IsWhiteSpace(c) || c is '/' or '\\' or '\'' or '"' or ':'))
            throw new UsageException("--daemon", $"'{daemon}' is not an executable's file name", "Give the name make (or meson, cmake) builds, e.g. --daemon mydaemon");
        if (s.MinEffect is { } text && !ConfigValues.TryParseAmount(text, out _, out _) && !double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out _))
            throw new UsageException("--min-effect", $"'{text}' is not a size or a rate", "Write e.g. 1M (a level) or 512K/min (a slope)");
        var artifacts = s.Artifacts.Length > 0 ? s.Artifacts.SelectMany(a => a.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToArray()
            : new[] { daemon }.Concat(found.Where(f => f != daemon)).Select(f => (scan?.OutputDirectory ?? "") + f).ToArray();
        var choices = new DraftChoices(daemon, artifacts, s.Command, s.Workload, s.Ready, s.MinEffect);

        var recipeRelative = Path.Combine("recipes", daemon + ".yaml");
        var recipePath = Path.Combine(s.Repository, recipeRelative);
        var configPath = Path.Combine(s.Repository, "bisect.yaml");
        foreach (var path in new[] { recipePath, configPath })
        {
            if (File.Exists(path) && !s.Force)
                throw new UsageException("--force", $"{path} exists and init does not overwrite it", "Move it away, or pass --force to replace it");
        }

        var recipe = RecipeDraft.Render(RecipeDraft.Template(system), system, choices);
        Directory.CreateDirectory(Path.GetDirectoryName(recipePath)!);
        await File.WriteAllTextAsync(recipePath, recipe, ct);
        await File.WriteAllTextAsync(configPath, RecipeDraft.ProjectDefaults(recipeRelative, s.Workers), ct);
        // The draft must load: a template change that breaks it is caught here, with the file and line.
        RecipeLoader.Load(recipePath);
        var decide = recipe.Split('\n').Count(l => l.Contains(RecipeDraft.DecideMarker, StringComparison.Ordinal));
        await output.WriteLineAsync($"wrote {recipePath} (daemon {daemon}; artifacts {string.Join(", ", artifacts)}) and {configPath}");
        await output.WriteLineAsync($"next: check the {decide} line(s) marked '{RecipeDraft.DecideMarker}', then 'bisector recipe check {recipeRelative}', then 'bisector start GOOD..BAD'");
        return 0;
    }

    private static string Ask(bool interactive, IReadOnlyList<string> found, string? likely)
    {
        if (!interactive)
        {
            return likely ?? throw new UsageException("--daemon", "no executable was found in the build files to take as the daemon",
                "Name it: bisector init --daemon NAME");
        }

        if (found.Count > 1)
        {
            return AnsiConsole.Prompt(new SelectionPrompt<string>().Title("Which executable is the [green]daemon[/]?")
                .AddChoices(found.OrderByDescending(f => f == likely)));
        }

        return AnsiConsole.Prompt(new TextPrompt<string>("Daemon executable name:").DefaultValue(likely ?? "mydaemon"));
    }
}
