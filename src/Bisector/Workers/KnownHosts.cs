using System.Security.Cryptography;
using System.Text;

namespace Bisector.Workers;

public enum HostKeyStatus
{
    Known,
    Unknown,
    Changed,
}

/// <summary>
/// An OpenSSH <c>known_hosts</c> file: plain and hashed (<c>|1|salt|hash</c>) host patterns, <c>[host]:port</c> for
/// non-standard ports. Wildcards, markers (<c>@revoked</c>, <c>@cert-authority</c>) and negations are not matched:
/// such lines never vouch for a host, so the worst case is an "unknown host" error, never a wrongly trusted one.
/// </summary>
public static class KnownHosts
{
    /// <summary>The name a host is recorded under: <c>host</c> on port 22, <c>[host]:port</c> otherwise.</summary>
    public static string Entry(string host, int port) => port == 22 ? host : $"[{host}]:{port}";

    public static HostKeyStatus Check(string file, string host, int port, string keyType, byte[] key)
    {
        keyType = FileKeyType(keyType);
        if (!File.Exists(file))
        {
            return HostKeyStatus.Unknown;
        }

        var name = Entry(host, port);
        var sawHost = false;
        foreach (var raw in File.ReadLines(file))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#' || line[0] == '@')
            {
                continue;
            }

            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3 || !fields[0].Split(',').Any(pattern => Matches(pattern, name)))
            {
                continue;
            }

            if (fields[1] != keyType)
            {
                // Another key type for the same host says nothing about this one (OpenSSH asks again too).
                continue;
            }

            sawHost = true;
            if (TryBase64(fields[2]) is { } recorded && CryptographicOperations.FixedTimeEquals(recorded, key))
            {
                return HostKeyStatus.Known;
            }
        }

        return sawHost ? HostKeyStatus.Changed : HostKeyStatus.Unknown;
    }

    /// <summary>Appends the key, as <c>ssh</c> does with <c>StrictHostKeyChecking=accept-new</c>.</summary>
    public static void Append(string file, string host, int port, string keyType, byte[] key)
    {
        keyType = FileKeyType(keyType);
        var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        Directory.CreateDirectory(directory);
        var needsNewline = File.Exists(file) && new FileInfo(file).Length > 0 && !File.ReadAllText(file).EndsWith('\n');
        File.AppendAllText(file, $"{(needsNewline ? "\n" : "")}{Entry(host, port)} {keyType} {Convert.ToBase64String(key)}\n");
    }

    // An RSA key negotiated with a SHA-2 signature algorithm is still recorded as ssh-rsa.
    private static string FileKeyType(string algorithm) => algorithm is "rsa-sha2-256" or "rsa-sha2-512" ? "ssh-rsa" : algorithm;

    private static bool Matches(string pattern, string name)
    {
        if (!pattern.StartsWith("|1|", StringComparison.Ordinal))
        {
            return string.Equals(pattern, name, StringComparison.OrdinalIgnoreCase);
        }

        var parts = pattern.Split('|');
        if (parts.Length != 4 || TryBase64(parts[2]) is not { } salt || TryBase64(parts[3]) is not { } hash)
        {
            return false;
        }

        var actual = HMACSHA1.HashData(salt, Encoding.ASCII.GetBytes(name.ToLowerInvariant()));
        return CryptographicOperations.FixedTimeEquals(actual, hash);
    }

    private static byte[]? TryBase64(string text)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
