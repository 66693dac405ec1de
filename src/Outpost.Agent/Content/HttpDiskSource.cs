using Org.Lfedge.Eve.Config;
using Outpost.Agent.Configuration;
using Outpost.Oci.Content;

namespace Outpost.Agent.Content;

/// <summary>
/// A disk image on an HTTP(S) datastore (EVE DsHttp/DsHttps): the URL to fetch, the SHA-256 it must have and the
/// disk format it is stored as. A web server vouches for nothing, so the tree's sha256 is what makes the file
/// trustworthy: without one the tree is refused.
/// </summary>
public sealed record HttpDiskSource(Uri Url, DatastoreSpec Datastore, string DiskFormat, OciDigest Sha256)
{
    /// <summary>True when the tree's datastore (the first of its list the config has) is an HTTP one.</summary>
    public static bool Serves(ContentTreeSpec tree, IReadOnlyDictionary<string, DatastoreSpec> datastores) =>
        tree.DatastoreIds.Select(id => datastores.GetValueOrDefault(id)).FirstOrDefault(d => d is not null)?.Type is DsType.DsHttp or DsType.DsHttps;

    /// <summary>EVE joins the datastore's fqdn (<c>http(s)://host[:port]</c>), dpath and the tree's URL; a query string stays.</summary>
    /// <exception cref="ContentConfigException">Not a disk format, no (or a malformed) sha256, or no usable URL.</exception>
    public static HttpDiskSource Resolve(ContentTreeSpec tree, IReadOnlyDictionary<string, DatastoreSpec> datastores)
    {
        var datastore = ContentSource.DatastoreOf(tree, datastores);
        // The tree's format becomes the disk artifact's media type; there is no layer to unpack from a web server.
        if (tree.Format is not (Format.Raw or Format.Qcow2 or Format.Iso))
        {
            throw new ContentConfigException(
                $"Content tree {tree.Uuid} has format {tree.Format}, but datastore {datastore.Id} is an HTTP server, which serves RAW, QCOW2 or ISO disk images only; "
                + "a CONTAINER image comes from an OCI registry (a DsContainerRegistry datastore, docker://HOST), other disk formats convert with qemu-img convert -O qcow2.");
        }

        if (tree.Sha256.Length == 0)
        {
            throw new ContentConfigException(
                $"Content tree {tree.Uuid} comes from HTTP datastore {datastore.Id} but has no sha256: a file from a web server can only be trusted against the hash the controller sends. "
                + "Give the content tree the file's sha256 (sha256sum FILE; `outpost app deploy` computes it).");
        }

        if (!OciDigest.TryParse("sha256:" + tree.Sha256, out var sha256))
        {
            throw new ContentConfigException($"Content tree {tree.Uuid} has sha256 '{tree.Sha256}', which is not 64 hex digits.");
        }

        return new HttpDiskSource(Join(tree, datastore), datastore, tree.Format.ToString(), sha256);
    }

    private static Uri Join(ContentTreeSpec tree, DatastoreSpec datastore)
    {
        var scheme = datastore.Type == DsType.DsHttps ? Uri.UriSchemeHttps : Uri.UriSchemeHttp;
        // EVE's fqdn carries the scheme; one without is taken as the datastore type's.
        var fqdn = datastore.Fqdn.Contains("://", StringComparison.Ordinal) ? datastore.Fqdn : $"{scheme}://{datastore.Fqdn}";
        if (!Uri.TryCreate(fqdn, UriKind.Absolute, out var root) || root.Scheme is not ("http" or "https") || root.Authority.Length == 0)
        {
            throw new ContentConfigException($"Datastore {datastore.Id} fqdn '{datastore.Fqdn}' must be http://HOST[:PORT] or https://HOST[:PORT].");
        }

        // An HTTPS datastore is never fetched in the clear.
        if (datastore.Type == DsType.DsHttps && root.Scheme != Uri.UriSchemeHttps)
        {
            throw new ContentConfigException($"Datastore {datastore.Id} is DsHttps but its fqdn '{datastore.Fqdn}' is not https://; fix the datastore's URL.");
        }

        var path = datastore.Path.Trim('/');
        var text = $"{root.GetLeftPart(UriPartial.Path).TrimEnd('/')}/{(path.Length > 0 ? path + "/" : "")}{tree.Url.TrimStart('/')}";
        return Uri.TryCreate(text, UriKind.Absolute, out var url) && tree.Url.Trim('/').Length > 0
            ? url
            : throw new ContentConfigException($"Content tree {tree.Uuid} URL '{tree.Url}' does not name a file on datastore {datastore.Id}.");
    }
}
