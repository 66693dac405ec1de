using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Outpost.Cli.Commands;

/// <summary>Console logging shared by the long-running roles: one line per event, UTC timestamps.</summary>
internal static class CliLogging
{
    public static void Configure(ILoggingBuilder logging, LogLevel level)
    {
        logging.SetMinimumLevel(level);
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            console.ColorBehavior = LoggerColorBehavior.Disabled;
        });
    }

    public static ILoggerFactory CreateFactory(LogLevel level) => LoggerFactory.Create(logging => Configure(logging, level));
}
