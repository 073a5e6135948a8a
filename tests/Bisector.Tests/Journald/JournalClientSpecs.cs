using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Bisector.Tests.Journald;

public sealed partial class JournalClientSpecs
{
    [Fact(Timeout = 60000)]
    public async Task I_can_receive_every_child_of_the_journal_client_on_all_three_journald_sockets()
    {
        // Arrange: real unix sockets named like journald's, served by this test
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(55));
        using var fx = new NativeFixture();
        var client = await fx.GccAsync("journal-client", cts.Token, "-O2", "-Wall", "-Wextra", "-Werror",
            Path.Combine(NativeFixture.RepoRoot(), "workloads", "journal-client", "journal-client.c"));
        var sockDir = Directory.CreateDirectory(Path.Combine(fx.Dir, "journal")).FullName;

        using var stream = Bind(sockDir, "stdout", SocketType.Stream);
        stream.Listen(256);
        using var devLog = Bind(sockDir, "dev-log", SocketType.Dgram);
        using var native = Bind(sockDir, "socket", SocketType.Dgram);
        var streams = new ConcurrentBag<string>();
        var syslog = new ConcurrentBag<string>();
        var nativeMsgs = new ConcurrentBag<string>();
        using var stopServing = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var serving = Task.WhenAll(
            AcceptStreams(stream, streams, stopServing.Token),
            ReceiveDatagrams(devLog, syslog, stopServing.Token),
            ReceiveDatagrams(native, nativeMsgs, stopServing.Token));

        // Act: 2 s at 20 children/s, 2 lines per socket and child
        const int Rate = 20, Seconds = 2, Lines = 2;
        var (code, _, err) = await NativeFixture.RunAsync(client,
            ["-d", sockDir, "-t", Seconds.ToString(CultureInfo.InvariantCulture), "-r", Rate.ToString(CultureInfo.InvariantCulture),
             "-n", Lines.ToString(CultureInfo.InvariantCulture), "-x", "50", "-s", "7"], null, cts.Token);
        await Task.Delay(300, cts.Token); // let the last connections drain
        stopServing.Cancel();
        await serving;

        // Assert
        Assert.True(code == 0, $"journal-client exited {code}: {err}");
        var children = streams.Select(ParseStream).ToList();
        Assert.InRange(children.Count, 10, Rate * Seconds + 1); // the rate bound holds, and it really forked
        Assert.All(children, c =>
        {
            Assert.Equal(Lines, c.Lines.Count);
            Assert.All(c.Lines, l => Assert.Contains($"from {c.Identifier} pid {c.Pid}", l));
        });
        Assert.Equal(children.Count, children.Select(c => c.Pid).Distinct().Count());
        Assert.True(children.Select(c => Regex.Replace(c.Identifier, "-[0-9]+$", "")).Distinct().Count() > 1,
            "children use varied comm names");
        var syslogPids = syslog.Select(m => SyslogLine().Match(m)).Select(m =>
        {
            Assert.True(m.Success, "syslog datagram format");
            return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }).ToHashSet();
        Assert.Subset(children.Select(c => c.Pid).ToHashSet(), syslogPids);
        Assert.Equal(children.Count * Lines, syslog.Count);
        Assert.Equal(children.Count * Lines, nativeMsgs.Count);
        Assert.All(nativeMsgs, m => Assert.Matches("^MESSAGE=native line [0-9]+ from .+\nPRIORITY=6\nSYSLOG_IDENTIFIER=.+\n", m));
    }

    private sealed record StreamChild(string Identifier, int Pid, IReadOnlyList<string> Lines);

    private static StreamChild ParseStream(string text)
    {
        // journald's stdout stream header: identifier, unit id, priority, level prefix,
        // forward to syslog, kmsg, console — one per line, then the log lines
        var lines = text.Split('\n');
        Assert.True(lines.Length >= 8, "header of 7 lines plus log lines: " + text);
        Assert.Equal(["", "6", "0", "1", "0", "0"], lines[1..7]);
        var body = lines[7..].Where(l => l.Length > 0).ToList();
        var pid = int.Parse(Regex.Match(body[0], "pid ([0-9]+)$").Groups[1].Value, CultureInfo.InvariantCulture);
        return new StreamChild(lines[0], pid, body);
    }

    private static Socket Bind(string dir, string name, SocketType type)
    {
        var s = new Socket(AddressFamily.Unix, type, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(Path.Combine(dir, name)));
        return s;
    }

    private static async Task AcceptStreams(Socket listener, ConcurrentBag<string> into, CancellationToken ct)
    {
        var readers = new List<Task>();
        try
        {
            while (true)
            {
                var conn = await listener.AcceptAsync(ct);
                readers.Add(Task.Run(async () =>
                {
                    using var c = conn;
                    using var ms = new MemoryStream();
                    var buf = new byte[4096];
                    int n;
                    while ((n = await c.ReceiveAsync(buf, SocketFlags.None)) > 0) ms.Write(buf, 0, n);
                    into.Add(Encoding.UTF8.GetString(ms.ToArray()));
                }));
            }
        }
        catch (OperationCanceledException) { }
        await Task.WhenAll(readers);
    }

    private static async Task ReceiveDatagrams(Socket s, ConcurrentBag<string> into, CancellationToken ct)
    {
        var buf = new byte[65536];
        try
        {
            while (true)
            {
                var n = await s.ReceiveAsync(buf, SocketFlags.None, ct);
                into.Add(Encoding.UTF8.GetString(buf, 0, n));
            }
        }
        catch (OperationCanceledException) { }
    }

    [GeneratedRegex(@"^<14>[^\[]+\[([0-9]+)\]: syslog line [0-9]+$")]
    private static partial Regex SyslogLine();
}
