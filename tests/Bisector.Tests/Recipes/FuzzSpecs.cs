using System.Text;
using Bisector.Recipes;

namespace Bisector.Tests.Recipes;

/// <summary>
/// Seeded mutation fuzzing of both loaders: whatever the bytes, the outcome is a validated record or a
/// <see cref="ConfigException"/> with a file name, never another exception type and never a hang.
/// </summary>
public class FuzzSpecs
{
    // A few thousand by default keeps the suite fast; set BISECTOR_FUZZ_ITERATIONS / BISECTOR_FUZZ_SEED for a long run.
    private static readonly int Iterations =
        int.TryParse(Environment.GetEnvironmentVariable("BISECTOR_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : 3000;

    private static readonly int SeedOffset =
        int.TryParse(Environment.GetEnvironmentVariable("BISECTOR_FUZZ_SEED"), out var s) ? s : 0;

    private static readonly string[] Tokens =
    [
        "&a ", "*a", "[", "]", "{", "}", ":", ": ", "- ", "\t", "#", "'", "\"", "---", "~", "null", "? ", "|", ">",
        "!!binary ", "!custom ", "<<: ", "99999999999999999999", "-1", "0", "1e400", "NaN", "0x10", "1.5", "true",
        "\r\n", "\u00e9", "\ud83d\ude00", "\\", "%YAML 1.2\n", "..", "/", "5m", "256M", "memory-limit", "steps",
    ];

    [Fact(Timeout = 120000)]
    public async Task I_never_get_anything_but_a_recipe_or_a_config_exception_from_mutated_recipes()
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write("fix.patch", "diff\n");
        var seed = RecipeFixtures.Full.Replace("  patches: []", "  patches: [fix.patch]");

        // Act
        var (valid, invalid) = await Task.Run(() =>
            Fuzz(seed, 20240517 + SeedOffset, bytes => RecipeLoader.Parse(YamlTree.Decode(bytes, "fuzz.yaml"), "fuzz.yaml", folder.Path)));

        // Assert: both outcomes occur, so the mutations neither always break nor never break the document.
        Assert.Equal(Iterations, valid + invalid);
        Assert.InRange(valid, 1, Iterations - 1);
    }

    [Fact(Timeout = 120000)]
    public async Task I_never_get_anything_but_a_project_config_or_a_config_exception_from_mutated_bisect_yaml()
    {
        // Arrange
        const string seed = """
            recipe: recipes/demo-daemon.yaml
            paths: [src]
            workers: [local:2, "ssh://me@host:22"]
            strategy: bisect
            confidence: 0.95
            alpha: 0.01
            repeats: 3
            max-trials: 12
            window: 10s
            warmup: 2s
            results: results
            """;

        // Act
        var (valid, invalid) = await Task.Run(() =>
            Fuzz(seed, 1337 + SeedOffset, bytes => ProjectConfigLoader.Parse(YamlTree.Decode(bytes, "bisect.yaml"), "bisect.yaml", "/repo")));

        // Assert
        Assert.Equal(Iterations, valid + invalid);
        Assert.InRange(valid, 1, Iterations - 1);
    }

    private static (int Valid, int Invalid) Fuzz<T>(string seed, int randomSeed, Func<byte[], T> load)
    {
        var random = new Random(randomSeed);
        var valid = 0;
        var invalid = 0;
        for (var i = 0; i < Iterations; i++)
        {
            var bytes = Mutate(Encoding.UTF8.GetBytes(seed), random);
            try
            {
                Assert.NotNull(load(bytes));
                valid++;
            }
            catch (ConfigException ex)
            {
                Assert.False(string.IsNullOrEmpty(ex.File));
                Assert.True(ex.Line is null or >= 1, $"line {ex.Line} in: {ex.Message}");
                invalid++;
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"iteration {i} (seed {randomSeed}) threw {ex.GetType().Name}: {ex.Message}\n--- input ---\n" +
                            Encoding.UTF8.GetString(bytes));
            }
        }

        return (valid, invalid);
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = new List<byte>(original);
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            var lines = SplitLines(bytes);
            switch (random.Next(8))
            {
                case 0 when bytes.Count > 0: // overwrite a byte with anything, including invalid UTF-8
                    bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                    break;
                case 1: // insert a random byte
                    bytes.Insert(random.Next(bytes.Count + 1), (byte)random.Next(256));
                    break;
                case 2 when bytes.Count > 0: // delete a run of bytes
                    var start = random.Next(bytes.Count);
                    bytes.RemoveRange(start, Math.Min(random.Next(1, 8), bytes.Count - start));
                    break;
                case 3: // insert a YAML-significant token
                    bytes.InsertRange(random.Next(bytes.Count + 1), Encoding.UTF8.GetBytes(Tokens[random.Next(Tokens.Length)]));
                    break;
                case 4 when lines.Count > 1: // delete a line
                    lines.RemoveAt(random.Next(lines.Count));
                    bytes = Join(lines);
                    break;
                case 5: // duplicate a line (duplicate keys)
                    var line = random.Next(lines.Count);
                    lines.Insert(line, lines[line]);
                    bytes = Join(lines);
                    break;
                case 6 when lines.Count > 1: // swap two lines (structure)
                    var (a, b) = (random.Next(lines.Count), random.Next(lines.Count));
                    (lines[a], lines[b]) = (lines[b], lines[a]);
                    bytes = Join(lines);
                    break;
                default: // re-indent a line
                    var target = random.Next(lines.Count);
                    lines[target] = random.Next(2) == 0
                        ? [.. "  "u8.ToArray(), .. lines[target]]
                        : lines[target].SkipWhile(c => c == (byte)' ').Skip(random.Next(3)).ToArray();
                    bytes = Join(lines);
                    break;
            }
        }

        return bytes.ToArray();
    }

    private static List<byte[]> SplitLines(List<byte> bytes)
    {
        var lines = new List<byte[]>();
        var current = new List<byte>();
        foreach (var b in bytes)
        {
            if (b == (byte)'\n')
            {
                lines.Add(current.ToArray());
                current.Clear();
            }
            else
            {
                current.Add(b);
            }
        }

        lines.Add(current.ToArray());
        return lines;
    }

    private static List<byte> Join(List<byte[]> lines)
    {
        var result = new List<byte>();
        for (var i = 0; i < lines.Count; i++)
        {
            if (i > 0)
                result.Add((byte)'\n');
            result.AddRange(lines[i]);
        }

        return result;
    }
}
