using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Bisector.Recipes;

// The untyped edge: YAML text becomes this small tree of nodes that remember their line, so every later validation
// error can point at the line the user has to edit. YamlDotNet's own object model is not used because it follows
// aliases (YAML bombs), silently accepts duplicate keys and builds recursively.

internal abstract record YamlNode(int Line);

internal sealed record YamlScalar(int Line, string Value, bool Plain) : YamlNode(Line)
{
    /// <summary>A plain <c>~</c>, <c>null</c> or empty value means "not given"; a quoted one is a real string.</summary>
    public bool IsNull => Plain && Value is "" or "~" or "null" or "Null" or "NULL";
}

internal sealed record YamlSequence(int Line, IReadOnlyList<YamlNode> Items) : YamlNode(Line);

internal sealed record YamlEntry(YamlScalar Key, YamlNode Value);

internal sealed record YamlMapping(int Line, IReadOnlyList<YamlEntry> Entries) : YamlNode(Line);

internal static class YamlTree
{
    /// <summary>Config files are hand-written and small; anything larger is a mistake or an attack.</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>Recipes nest four levels deep at most; the cap leaves room and stops pathological nesting early.</summary>
    public const int MaxDepth = 32;

    /// <summary>Bounds the tree a 1 MiB file of <c>[a,a,a,…]</c> could build.</summary>
    public const int MaxNodes = 100_000;

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];
    private static ReadOnlySpan<byte> Utf16LeBom => [0xFF, 0xFE];
    private static ReadOnlySpan<byte> Utf16BeBom => [0xFE, 0xFF];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads a config file with the size cap enforced before anything is loaded into memory.</summary>
    public static string ReadFile(string path, string displayName)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path))
                throw new ConfigException(displayName, null, "is a directory, not a YAML file", "pass the path of the .yaml file itself");
            if (!info.Exists)
                throw new ConfigException(displayName, null, "file not found", "check the path (relative paths are resolved from the current directory)");
            if (info.Length > MaxBytes)
                throw new ConfigException(displayName, null,
                    $"file is {info.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)} bytes, more than the {MaxBytes / 1024} KiB a config file may have",
                    "point at the hand-written YAML file, not at data");

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            // Read at most one byte past the cap so a file that grows between the stat and the read is still caught.
            var buffer = new byte[MaxBytes + 1];
            var total = 0;
            int read;
            while (total < buffer.Length && (read = stream.Read(buffer, total, buffer.Length - total)) > 0)
                total += read;
            if (total > MaxBytes)
                throw new ConfigException(displayName, null, $"file is larger than {MaxBytes / 1024} KiB", "point at the hand-written YAML file, not at data");
            bytes = buffer.AsSpan(0, total).ToArray();
        }
        catch (IOException ex)
        {
            throw new ConfigException(displayName, null, $"cannot be read: {ex.Message}", "check that the file exists and is readable");
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ConfigException(displayName, null, $"cannot be read: {ex.Message}", "check the file's permissions");
        }

        return Decode(bytes, displayName);
    }

    /// <summary>Decodes strict UTF-8 (a BOM is allowed); anything else is reported with the line of the first bad byte.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string displayName)
    {
        if (bytes.StartsWith(Utf8Bom))
            bytes = bytes[3..];
        if (bytes.StartsWith(Utf16LeBom) || bytes.StartsWith(Utf16BeBom))
            throw new ConfigException(displayName, 1, "is UTF-16 encoded, not UTF-8", "save the file as UTF-8");

        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            var index = Math.Clamp(ex.Index, 0, bytes.Length);
            var line = bytes[..index].Count((byte)'\n') + 1;
            throw new ConfigException(displayName, line, "contains bytes that are not valid UTF-8", "save the file as UTF-8");
        }
    }

    /// <summary>Parses one YAML document into a tree; returns null when the document is empty or only comments.</summary>
    public static YamlNode? Parse(string text, string displayName)
    {
        if (text.Length > MaxBytes)
            throw new ConfigException(displayName, null, $"is larger than {MaxBytes / 1024} KiB", "point at the hand-written YAML file, not at data");
        RejectTabIndentation(text, displayName);
        RejectControlCharacters(text, displayName);

        try
        {
            return Build(new Parser(new StringReader(text)), displayName);
        }
        catch (YamlException ex)
        {
            throw new ConfigException(displayName, LineOf(ex.Start), $"is not valid YAML: {Describe(ex)}",
                "fix the YAML syntax at that line (indent with spaces, quote values containing ': ' or '#')");
        }
    }

    private static YamlNode? Build(IParser parser, string file)
    {
        // An explicit stack instead of recursion: deep nesting must fail with a ConfigException, never a stack overflow.
        var stack = new Stack<Frame>();
        YamlNode? root = null;
        var documents = 0;
        var nodes = 0;

        var lastLine = 1;
        while (MoveNext())
        {
            var ev = parser.Current!;
            lastLine = LineOf(ev.Start);
            switch (ev)
            {
                case StreamStart or StreamEnd or DocumentEnd:
                    continue;
                case DocumentStart:
                    if (++documents > 1)
                        throw new ConfigException(file, LineOf(ev.Start), "contains more than one YAML document ('---')",
                            "keep one document per file; remove the extra '---' and what follows");
                    continue;
                case AnchorAlias alias:
                    throw new ConfigException(file, LineOf(ev.Start), $"uses the alias '*{alias.Value}'",
                        "aliases and anchors are not supported (they allow YAML bombs); write the value out");
            }

            if (++nodes > MaxNodes)
                throw new ConfigException(file, LineOf(ev.Start), $"has more than {MaxNodes} YAML nodes", "a recipe is a short hand-written file; remove the generated content");

            switch (ev)
            {
                case Scalar scalar:
                    Add(new YamlScalar(LineOf(scalar.Start), scalar.Value, scalar.Style == ScalarStyle.Plain));
                    break;
                case SequenceStart:
                case MappingStart:
                    if (stack.Count >= MaxDepth)
                        throw new ConfigException(file, LineOf(ev.Start), $"nests deeper than {MaxDepth} levels", "flatten the document; recipes need at most four levels");
                    stack.Push(new Frame(LineOf(ev.Start), ev is MappingStart));
                    break;
                case SequenceEnd:
                case MappingEnd:
                    var frame = stack.Pop();
                    Add(frame.ToNode(file));
                    break;
                default:
                    // Comments are not emitted by the parser by default; any other event type carries no data we use.
                    break;
            }
        }

        return root;

        bool MoveNext()
        {
            try
            {
                return parser.MoveNext();
            }
            catch (InvalidOperationException)
            {
                // YamlDotNet's scanner throws this (not a YamlException) when the text ends inside an open flow
                // collection; point at the innermost unclosed collection, where the fix belongs.
                var line = stack.Count > 0 ? stack.Peek().Line : lastLine;
                throw new ConfigException(file, line, "is not valid YAML: the file ends inside an unclosed '[', '{' or quote",
                    "close the bracket or quote that starts at this line");
            }
        }

        void Add(YamlNode node)
        {
            if (stack.Count == 0)
                root = node;
            else
                stack.Peek().Children.Add(node);
        }
    }

    private sealed class Frame(int line, bool isMapping)
    {
        public int Line => line;

        public List<YamlNode> Children { get; } = [];

        public YamlNode ToNode(string file)
        {
            if (!isMapping)
                return new YamlSequence(line, Children.ToArray());

            var entries = new List<YamlEntry>(Children.Count / 2);
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i + 1 < Children.Count; i += 2)
            {
                if (Children[i] is not YamlScalar key)
                    throw new ConfigException(file, Children[i].Line, "uses a list or mapping as a key",
                        "keys must be plain names such as 'steps' or 'memory-limit'");
                if (seen.TryGetValue(key.Value, out var firstLine))
                    throw new ConfigException(file, key.Line, $"duplicate key '{key.Value}' (first at line {firstLine}, again at line {key.Line})",
                        "keep one of the two entries");
                seen[key.Value] = key.Line;
                entries.Add(new YamlEntry(key, Children[i + 1]));
            }

            return new YamlMapping(line, entries);
        }
    }

    private static void RejectTabIndentation(string text, string file)
    {
        var line = 1;
        var atLineStart = true;
        foreach (var c in text)
        {
            if (c == '\n')
            {
                line++;
                atLineStart = true;
                continue;
            }

            if (atLineStart && c == '\t')
                throw new ConfigException(file, line, "is indented with a tab", "YAML allows only spaces for indentation; replace the tab with spaces");
            if (c != ' ')
                atLineStart = false;
        }
    }

    private static void RejectControlCharacters(string text, string file)
    {
        // YAML forbids these; naming the line is kinder than the scanner's generic complaint.
        var line = 1;
        foreach (var c in text)
        {
            if (c == '\n')
                line++;
            else if (char.IsControl(c) && c is not '\t' and not '\r' || c is '\uFFFE' or '\uFFFF')
                throw new ConfigException(file, line, $"contains the control character U+{(int)c:X4}", "remove it; config files must be plain text");
        }
    }

    // YamlDotNet marks are 1-based; a default mark (0) means "unknown", reported as line 1 rather than a lie of 0.
    private static int LineOf(Mark mark) => (int)Math.Clamp(mark.Line, 1, int.MaxValue);

    private static string Describe(YamlException ex)
    {
        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: ...) - (...)"; we already report the line.
        var message = ex.Message;
        var cut = message.LastIndexOf("): ", StringComparison.Ordinal);
        message = cut >= 0 ? message[(cut + 3)..] : message;
        return message.Trim().TrimEnd('.');
    }
}
