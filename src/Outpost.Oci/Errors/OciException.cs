namespace Outpost.Oci.Errors;

/// <summary>Base type of every error this library raises for problems a user or remote party can cause.</summary>
public class OciException : Exception
{
    public OciException(string message) : base(message) { }

    public OciException(string message, Exception? inner) : base(message, inner) { }
}
