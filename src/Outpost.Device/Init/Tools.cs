using System.Diagnostics;

namespace Outpost.Device.Init;

/// <summary>Runs the Debian tools the image carries (e2fsck, mkfs.ext4, ip, modprobe, runc) and returns their exit code and output.</summary>
internal static class Tools
{
    public sealed record Result(int ExitCode, string Output)
    {
        public bool Succeeded => ExitCode == 0;

        /// <summary>The last line of output, for a one-line reason.</summary>
        public string LastLine => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
    }

    public static async Task<Result> RunAsync(string program, IEnumerable<string> arguments, CancellationToken cancellationToken, string? input = null)
    {
        var start = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        try
        {
            using var process = OrphanReaper.Start(new Process { StartInfo = start });
            if (input is not null) await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return new Result(process.ExitCode, (await output) + (await error));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new Result(127, $"{program}: {e.Message}");
        }
    }

    public static Task<Result> RunAsync(string program, params string[] arguments) => RunAsync(program, arguments, CancellationToken.None);
}
