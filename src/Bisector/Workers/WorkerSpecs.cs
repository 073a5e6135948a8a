using System.Globalization;

namespace Bisector.Workers;

/// <summary>Turns <c>--workers</c> / <c>bisect.yaml workers:</c> entries into worker instances.</summary>
public static class WorkerSpecs
{
    /// <summary>
    /// <c>local:N</c> → N <see cref="LocalWorker"/>s named <c>local-1</c>..<c>local-N</c>, each with its own directory under
    /// <paramref name="workRoot"/>; <c>ssh://user@host[:port][?identity=…&amp;known-hosts=…&amp;tofu=1&amp;root=…]</c> → an
    /// <see cref="SshWorker"/> (see <see cref="SshTarget"/>). Other schemes are rejected with a <see cref="UsageException"/> naming <c>--workers</c>.
    /// </summary>
    public static IReadOnlyList<IWorker> Parse(IEnumerable<string> specs, string workRoot)
    {
        var workers = new List<IWorker>();
        foreach (var raw in specs)
        {
            var spec = raw.Trim();
            if (spec.StartsWith("local:", StringComparison.Ordinal) || spec == "local")
            {
                var count = spec == "local" ? "1" : spec["local:".Length..];
                if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > 256)
                {
                    throw new UsageException("--workers", $"'{spec}' has an invalid worker count", "write local:N with N between 1 and 256, e.g. local:2");
                }

                var first = workers.Count(w => w is LocalWorker) + 1;
                for (var i = first; i < first + n; i++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"local-{i}");
                    workers.Add(new LocalWorker(name, Path.Combine(workRoot, name)));
                }
            }
            else if (spec.StartsWith("ssh://", StringComparison.Ordinal))
            {
                workers.Add(new SshWorker(SshTarget.Parse(spec)));
            }
            else if (spec.StartsWith("container:", StringComparison.Ordinal) || spec.StartsWith("slurm:", StringComparison.Ordinal))
            {
                throw new UsageException("--workers", $"'{spec}': this worker backend is not yet supported", "use local:N or ssh://user@host for now");
            }
            else
            {
                throw new UsageException("--workers", $"'{spec}' is not a known worker spec",
                    "use local:N, ssh://user@host[:port], container:IMAGE or slurm:PARTITION");
            }
        }

        if (workers.Count == 0)
        {
            throw new UsageException("--workers", "no workers given", "pass at least one, e.g. --workers local:2");
        }

        return workers;
    }
}
