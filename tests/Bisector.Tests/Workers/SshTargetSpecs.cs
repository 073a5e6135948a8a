using System.Diagnostics;
using Bisector.Workers;

namespace Bisector.Tests.Workers;

public sealed class SshTargetSpecs
{
    [Fact]
    public void I_can_give_an_ssh_worker_its_key_known_hosts_trust_and_remote_root_in_the_spec()
    {
        // Arrange
        const string spec = "ssh://builder@10.1.2.3:2222?identity=/keys/id%20one&known-hosts=/keys/kh&tofu=1&root=/srv/bisector/";

        // Act
        var target = SshTarget.Parse(spec);

        // Assert
        Assert.Equal(new SshTarget("builder", "10.1.2.3", 2222, "/keys/id one", "/keys/kh", true, "/srv/bisector"), target);
        Assert.Equal("ssh://builder@10.1.2.3:2222", target.Name);
        Assert.Equal("ssh://builder@host", SshTarget.Parse("ssh://builder@host").Name);
    }

    [Theory]
    [InlineData("ssh://root@host:99999", "invalid port")]
    [InlineData("ssh://root@host?password=x", "unknown option 'password'")]
    [InlineData("ssh://root@host?root=relative", "not an absolute path")]
    [InlineData("ssh://root@ho st", "is not an ssh worker spec")]
    public void I_get_an_error_naming_workers_for_a_bad_ssh_spec(string spec, string problem)
    {
        // Act
        var error = Assert.Throws<UsageException>(() => SshTarget.Parse(spec));

        // Assert
        Assert.StartsWith("--workers: ", error.Message);
        Assert.Contains(problem, error.Message);
    }

    [Fact(Timeout = 20000)]
    public async Task I_can_match_a_host_key_in_a_known_hosts_file_hashed_by_ssh_keygen()
    {
        // Arrange: a real key pair and a known_hosts file hashed with ssh-keygen -H, as ssh does with HashKnownHosts.
        var dir = Directory.CreateTempSubdirectory("bisector-knownhosts-").FullName;
        try
        {
            var keyFile = Path.Combine(dir, "key");
            await RunAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile);
            var other = Path.Combine(dir, "other");
            await RunAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other);
            var pub = (await File.ReadAllTextAsync(keyFile + ".pub")).Split(' ');
            var key = Convert.FromBase64String(pub[1]);
            var otherKey = Convert.FromBase64String((await File.ReadAllTextAsync(other + ".pub")).Split(' ')[1]);
            var file = Path.Combine(dir, "known_hosts");
            await File.WriteAllTextAsync(file, $"# comment\n[10.9.8.7]:2201 {pub[0]} {pub[1]}\nplain.example,10.9.8.6 {pub[0]} {pub[1]}\n");
            await RunAsync("ssh-keygen", "-q", "-H", "-f", file);

            // Act
            var hashedBracketed = KnownHosts.Check(file, "10.9.8.7", 2201, "ssh-ed25519", key);
            var hashedPlain = KnownHosts.Check(file, "plain.example", 22, "ssh-ed25519", key);
            var otherPort = KnownHosts.Check(file, "10.9.8.7", 22, "ssh-ed25519", key);
            var changed = KnownHosts.Check(file, "10.9.8.6", 22, "ssh-ed25519", otherKey);

            // Assert
            Assert.DoesNotContain("10.9.8.7", await File.ReadAllTextAsync(file));
            Assert.Equal(HostKeyStatus.Known, hashedBracketed);
            Assert.Equal(HostKeyStatus.Known, hashedPlain);
            Assert.Equal(HostKeyStatus.Unknown, otherPort);
            Assert.Equal(HostKeyStatus.Changed, changed);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { RedirectStandardError = true };
        foreach (var arg in args[1..])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', args)}: {await process.StandardError.ReadToEndAsync()}");
    }
}
