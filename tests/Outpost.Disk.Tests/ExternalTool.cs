using System.Diagnostics;

namespace Outpost.Disk.Tests;

/// <summary>Runs an independent Debian checker and fails the test clearly when it is not installed.</summary>
internal static class ExternalTool
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public string All => StdOut + StdErr;
    }

    public static Result Run(string tool, params string[] arguments)
    {
        string path = Locate(tool);
        var info = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        // mtools refuses images whose geometry it dislikes unless told otherwise; keep its defaults.
        info.Environment["MTOOLS_SKIP_CHECK"] = "1";
        info.Environment["LC_ALL"] = "C";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs the tool and asserts exit code 0, returning its output.</summary>
    public static Result RunOk(string tool, params string[] arguments)
    {
        var result = Run(tool, arguments);
        Assert.True(result.ExitCode == 0,
            $"{tool} {string.Join(' ', arguments)} exited with {result.ExitCode}:\n{result.All}");
        return result;
    }

    private static string Locate(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin"]))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        Assert.Fail($"The checker '{tool}' is not installed. Install the Debian package that provides it (gdisk, dosfstools, mtools, squashfs-tools, qemu-utils, util-linux) to run this test.");
        return "";
    }
}
