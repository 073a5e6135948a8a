using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Bisector.Recipes;
using Bisector.Statistics;

namespace Bisector.Reporting;

/// <summary>What a run looks for: the commit that made the deciding feature worse (git bisect's default), or, with
/// <c>--find-fix</c>, the one that made it better. Stored by name with the run's options.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RunKind>))]
public enum RunKind
{
    Regression,
    Fix,
}

/// <summary>
/// The words a run speaks, decided once at its start from <c>--find-fix</c> and <c>--term-old</c>/<c>--term-new</c>
/// (git bisect's vocabulary) and stored with the run, so start, resume, status, report, export and <c>--json</c> all
/// say the same thing. Every user-visible "culprit", "regression", "good" and "bad" goes through here; the rest of the
/// program decides with Regressed/Same/Improved and positions, never with words.
/// </summary>
/// <param name="Kind">What the run looks for.</param>
/// <param name="Old">The state of the old end of the range (git's <c>--term-old</c>; "good" by default).</param>
/// <param name="New">The state of the new end (git's <c>--term-new</c>; "bad" by default).</param>
public sealed partial record Terms(RunKind Kind, string Old, string New)
{
    public const string OldFlag = "--term-old";
    public const string NewFlag = "--term-new";
    public const string FindFixFlag = "--find-fix";

    /// <summary>A regression run in git bisect's default words.</summary>
    public static Terms Regression { get; } = new(RunKind.Regression, "good", "bad");

    /// <summary>A fix run's words when no terms are given (git's own example: <c>--term-old broken --term-new fixed</c>).</summary>
    public static Terms Fix { get; } = new(RunKind.Fix, "broken", "fixed");

    private const int MaxTermLength = 24;

    // As git bisect: good/old describe only the old end and bad/new only the new end, so a swapped pair cannot invert a verdict.
    private static readonly string[] OldOnly = ["good", "old"];
    private static readonly string[] NewOnly = ["bad", "new"];

    /// <summary>Validates the flags once: both terms or neither, each one word, not the same word twice, git's fixed
    /// words on their own side. Errors name the flag.</summary>
    /// <exception cref="UsageException">A term is missing, malformed, repeated or on the wrong side.</exception>
    public static Terms Resolve(bool findFix, string? termOld, string? termNew)
    {
        var defaults = findFix ? Fix : Regression;
        if (termOld is null && termNew is null)
            return defaults;
        if (termOld is null)
            throw new UsageException(NewFlag, $"'{termNew}' was given without {OldFlag}", $"Name both states, e.g. {OldFlag} broken {NewFlag} fixed, or neither");
        if (termNew is null)
            throw new UsageException(OldFlag, $"'{termOld}' was given without {NewFlag}", $"Name both states, e.g. {OldFlag} broken {NewFlag} fixed, or neither");
        var old = Check(OldFlag, termOld, NewOnly, defaults.IsFix);
        var @new = Check(NewFlag, termNew, OldOnly, defaults.IsFix);
        if (string.Equals(old, @new, StringComparison.OrdinalIgnoreCase))
            throw new UsageException(NewFlag, $"'{termNew}' is also {OldFlag}, so the two ends could not be told apart", $"Give two different words, e.g. {OldFlag} broken {NewFlag} fixed");
        return new Terms(defaults.Kind, old, @new);
    }

    private static string Check(string flag, string term, string[] otherSide, bool fix)
    {
        var word = term.Trim();
        if (!TermPattern().IsMatch(word))
            throw new UsageException(flag, $"'{term}' is not one word of letters, digits, '-' or '_' (at most {MaxTermLength} characters)",
                "Give a short word for the state, e.g. broken, fixed, fast or slow");
        if (otherSide.Contains(word, StringComparer.OrdinalIgnoreCase))
            throw new UsageException(flag, $"'{word}' names the other end in git bisect's words", $"Use '{word}' on the other flag, or another word");
        // A fix run rewrites these words wherever the tool speaks; as a term they would be rewritten again.
        if (fix && FixWords().Match(word.ToLowerInvariant()) is { Success: true } hit && hit.Length == word.Length)
            throw new UsageException(flag, $"'{word}' is a word a {FindFixFlag} run puts into its own words (culprit, regression, worse, ...)",
                "Give another word for the state, e.g. broken, fixed, slow or fast");
        return word.ToLowerInvariant();
    }

    [GeneratedRegex(@"^\p{L}[\p{L}\p{Nd}_-]{0,23}$")]
    private static partial Regex TermPattern();

    [JsonIgnore]
    public bool IsFix => Kind == RunKind.Fix;

    /// <summary>True for git bisect's default words: the regression run every earlier version wrote.</summary>
    [JsonIgnore]
    public bool IsDefault => this == Regression;

    /// <summary>"regression" or "fix", as JSON's <c>kind</c> spells it.</summary>
    [JsonIgnore]
    public string KindName => IsFix ? "fix" : "regression";

    /// <summary>What a found verdict names: "culprit" or "fix".</summary>
    [JsonIgnore]
    public string Answer => IsFix ? "fix" : "culprit";

    /// <summary>"Culprit" or "Fix", at the start of a headline.</summary>
    [JsonIgnore]
    public string AnswerTitle => Capitalized(Answer);

    /// <summary>The change a run looks for, as a noun: "regression" or "fix".</summary>
    [JsonIgnore]
    public string Change => IsFix ? "fix" : "regression";

    /// <summary>The headline when the new end does not differ: "NO REGRESSION FOUND" or "NO FIX FOUND".</summary>
    [JsonIgnore]
    public string NoneFound => $"NO {Change.ToUpperInvariant()} FOUND";

    /// <summary>The anchor at position 0 in a table: "good anchor", "broken anchor".</summary>
    [JsonIgnore]
    public string OldAnchor => Old + " anchor";

    /// <summary>The "vs good" column: how each commit compares with the old end.</summary>
    [JsonIgnore]
    public string VersusOld => "vs " + Old;

    /// <summary>A commit's verdict against the old end in this run's words: Regressed/Same/Improved/Unknown for a
    /// regression in the default words; in a fix run Regressed (moved the way the run looks for) is the new term
    /// ("Fixed") and Improved (moved the other way) is "Worse".</summary>
    public string VerdictWord(Verdict verdict) => verdict switch
    {
        Verdict.Regressed when !IsDefault => Capitalized(New),
        Verdict.Improved when IsFix => "Worse",
        _ => verdict.ToString(),
    };

    /// <summary>How the decision reads in the report's facts and the dry run, from the direction the run decides on.</summary>
    public string DirectionText(RegressionDirection deciding) => (IsFix, deciding) switch
    {
        (false, RegressionDirection.Increase) => "higher is worse",
        (false, _) => "lower is worse",
        (true, RegressionDirection.Decrease) => $"higher is worse; {FindFixFlag}: looking for the commit that lowered it",
        (true, _) => $"lower is worse; {FindFixFlag}: looking for the commit that raised it",
    };

    /// <summary>The terms in one line, for the dry run: which end is which and what the verdict names.</summary>
    public string Describe(string range) =>
        $"{range}: the old end is '{Old}', the new end '{New}'; a verdict names the first {New} commit, the {Answer}" +
        (IsFix ? $" ({FindFixFlag})" : "");

    /// <summary>
    /// The search and the diagnosis are pure and speak one fixed set of words (good/bad end, culprit, regression);
    /// their stored text is put into this run's words when shown, here and nowhere else. Identity for a regression in
    /// the default words, so nothing a run printed before changes.
    /// </summary>
    /// <remarks>One pass over the text, so a word put in is never rewritten again; with the terms
    /// <see cref="Resolve"/> allows, speaking spoken text changes nothing.</remarks>
    public string Speak(string text)
    {
        if (IsDefault || string.IsNullOrEmpty(text))
            return text;
        return IsFix
            ? SearchWords().Replace(text, m => m.Value is "good" or "Good" or "bad" or "Bad" ? Term(m.Value) : FixWord(m.Value))
            : GoodBad().Replace(text, m => Term(m.Value));
    }

    private string Term(string word) => word switch
    {
        "good" => Old,
        "Good" => Capitalized(Old),
        "bad" => New,
        _ => Capitalized(New),
    };

    private string FixWord(string word) => word switch
    {
        "culprit" => "fix",
        "Culprit" => "Fix",
        "culprits" => "fixes",
        "a regression" => "a fix",
        "regression" or "regressions" => word == "regression" ? "fix" : "fixes",
        "Regression" => "Fix",
        "Regressed" => Capitalized(New),
        "regressed" => New,
        "regressing" => "fixing",
        "improving" => "worsening",
        "worse" => "better",
        "Worse" => "Better",
        _ => word,
    };

    private const string EndWords = "good|Good|bad|Bad";

    private const string RegressionWords = "culprits?|Culprit|a regression|regressions?|Regression|Regressed|regressed|regressing|improving|worse|Worse";

    [GeneratedRegex(@"\b(?:" + EndWords + @")\b")]
    private static partial Regex GoodBad();

    [GeneratedRegex(@"\b(?:" + RegressionWords + @")\b")]
    private static partial Regex FixWords();

    [GeneratedRegex(@"\b(?:" + EndWords + "|" + RegressionWords + @")\b")]
    private static partial Regex SearchWords();

    private static string Capitalized(string word) =>
        word.Length == 0 ? word : char.ToUpper(word[0], CultureInfo.InvariantCulture) + word[1..];
}
