namespace Bisector;

public static class Program
{
    public static Task<int> Main(string[] args) => Cli.App.RunAsync(args);
}
