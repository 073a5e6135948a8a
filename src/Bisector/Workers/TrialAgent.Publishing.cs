using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Workers;

/// <summary>The controller's half of the trial agent: finding or building the native agent that SSH and Slurm ship.</summary>
public static partial class TrialAgent
{
    /// <summary>The agent's project, relative to a checkout; it compiles the trial loop's sources ahead of time.</summary>
    internal const string ProjectPath = "src/Bisector.Agent/Bisector.Agent.csproj";

    private static readonly SemaphoreSlim PublishGate = new(1, 1);
    private static Agent? _published;

    /// <summary>The published agent: a directory holding only the <see cref="ExecutableName"/> executable, and its content hash.</summary>
    public sealed record Agent(string Directory, string Executable, string ContentHash, long Bytes);

    /// <summary>
    /// The agent to ship: <c>$BISECTOR_AGENT</c> if set; the agent packed beside this program (the .NET tool carries
    /// one); otherwise this checkout's agent project published once (NativeAOT, linux-x64) into
    /// <c>~/.cache/bisector/agent/build-HASH</c>, keyed by the hash of the sources it compiles.
    /// </summary>
    public static async Task<Agent> EnsurePublishedAsync(Action<string>? log = null, CancellationToken ct = default)
    {
        if (_published is { } known)
        {
            return known;
        }

        await PublishGate.WaitAsync(ct);
        try
        {
            return _published ??= await LocateAsync(log, ct);
        }
        finally
        {
            PublishGate.Release();
        }
    }

    private static async Task<Agent> LocateAsync(Action<string>? log, CancellationToken ct)
    {
        var cache = Path.Combine(Diagnosis.HeapShim.DefaultCacheDirectory, "agent");
        if (Environment.GetEnvironmentVariable("BISECTOR_AGENT") is { Length: > 0 } given)
        {
            return File.Exists(given)
                ? Copy(given, cache)
                : throw new WorkerException("trial-agent", $"BISECTOR_AGENT={given} does not exist", $"point it at a published {ExecutableName} or unset it");
        }

        if (Path.Combine(AppContext.BaseDirectory, ExecutableName) is var packed && File.Exists(packed))
        {
            return Copy(packed, cache);
        }

        var checkout = FindSources() ?? throw new WorkerException("trial-agent",
            $"no trial agent for remote hosts: {AppContext.BaseDirectory} holds no {ExecutableName}, is not a checkout's build, and BISECTOR_AGENT is not set",
            $"install the packed tool (it carries the agent), or publish one (dotnet publish {ProjectPath} -c Release -o DIR) and set BISECTOR_AGENT to DIR/{ExecutableName}");
        var directory = Path.Combine(cache, "build-" + SourceHash(checkout));
        var executable = Path.Combine(directory, ExecutableName);
        if (!File.Exists(executable))
        {
            log?.Invoke($"publishing the trial agent for remote hosts (NativeAOT, once per source change) into {directory}");
            await PublishAsync(checkout, directory, ct);
        }

        return Describe(directory, executable);
    }

    private static Agent Copy(string file, string cache)
    {
        var hash = Hash(file);
        var directory = Path.Combine(cache, hash);
        var executable = Path.Combine(directory, ExecutableName);
        if (!File.Exists(executable))
        {
            Directory.CreateDirectory(directory);
            var temp = executable + $".{Guid.NewGuid():N}";
            File.Copy(file, temp);
            // A NuGet package keeps no file modes: the packed agent arrives without its execute bits.
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, (UnixFileMode)0b111_101_101);
            }
            File.Move(temp, executable, overwrite: true);
        }

        return Describe(directory, executable, hash);
    }

    private static Agent Describe(string directory, string executable, string? hash = null) =>
        new(directory, executable, hash ?? Hash(executable), new FileInfo(executable).Length);

    private static string Hash(string file)
    {
        using var stream = File.OpenRead(file);
        return "agent-" + Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
    }

    /// <summary>The hash of what the agent is compiled from: its project, its own sources, the files it links from
    /// src/Bisector and the build settings. An unrelated change to the controller publishes nothing.</summary>
    private static string SourceHash(string checkout)
    {
        var project = Path.Combine(checkout, ProjectPath);
        var projectDir = Path.GetDirectoryName(project)!;
        var files = Directory.EnumerateFiles(projectDir, "*.cs", SearchOption.TopDirectoryOnly)
            .Concat(LinkedFile().Matches(File.ReadAllText(project)).Select(m => Path.GetFullPath(Path.Combine(projectDir, m.Groups[1].Value))))
            .Concat(new[] { "Directory.Build.props", "Directory.Packages.props", "global.json" }.Select(f => Path.Combine(checkout, f)))
            .Append(project)
            .Where(File.Exists)
            .Order(StringComparer.Ordinal);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(Path.GetRelativePath(checkout, file) + "\n"));
            sha.AppendData(File.ReadAllBytes(file));
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>The checkout this build came from: the first parent of the build directory with the agent's project.</summary>
    private static string? FindSources()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, ProjectPath)))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>Publishes into a temporary directory (its own obj/ and bin/, so a build running
    /// in the checkout at the same time is not disturbed) and moves the native file into place.</summary>
    private static async Task PublishAsync(string checkout, string directory, CancellationToken ct)
    {
        var stage = Directory.CreateTempSubdirectory("bisector-agent-").FullName;
        try
        {
            string[] args =
            [
                "publish", Path.Combine(checkout, ProjectPath), "-c", "Release", "--artifacts-path", Path.Combine(stage, "build"),
                "-o", Path.Combine(stage, "out"), "-nologo", "-v", "q",
            ];
            var clock = Stopwatch.StartNew();
            var result = await CliWrap.Cli.Wrap("dotnet").WithArguments(args).WithWorkingDirectory(checkout)
                .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(ct);
            var built = Path.Combine(stage, "out", ExecutableName);
            if (result.ExitCode != 0 || !File.Exists(built))
            {
                var tail = ProcessFailedException.TailOf(result.StandardOutput + result.StandardError);
                if (Posix.Which("clang") is null)
                {
                    tail += $"\nclang is not installed: the trial agent is compiled ahead of time (NativeAOT) and linked with clang; install it with 'apt-get install clang zlib1g-dev'";
                }

                throw new ProcessFailedException("dotnet " + string.Join(' ', args), result.ExitCode, checkout, tail);
            }

            Directory.CreateDirectory(directory);
            var temp = Path.Combine(directory, $".{ExecutableName}-{Guid.NewGuid():N}");
            File.Move(built, temp);
            File.Move(temp, Path.Combine(directory, ExecutableName), overwrite: true);
            Trace.WriteLine($"trial agent published in {clock.Elapsed.TotalSeconds:0} s");
        }
        finally
        {
            Directory.Delete(stage, recursive: true);
        }
    }

    [GeneratedRegex(@"<(?:Compile|EmbeddedResource) Include=""(\.\./[^""]+)""")]
    private static partial Regex LinkedFile();
}
