using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Info;

namespace Outpost.Agent.Content;

/// <summary>
/// An error (or warning) reported for one object. <paramref name="At"/> is when it first happened, so a repeated
/// failure does not make the object's info look new on every retry.
/// </summary>
public sealed record ObjectError(string Description, DateTimeOffset At, Severity Severity = Severity.Error)
{
    public ErrorInfo ToErrorInfo() => new()
    {
        Description = Description,
        Timestamp = Timestamp.FromDateTimeOffset(At),
        Severity = Severity,
    };

    /// <summary>Keeps the first time of an unchanged description.</summary>
    public static ObjectError Since(ObjectError? previous, string description, DateTimeOffset now, Severity severity = Severity.Error) =>
        previous is not null && previous.Description == description && previous.Severity == severity ? previous : new(description, now, severity);
}
