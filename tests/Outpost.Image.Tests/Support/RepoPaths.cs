namespace Outpost.Image.Tests.Support;

public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string ExampleSpec => Path.Combine(Root, "tests", "Outpost.Image.Tests", "Support", "minimal-image.yml");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Outpost.slnx"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Outpost.slnx) above " + AppContext.BaseDirectory);
    }
}
