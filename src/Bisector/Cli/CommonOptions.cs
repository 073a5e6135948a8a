using System.CommandLine;

namespace Bisector.Cli;

/// <summary>Options several verbs share, so they are spelled and described the same everywhere.</summary>
internal static class CommonOptions
{
    public static Option<string> Results() => new("--results")
    {
        Description = "Results folder holding bisector.db and one folder per run (default: 'results:' in bisect.yaml, else ./results)",
    };

    public static Option<bool> Json() => new("--json")
    {
        Description = "Write one machine-readable result to standard output instead of the summary (shape: docs/json.md)",
    };

    public static Option<bool> NoRevert() => new("--no-revert")
    {
        Description = "Skip the revert proof (by default a named culprit is reverted on the bad end, built and measured against both ends)",
    };

    public static Argument<string?> RunId() => new("run")
    {
        Description = "Run id or a unique prefix of it (default: the latest run)",
        Arity = ArgumentArity.ZeroOrOne,
    };
}
