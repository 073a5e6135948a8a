using Xunit.Abstractions;

namespace Bisector.Tests;

public sealed class LongestFirstSpecs
{
    [Fact]
    public void I_can_see_the_longest_test_classes_start_first_and_the_rest_by_name()
    {
        // Arrange: xunit's per-class collections are named "Test collection for <class>" (the demo classes carry
        // measured seconds; a class without the attribute counts 0)
        var collections = new[]
        {
            Named("Test collection for Bisector.Tests.LongestFirstSpecs"),
            Named("Test collection for Bisector.Tests.EndToEnd.DemoBisectionSpecs"),
            Named("Test collection for Bisector.Tests.AaaNotAClass"),
            Named("Test collection for Bisector.Tests.EndToEnd.DemoVerdictSpecs"),
        };

        // Act
        var order = new LongestFirst().OrderTestCollections(collections).Select(c => c.DisplayName["Test collection for ".Length..]).ToArray();

        // Assert
        Assert.Equal(["Bisector.Tests.EndToEnd.DemoVerdictSpecs", "Bisector.Tests.EndToEnd.DemoBisectionSpecs",
            "Bisector.Tests.AaaNotAClass", "Bisector.Tests.LongestFirstSpecs"], order);
        Assert.True(LongestFirst.Seconds(collections[3]) > LongestFirst.Seconds(collections[1]));
    }

    [Fact]
    public void I_can_see_xunit_told_to_order_this_assemblys_classes_longest_first()
    {
        // Arrange
        var assembly = typeof(LongestFirst).Assembly;

        // Act
        var orderer = assembly.GetCustomAttributesData().Single(a => a.AttributeType == typeof(Xunit.TestCollectionOrdererAttribute));

        // Assert: xunit finds the orderer by these two names
        Assert.Equal(typeof(LongestFirst).FullName, orderer.ConstructorArguments[0].Value);
        Assert.Equal(assembly.GetName().Name, orderer.ConstructorArguments[1].Value);
    }

    /// <summary>xunit's own collection type, in this test assembly, as xunit makes it for each test class.</summary>
    private static ITestCollection Named(string name) =>
        new Xunit.Sdk.TestCollection(new Xunit.Sdk.TestAssembly(Xunit.Sdk.Reflector.Wrap(typeof(LongestFirstSpecs).Assembly)), null, name);
}
