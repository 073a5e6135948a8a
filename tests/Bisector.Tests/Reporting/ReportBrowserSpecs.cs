using System.Net;
using System.Text.RegularExpressions;
using Bisector.Reporting;
using CliWrap;
using CliWrap.Buffered;

namespace Bisector.Tests.Reporting;

/// <summary>A fact that runs only where Debian's Chromium is installed; CI installs it, so there it always runs.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(Chromium))
            Skip = $"{Chromium} is not installed (apt-get install -y chromium); the browser test needs a real headless browser";
    }
}

public sealed class ReportBrowserSpecs : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bisector-report-browser-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    [ChromiumFact(Timeout = 120000)]
    public async Task I_can_open_the_report_in_a_headless_browser_with_every_image_loaded()
    {
        // Arrange
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(100));
        var model = SyntheticRun.Build();
        var culprit = model.At(SyntheticRun.Culprit)!.Commit;
        var files = await ReportWriter.WriteAsync(model, Path.Combine(_dir, "report"), cts.Token);
        var url = new Uri(files.Html).AbsoluteUri;
        // Kept next to the test binaries so a person (or CI artifact upload) can look at what the browser rendered.
        var keep = Path.Combine(AppContext.BaseDirectory, "report-artifacts");
        Directory.CreateDirectory(keep);
        var screenshot = Path.Combine(keep, "report-screenshot.png");
        File.Delete(screenshot);

        // Act
        var dom = await RunChromiumAsync(["--virtual-time-budget=10000", "--dump-dom", url], cts.Token);
        await RunChromiumAsync(["--virtual-time-budget=10000", $"--screenshot={screenshot}", "--window-size=1400,2000", url], cts.Token);

        // Assert
        Assert.Contains("data-images-loaded=\"5/5\"", dom);
        var h1 = Regex.Match(dom, "<h1 id=\"headline\">(.*?)</h1>", RegexOptions.Singleline);
        Assert.True(h1.Success, "no headline in the rendered DOM");
        Assert.Equal($"Culprit: {culprit.ShortSha} {culprit.Subject}", WebUtility.HtmlDecode(h1.Groups[1].Value));
        // The hostile subject stayed text: the browser built no element from it.
        Assert.Single(Regex.Matches(dom, "<script", RegexOptions.IgnoreCase));
        Assert.Equal(5, Regex.Matches(dom, "<img ", RegexOptions.IgnoreCase).Count);
        Assert.DoesNotContain("onerror=\"", dom);
        Assert.True(File.Exists(screenshot), "chromium wrote no screenshot");
        Assert.True(new FileInfo(screenshot).Length > 50_000, "the screenshot is suspiciously small");
        File.Copy(files.Html, Path.Combine(keep, "report.html"), overwrite: true);
    }

    private Task<string> RunChromiumAsync(IReadOnlyList<string> args, CancellationToken ct) => HeadlessChromium.RunAsync(_dir, args, ct);
}

/// <summary>Debian's chromium, headless, with a fresh profile per run and no network of its own.</summary>
internal static class HeadlessChromium
{
    public static async Task<string> RunAsync(string workDirectory, IReadOnlyList<string> args, CancellationToken ct)
    {
        // A fresh profile per run: no first-run state, no shared cache, nothing left behind after the caller's clean-up.
        var profile = Path.Combine(workDirectory, "profile-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(profile);
        string[] common =
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            $"--user-data-dir={profile}",
        ];
        var result = await CliWrap.Cli.Wrap(ChromiumFactAttribute.Chromium)
            .WithArguments([.. common, .. args])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(ct);
        Assert.True(result.ExitCode == 0,
            $"chromium exited with {result.ExitCode}: {string.Join(' ', args)}\n{result.StandardError[^Math.Min(2000, result.StandardError.Length)..]}");
        return result.StandardOutput;
    }
}
