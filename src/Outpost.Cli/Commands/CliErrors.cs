namespace Outpost.Cli.Commands;

/// <summary>An error the user can fix; the CLI prints its message (no stack trace) and exits non-zero.</summary>
internal sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

internal static class CliErrors
{
    /// <summary>Runs a command body, turning user-fixable errors into one line on stderr and an exit code.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (CliException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (Exception e) when (e is Outpost.Image.ImageBuildException or Outpost.Oci.Errors.OciException or Outpost.Agent.OnboardingException
            or Outpost.Controller.Pki.InvalidAdvertisedNameException or Outpost.Api.OsImages.OsImageSignatureException or Outpost.Agent.Workloads.WorkloadException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        catch (HttpRequestException e)
        {
            await Console.Error.WriteLineAsync($"error: cannot reach the controller: {e.Message}. Is it running? Check --controller or OUTPOST_CONTROLLER.");
            return 1;
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
    }
}
