using System.Globalization;
using System.Text.RegularExpressions;

namespace Bisector.Workers;

/// <summary>
/// A parsed <c>ssh://user@host[:port][?identity=FILE&amp;known-hosts=FILE&amp;tofu=1&amp;root=DIR]</c> worker spec.
/// <see cref="RemoteRoot"/> null means <c>~/.cache/bisector</c> on the host.
/// </summary>
public sealed partial record SshTarget(
    string User, string Host, int Port, string IdentityFile, string KnownHostsFile, bool TrustOnFirstUse, string? RemoteRoot)
{
    /// <summary>The name recorded on trials: the spec without its options, so a key path never reaches a report.</summary>
    public string Name => Port == 22 ? $"ssh://{User}@{Host}" : string.Create(CultureInfo.InvariantCulture, $"ssh://{User}@{Host}:{Port}");

    public static SshTarget Parse(string spec)
    {
        var match = Syntax().Match(spec);
        if (!match.Success)
        {
            throw new UsageException("--workers", $"'{spec}' is not an ssh worker spec",
                "write ssh://user@host[:port], optionally followed by ?identity=FILE&known-hosts=FILE&tofu=1&root=DIR");
        }

        var port = 22;
        if (match.Groups["port"].Success
            && (!int.TryParse(match.Groups["port"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            throw new UsageException("--workers", $"'{spec}' has an invalid port", "use a port between 1 and 65535");
        }

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var options = SpecOptions.Parse(spec, match.Groups["query"].Value, "identity", "known-hosts", "tofu", "root");
        var identity = options.Text("identity") is { } given ? ExpandHome(given, home)
            : new[] { "id_ed25519", "id_ecdsa", "id_rsa" }.Select(f => Path.Combine(home, ".ssh", f)).FirstOrDefault(File.Exists)
                ?? Path.Combine(home, ".ssh", "id_ed25519");
        var knownHosts = options.Text("known-hosts") is { } hosts ? ExpandHome(hosts, home) : Path.Combine(home, ".ssh", "known_hosts");
        var tofu = options.Text("tofu") is "1" or "true" or "yes";
        var root = options.Text("root") switch
        {
            null => null,
            var dir when dir.StartsWith('/') => dir.TrimEnd('/'),
            var dir => throw options.Error($"root '{dir}' is not an absolute path", "give the remote directory as /path"),
        };

        var user = match.Groups["user"].Success ? match.Groups["user"].Value : Environment.UserName;
        return new SshTarget(user, match.Groups["host"].Value, port, identity, knownHosts, tofu, root);
    }

    private static string ExpandHome(string path, string home) =>
        path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, path[2..]) : Path.GetFullPath(path);

    [GeneratedRegex(@"^ssh://(?:(?<user>[A-Za-z0-9._-]+)@)?(?<host>[A-Za-z0-9.-]+)(?::(?<port>[0-9]{1,5}))?/?(?:\?(?<query>.*))?$")]
    private static partial Regex Syntax();
}
