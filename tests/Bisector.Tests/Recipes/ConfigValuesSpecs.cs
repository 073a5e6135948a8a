using Bisector.Recipes;

namespace Bisector.Tests.Recipes;

public class ConfigValuesSpecs
{
    [Theory]
    [InlineData("100ms", 100)]
    [InlineData("2s", 2_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("5m", 300_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("0s", 0)]
    public void I_can_write_durations_with_units(string text, long milliseconds)
    {
        Assert.True(ConfigValues.TryParseDuration(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("5 minutes")]
    [InlineData("5M")]
    [InlineData("-1s")]
    [InlineData("s")]
    [InlineData("1e3s")]
    [InlineData("")]
    public void I_get_ambiguous_or_malformed_durations_refused(string text)
    {
        Assert.False(ConfigValues.TryParseDuration(text, out _));
    }

    [Fact]
    public void I_get_durations_beyond_a_week_saturated_so_they_read_as_out_of_range()
    {
        Assert.True(ConfigValues.TryParseDuration("99999999999999999999h", out var duration));
        Assert.Equal(TimeSpan.MaxValue, duration);
    }

    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("512K", 512L * 1024)]
    [InlineData("256M", 256L * 1024 * 1024)]
    [InlineData("256MiB", 256L * 1024 * 1024)]
    [InlineData("1g", 1L << 30)]
    [InlineData("2000G", long.MaxValue)]
    public void I_can_write_sizes_with_binary_suffixes(string text, long bytes)
    {
        Assert.True(ConfigValues.TryParseSize(text, out var value));
        Assert.Equal(bytes, value);
    }

    [Theory]
    [InlineData("256 M")]
    [InlineData("1.5G")]
    [InlineData("-1")]
    [InlineData("lots")]
    public void I_get_malformed_sizes_refused(string text)
    {
        Assert.False(ConfigValues.TryParseSize(text, out _));
    }

    [Theory]
    [InlineData(90_000, "1m30s")]
    [InlineData(100, "100ms")]
    [InlineData(86_400_000, "24h")]
    [InlineData(0, "0s")]
    public void I_can_format_durations_the_way_they_are_written(long milliseconds, string expected)
    {
        var text = ConfigValues.FormatDuration(TimeSpan.FromMilliseconds(milliseconds));

        Assert.Equal(expected, text);
        Assert.True(ConfigValues.TryParseDuration(text, out var back));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), back);
    }

    [Theory]
    [InlineData(1048576.0, "1M")]
    [InlineData(204800.0, "200K")]
    [InlineData(1572864.0, "1.5M")]
    [InlineData(12753300.0, "12753300")]
    [InlineData(0.0, "0")]
    public void I_can_read_an_amount_back_as_a_user_writes_it_and_parse_it_again(double bytes, string expected)
    {
        // Act
        var text = ConfigValues.FormatAmount(bytes);
        var parsed = ConfigValues.TryParseAmount(text, out var back, out var per);

        // Assert
        Assert.Equal(expected, text);
        Assert.True(parsed);
        Assert.Null(per);
        Assert.Equal(bytes, back, 6);
    }
}
