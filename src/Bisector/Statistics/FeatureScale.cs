using System.Globalization;
using Bisector.Sampling;

namespace Bisector.Statistics;

/// <summary>
/// How a feature's raw values read where a user reads them: memory metrics (stored in bytes) in MiB, slopes per
/// minute, anything else as stored; always in fixed-point notation, never <c>1.27E+07</c>. One place, so the search's
/// evidence line, the terminal table and the report state a value in the same unit.
/// </summary>
public sealed record FeatureScale(double Divisor, string Unit)
{
    /// <summary>Plain numbers: no unit, no scaling (simulations, unknown metrics).</summary>
    public static readonly FeatureScale Plain = new(1.0, "");

    public static FeatureScale For(string metric, FeatureKind feature)
    {
        var level = IsMemory(metric) ? "MiB" : "";
        var unit = feature == FeatureKind.Slope ? (level.Length == 0 ? "per min" : level + "/min") : level;
        return new FeatureScale(IsMemory(metric) ? 1024.0 * 1024.0 : 1.0, unit);
    }

    /// <summary>Memory metrics are stored in bytes (Sampling.Sample); heap counters from a sampler follow the same rule.</summary>
    public static bool IsMemory(string metric) =>
        metric is Metrics.VmRss or Metrics.RssAnon or Metrics.RssFile or Metrics.CgroupUsage or Metrics.CgroupRss
        || metric.StartsWith("heap", StringComparison.Ordinal)
        || metric.EndsWith("_bytes", StringComparison.Ordinal)
        || metric.StartsWith("rss", StringComparison.Ordinal)
        || metric.StartsWith("vm_", StringComparison.Ordinal);

    public double Scale(double raw) => raw / Divisor;

    public string Suffix => Unit.Length == 0 ? "" : " " + Unit;

    /// <summary>The scaled number alone: two decimals, more only when two would show a small non-zero value as 0.00.</summary>
    public string Number(double raw, bool signed = false)
    {
        var v = Scale(raw);
        if (double.IsNaN(v))
            return "n/a";
        if (double.IsInfinity(v))
            return v > 0 ? "∞" : "−∞";
        // Unscaled values keep their own precision (they may be counts or tiny rates); MiB read best at two decimals.
        var format = Divisor == 1.0 ? "0.####" : v != 0 && Math.Abs(v) < 0.01 ? "0.0####" : "0.00";
        return (signed && v > 0 ? "+" : "") + v.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>The scaled number with its unit: <c>12.16 MiB/min</c>.</summary>
    public string Format(double raw, bool signed = false) => Number(raw, signed) + Suffix;
}
