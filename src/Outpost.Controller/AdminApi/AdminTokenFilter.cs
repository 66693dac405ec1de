using System.Security.Cryptography;
using System.Text;

namespace Outpost.Controller.AdminApi;

/// <summary>Requires `Authorization: Bearer &lt;admin token&gt;` on every admin call (constant-time compare).</summary>
internal sealed class AdminTokenFilter(AdminToken token) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var header = context.HttpContext.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()), token.Bytes))
        {
            return Results.Json(new AdminError("An admin token is required: send 'Authorization: Bearer <token>' (the token is in the controller's admin.token file)."),
                statusCode: StatusCodes.Status401Unauthorized);
        }

        return await next(context);
    }
}

/// <summary>The admin bearer token, created once in the data directory (mode 0600) and reused.</summary>
public sealed class AdminToken
{
    private AdminToken(string value) => Bytes = Encoding.UTF8.GetBytes(value);

    internal byte[] Bytes { get; }

    public static AdminToken LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            return new AdminToken(File.ReadAllText(path).Trim());
        }

        var value = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        AtomicFile.WriteAllText(path, value + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return new AdminToken(value);
    }
}
