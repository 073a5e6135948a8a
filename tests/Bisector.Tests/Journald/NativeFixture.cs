using System.Diagnostics;
using System.Reflection;

namespace Bisector.Tests.Journald;

/// <summary>Temp directory, gcc and process helpers for the tests that exercise our C sources for real.</summary>
internal sealed class NativeFixture : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("bisector-journald-").FullName;

    public static string RepoRoot()
    {
        // Tests run from tests/Bisector.Tests/bin/...; the repository root is where Bisector.sln is.
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Bisector.sln")))
                return d.FullName;
        throw new InvalidOperationException("Bisector.sln not found above " + AppContext.BaseDirectory);
    }

    public static string EmbeddedText(string fileName)
    {
        var asm = typeof(Bisector.Sampling.Metrics).Assembly;
        var name = asm.GetManifestResourceNames().Single(n => n.EndsWith("." + fileName, StringComparison.Ordinal));
        using var s = asm.GetManifestResourceStream(name)!;
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    public async Task<string> GccAsync(string output, CancellationToken ct, params string[] args)
    {
        var outPath = Path.Combine(Dir, output);
        var (code, _, err) = await RunAsync("gcc", [.. args, "-o", outPath], null, ct);
        Assert.True(code == 0, $"gcc {string.Join(' ', args)} failed ({code}): {err}");
        return outPath;
    }

    public static async Task<(int Code, string Out, string Err)> RunAsync(
        string file, IEnumerable<string> args, IDictionary<string, string>? env, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        try
        {
            var stdout = p.StandardOutput.ReadToEndAsync(ct);
            var stderr = p.StandardError.ReadToEndAsync(ct);
            await p.WaitForExitAsync(ct);
            return (p.ExitCode, await stdout, await stderr);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}
