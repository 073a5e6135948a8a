using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Bisector.Git;

/// <summary>One parsed pathspec element, e.g. <c>:(exclude)docs</c> or <c>src/basic/fileio*</c>.</summary>
public sealed record PathspecItem(string Original, string Match, bool Exclude, bool Glob, bool Literal, bool IgnoreCase)
{
    /// <summary>Length of the part before the first wildcard character; the walk never needs to look outside it.</summary>
    public int NoWildcardLength { get; } = Literal ? Match.Length : FirstWildcard(Match);

    public bool HasWildcard => NoWildcardLength < Match.Length;

    private static int FirstWildcard(string s)
    {
        var i = s.AsSpan().IndexOfAny("*?[\\");
        return i < 0 ? s.Length : i;
    }
}

/// <summary>
/// A set of git pathspecs with git's matching rules (gitglossary "pathspec"): a literal spec matches the path itself
/// and everything below it; a spec with wildcards is an fnmatch over the whole path in which <c>*</c> also crosses
/// <c>/</c>, unless <c>:(glob)</c> magic asks for shell-style matching with <c>**</c>. Paths are relative to the
/// repository root (Bisector never runs git from a subdirectory, so <c>:(top)</c> changes nothing).
/// </summary>
public sealed class Pathspec
{
    private static readonly ConcurrentDictionary<(string, bool, bool), Regex> RegexCache = new();
    private readonly Regex?[] _regexes;

    public IReadOnlyList<PathspecItem> Items { get; }
    public IReadOnlyList<PathspecItem> Positive { get; }
    public IReadOnlyList<PathspecItem> Negative { get; }

    /// <summary>No pathspec at all: every commit counts as a change (git log without <c>--</c>).</summary>
    public bool IsEmpty => Items.Count == 0;

    private Pathspec(IReadOnlyList<PathspecItem> items)
    {
        Items = items;
        Positive = items.Where(i => !i.Exclude).ToArray();
        Negative = items.Where(i => i.Exclude).ToArray();
        _regexes = items.Select(i => i.HasWildcard ? CompileCached(i) : null).ToArray();
    }

    public static Pathspec Parse(IReadOnlyList<string> specs)
    {
        var items = new List<PathspecItem>(specs.Count);
        foreach (var spec in specs)
            items.Add(ParseOne(spec));
        var pathspec = new Pathspec(items);
        return pathspec;
    }

    private static PathspecItem ParseOne(string spec)
    {
        if (string.IsNullOrEmpty(spec))
            throw Invalid(spec, "an empty string is not a valid pathspec", "use '.' to mean the whole tree");

        bool exclude = false, glob = false, literal = false, icase = false;
        var rest = spec;
        if (spec.StartsWith(":(", StringComparison.Ordinal))
        {
            var close = spec.IndexOf(')', 2);
            if (close < 0)
                throw Invalid(spec, "missing ')' at the end of the pathspec magic", "write it as ':(exclude)docs'");
            foreach (var raw in spec[2..close].Split(','))
            {
                var magic = raw.Trim();
                switch (magic)
                {
                    case "": break;
                    case "top": break;
                    case "exclude": exclude = true; break;
                    case "glob": glob = true; break;
                    case "literal": literal = true; break;
                    case "icase": icase = true; break;
                    default:
                        var name = magic.StartsWith("attr:", StringComparison.Ordinal) ? "attr" : magic;
                        throw Invalid(spec, $"pathspec magic '{name}' is not supported",
                            "supported magic is top, exclude (or '!' / '^'), glob, literal and icase");
                }
            }
            rest = spec[(close + 1)..];
        }
        else if (spec.StartsWith(':'))
        {
            var pos = 1;
            for (; pos < spec.Length && spec[pos] != ':'; pos++)
            {
                var ch = spec[pos];
                if (ch is '!' or '^') exclude = true;
                else if (ch == '/') { /* top: paths are always taken from the root */ }
                else if ("\"#%&',-;<=>@_`~".Contains(ch))
                    throw Invalid(spec, $"pathspec magic '{ch}' is not supported",
                        "supported short magic is '/' (top) and '!' or '^' (exclude)");
                else break;
            }
            if (pos < spec.Length && spec[pos] == ':')
                pos++;
            rest = spec[pos..];
        }

        if (glob && literal)
            throw Invalid(spec, "'glob' and 'literal' magic cannot be combined", "keep only one of them");

        var match = Normalize(rest);
        var item = new PathspecItem(spec, match, exclude, glob, literal, icase);
        if (item.HasWildcard)
            CompileCached(item); // reject a malformed glob now, not in the middle of a walk
        return item;
    }

    private static string Normalize(string path)
    {
        // "./src", "src/./basic" and "." are spelled relative to the root; git strips those components.
        var parts = new List<string>();
        var trailingSlash = path.EndsWith('/') && path.Length > 1;
        foreach (var part in path.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (parts.Count == 0)
                    throw Invalid(path, "the pathspec leaves the repository", "give paths relative to the repository root");
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        var joined = string.Join('/', parts);
        return trailingSlash && joined.Length > 0 ? joined + "/" : joined;
    }

    private static GitSelectionException Invalid(string spec, string problem, string fix) =>
        new($"--paths: '{spec}' is not a valid pathspec: {problem}", $"Fix: {fix}");

    /// <summary>Whether a file (leaf entry: blob, symlink or submodule) at <paramref name="path"/> is selected.</summary>
    public bool Matches(string path)
    {
        if (IsEmpty) return true;
        var positive = Positive.Count == 0; // only exclusions: git implicitly includes everything
        for (var i = 0; i < Items.Count && !positive; i++)
            if (!Items[i].Exclude && ItemMatches(i, path))
                positive = true;
        if (!positive) return false;
        for (var i = 0; i < Items.Count; i++)
            if (Items[i].Exclude && ItemMatches(i, path))
                return false;
        return true;
    }

    /// <summary>
    /// Whether any file below directory <paramref name="dir"/> (ending in '/', or "" for the root) could be selected.
    /// Lets the tree walk skip whole subtrees without reading them.
    /// </summary>
    public bool MayMatchUnder(string dir)
    {
        if (IsEmpty || dir.Length == 0) return true;
        foreach (var item in Negative)
            if (!item.HasWildcard && CoversDirectory(item, dir))
                return false;
        if (Positive.Count == 0) return true;
        foreach (var item in Positive)
        {
            var cmp = item.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            if (!item.HasWildcard)
            {
                // literal "src/ba" must not pull in "src/basic/": below the spec only whole components match
                var m = item.Match;
                if (m.StartsWith(dir, cmp) || CoversDirectory(item, dir)) return true;
                continue;
            }
            // Every leaf a wildcard item matches starts with its literal prefix.
            var prefix = item.Match[..item.NoWildcardLength];
            if (prefix.StartsWith(dir, cmp) || dir.StartsWith(prefix, cmp)) return true;
        }
        return false;
    }

    /// <summary>
    /// The names a directory level can possibly need when every positive item is literal at that level, so the
    /// walk can look them up by name instead of reading the whole tree. Null means "read every entry".
    /// </summary>
    internal IReadOnlyList<string>? ChildNamesUnder(string dir)
    {
        if (IsEmpty || Positive.Count == 0) return null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in Positive)
        {
            if (item.IgnoreCase) return null;
            var prefix = item.Match[..item.NoWildcardLength];
            if (!prefix.StartsWith(dir, StringComparison.Ordinal))
            {
                if (dir.StartsWith(prefix, StringComparison.Ordinal)) return null; // inside the item: all entries
                continue;
            }
            var slash = prefix.IndexOf('/', dir.Length);
            if (slash < 0)
            {
                if (item.HasWildcard) return null; // the wildcard sits in this component
                if (prefix.Length == dir.Length) return null; // item names this very directory
                names.Add(prefix[dir.Length..]);
            }
            else if (slash == dir.Length) return null;
            else names.Add(prefix[dir.Length..slash]);
        }
        return names.ToArray();
    }

    private static bool CoversDirectory(PathspecItem item, string dir)
    {
        var cmp = item.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (item.Match.Length == 0) return true;
        var m = item.Match.EndsWith('/') ? item.Match : item.Match + "/";
        return dir.StartsWith(m, cmp);
    }

    private bool ItemMatches(int index, string path)
    {
        var item = Items[index];
        if (item.Match.Length == 0) return true;
        var cmp = item.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (item.Match.EndsWith('/'))
        {
            if (path.StartsWith(item.Match, cmp)) return true;
        }
        else if (path.Equals(item.Match, cmp) ||
                 (path.Length > item.Match.Length && path[item.Match.Length] == '/' && path.StartsWith(item.Match, cmp)))
            return true;
        return _regexes[index] is { } regex && regex.IsMatch(path);
    }

    private static Regex CompileCached(PathspecItem item) =>
        RegexCache.GetOrAdd((item.Match, item.Glob, item.IgnoreCase), key =>
        {
            var pattern = WildmatchToRegex(key.Item1, key.Item2, item.Original);
            var options = RegexOptions.CultureInvariant | RegexOptions.Singleline;
            if (key.Item3) options |= RegexOptions.IgnoreCase;
            return new Regex(pattern, options);
        });

    /// <summary>
    /// Translates git's wildmatch syntax into an anchored regex. Without <paramref name="pathname"/> ('*' and '?' cross
    /// '/'), this is what git does for plain pathspecs; with it, this is <c>:(glob)</c> where only <c>**</c> crosses.
    /// </summary>
    internal static string WildmatchToRegex(string pattern, bool pathname, string original)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '\\':
                    if (i + 1 < pattern.Length) sb.Append(Regex.Escape(pattern[++i].ToString()));
                    else sb.Append(@"\\");
                    break;
                case '?':
                    sb.Append(pathname ? "[^/]" : ".");
                    break;
                case '*':
                    {
                        var start = i;
                        while (i + 1 < pattern.Length && pattern[i + 1] == '*') i++;
                        var stars = i - start + 1;
                        if (!pathname) { sb.Append(".*"); break; }
                        var atComponentStart = start == 0 || pattern[start - 1] == '/';
                        var next = i + 1 < pattern.Length ? pattern[i + 1] : '\0';
                        if (stars >= 2 && atComponentStart && next == '/') { sb.Append("(?:.*/)?"); i++; }
                        else if (stars >= 2 && atComponentStart && next == '\0') sb.Append(".*");
                        else sb.Append("[^/]*");
                        break;
                    }
                case '[':
                    i = AppendClass(pattern, i, pathname, sb, original);
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        return sb.Append('$').ToString();
    }

    private static readonly Dictionary<string, string> PosixClasses = new(StringComparer.Ordinal)
    {
        ["alnum"] = "a-zA-Z0-9",
        ["alpha"] = "a-zA-Z",
        ["blank"] = " \\t",
        ["cntrl"] = "\\x00-\\x1F\\x7F",
        ["digit"] = "0-9",
        ["graph"] = "\\x21-\\x7E",
        ["lower"] = "a-z",
        ["print"] = "\\x20-\\x7E",
        ["punct"] = "!-/:-@\\[-`{-~",
        ["space"] = "\\s",
        ["upper"] = "A-Z",
        ["xdigit"] = "0-9A-Fa-f",
    };

    private static int AppendClass(string p, int open, bool pathname, StringBuilder sb, string original)
    {
        var i = open + 1;
        var negate = i < p.Length && (p[i] == '!' || p[i] == '^');
        if (negate) i++;
        var body = new StringBuilder();
        var first = true;
        for (; i < p.Length; i++, first = false)
        {
            var c = p[i];
            if (c == ']' && !first)
            {
                var cls = body.ToString();
                if (negate) sb.Append("[^").Append(cls).Append(pathname ? "/]" : "]");
                else sb.Append(pathname ? "(?!/)[" : "[").Append(cls).Append(']');
                return i;
            }
            if (c == '[' && i + 1 < p.Length && p[i + 1] == ':')
            {
                var end = p.IndexOf(":]", i + 2, StringComparison.Ordinal);
                if (end > 0 && PosixClasses.TryGetValue(p[(i + 2)..end], out var range))
                {
                    body.Append(range);
                    i = end + 1;
                    continue;
                }
                throw Invalid(original, $"unknown character class in '{p}'", "use [:alpha:], [:digit:], … or escape '['");
            }
            if (c == '\\' && i + 1 < p.Length) c = p[++i];
            if (c == '-' && !first && i + 1 < p.Length && p[i + 1] != ']')
            {
                body.Append('-');
                continue;
            }
            body.Append(c is '\\' or ']' or '[' or '^' or '-' ? "\\" + c : c.ToString());
        }
        throw Invalid(original, "unclosed '['", "close the bracket or escape it as '\\['");
    }
}
