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
        string? identity = null;
        var knownHosts = Path.Combine(home, ".ssh", "known_hosts");
        var tofu = false;
        string? root = null;
        foreach (var pair in match.Groups["query"].Value.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? pair : pair[..eq];
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            switch (key)
            {
                case "identity":
                    identity = ExpandHome(value, home);
                    break;
                case "known-hosts":
                    knownHosts = ExpandHome(value, home);
                    break;
                case "tofu":
                    tofu = value is "1" or "true" or "yes";
                    break;
                case "root" when value.StartsWith('/'):
                    root = value.TrimEnd('/');
                    break;
                case "root":
                    throw new UsageException("--workers", $"'{spec}': root '{value}' is not an absolute path", "give the remote directory as /path");
                default:
                    throw new UsageException("--workers", $"'{spec}': unknown option '{key}'", "use identity, known-hosts, tofu or root");
            }
        }

        identity ??= new[] { "id_ed25519", "id_ecdsa", "id_rsa" }.Select(f => Path.Combine(home, ".ssh", f)).FirstOrDefault(File.Exists)
            ?? Path.Combine(home, ".ssh", "id_ed25519");
        var user = match.Groups["user"].Success ? match.Groups["user"].Value : Environment.UserName;
        return new SshTarget(user, match.Groups["host"].Value, port, identity, knownHosts, tofu, root);
    }

    private static string ExpandHome(string path, string home) =>
        path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, path[2..]) : Path.GetFullPath(path);

    [GeneratedRegex(@"^ssh://(?:(?<user>[A-Za-z0-9._-]+)@)?(?<host>[A-Za-z0-9.-]+)(?::(?<port>[0-9]{1,5}))?/?(?:\?(?<query>.*))?$")]
    private static partial Regex Syntax();
}
