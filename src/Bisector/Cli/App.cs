namespace Bisector.Cli;

public static class App
{
    public static Task<int> RunAsync(string[] args)
    {
        Console.Error.WriteLine("bisector: not wired yet");
        return Task.FromResult(1);
    }
}
