using System.Globalization;

namespace Bisector.Statistics;

/// <summary>
/// The one place an e-value becomes text. E-values span many orders of magnitude (the demo's boundary reaches ~10¹³),
/// and a log line or report must not fall back to E-notation: up to 10⁴ the number is written out, above it as a
/// power of ten with two significant digits ("3.7 × 10^13").
/// </summary>
public static class EValueText
{
    public static string Value(double e)
    {
        if (double.IsNaN(e))
            return "n/a";
        if (double.IsPositiveInfinity(e))
            return "∞";
        if (e < 10_000)
            return e.ToString(e < 10 ? "0.###" : "0.#", CultureInfo.InvariantCulture);
        var exponent = (int)Math.Floor(Math.Log10(e));
        var mantissa = e / Math.Pow(10, exponent);
        return string.Create(CultureInfo.InvariantCulture, $"{mantissa:0.0} × 10^{exponent}");
    }
}
