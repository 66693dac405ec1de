namespace Outpost.Controller.DeviceApi;

/// <summary>Reads a request body into memory with a hard size cap, answering 413 past it.</summary>
internal static class RequestBody
{
    public static async Task<byte[]> ReadAsync(HttpContext context, long maxBytes)
    {
        if (context.Request.ContentLength > maxBytes)
        {
            throw TooLarge(context.Request.ContentLength.Value, maxBytes);
        }

        using var buffer = new MemoryStream(context.Request.ContentLength is { } length ? (int)length : 4096);
        var chunk = new byte[16 * 1024];
        int read;
        try
        {
            while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    throw TooLarge(buffer.Length + read, maxBytes);
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new DeviceApiException(StatusCodes.Status413PayloadTooLarge, $"Request body is larger than the {maxBytes}-byte limit.");
        }

        return buffer.ToArray();
    }

    private static DeviceApiException TooLarge(long size, long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, $"Request body of {size} bytes exceeds the {maxBytes}-byte limit; split the upload.");
}
