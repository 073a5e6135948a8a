using System.Globalization;

namespace Bisector.Statistics;

/// <summary>
/// The one place a p-value becomes text, so no writer can print an impossible one: a p-value is never 0 (an exact
/// Mann–Whitney test at 9 vs 9 cannot go below 2/48620 ≈ 4.1×10⁻⁵), so values below <see cref="Floor"/> are stated as
/// "&lt; 0.0001" rather than rounded to zero, and the sentence form never puts "=" in front of "&lt;".
/// </summary>
public static class PValueText
{
    /// <summary>Below this a p-value is shown as a bound, not a number.</summary>
    public const double Floor = 0.0001;

    /// <summary>The value alone, for a column headed "p": "0.0423", "0.000123", "&lt; 0.0001" or "n/a".</summary>
    public static string Value(double p) =>
        double.IsNaN(p) ? "n/a"
        : p < Floor ? "< " + Floor.ToString("0.0000", CultureInfo.InvariantCulture)
        // Three significant digits: "0.0000" would show 0.00995 as "0.0100", on the wrong side of α = 0.01.
        : p.ToString("G3", CultureInfo.InvariantCulture);

    /// <summary>The value in a sentence: "p = 0.0423", "p &lt; 0.0001" or "p = n/a".</summary>
    public static string Statement(double p) => p < Floor ? "p " + Value(p) : "p = " + Value(p);
}
