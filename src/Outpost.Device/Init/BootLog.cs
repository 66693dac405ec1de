namespace Outpost.Device.Init;

/// <summary>
/// Where PID 1 and the services it runs say things: the console (the serial port on a device, which is what an
/// operator or `outpost lab console` sees) and, once persist is mounted, a bounded file per source under
/// <c>/persist/log</c> so the reason for the last boot's trouble survives the reboot.
/// </summary>
internal sealed class BootLog
{
    private const long MaxFileBytes = 4L * 1024 * 1024;
    private readonly object _gate = new();
    private readonly TextWriter _console;
    private string? _directory;

    public BootLog(TextWriter console) => _console = console;

    /// <summary>Starts keeping files in <paramref name="directory"/> (on persist); lines said before are on the console only.</summary>
    public void KeepFilesIn(string directory)
    {
        Directory.CreateDirectory(directory);
        lock (_gate) _directory = directory;
    }

    public void Say(string message) => Line("init", message);

    public void Line(string source, string text)
    {
        var line = $"{source}: {text}";
        lock (_gate)
        {
            try
            {
                _console.WriteLine(line);
                _console.Flush();
            }
            catch (IOException)
            {
                // No console is no reason to stop the device.
            }

            if (_directory is null) return;
            try
            {
                var path = Path.Combine(_directory, source + ".log");
                if (File.Exists(path) && new FileInfo(path).Length > MaxFileBytes)
                    File.Move(path, path + ".1", overwrite: true);
                File.AppendAllText(path, $"{DateTimeOffset.UtcNow:O} {text}\n");
            }
            catch (IOException)
            {
                // A full or failing persist loses log lines, never the device.
            }
        }
    }
}
