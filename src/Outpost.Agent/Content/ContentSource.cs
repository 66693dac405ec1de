using Org.Lfedge.Eve.Config;
using Outpost.Agent.Configuration;
using Outpost.Oci.Errors;
using Outpost.Oci.References;

namespace Outpost.Agent.Content;

/// <summary>A content tree that cannot be fetched as configured (unknown datastore, unsupported type or format).</summary>
public sealed class ContentConfigException(string message) : Exception(message);

/// <summary>Where one content tree comes from: the image reference and the datastore that serves it.</summary>
public sealed record ContentSource(ImageReference Reference, DatastoreSpec Datastore)
{
    /// <summary>
    /// EVE joins the datastore's fqdn (<c>docker://host[:port]</c> or <c>oci://…</c>), dpath and the tree's URL
    /// (<c>repo:tag</c> or <c>repo@sha256:…</c>); a sha256 on the tree pins the digest.
    /// </summary>
    /// <exception cref="ContentConfigException">The configuration cannot name an image.</exception>
    public static ContentSource Resolve(ContentTreeSpec tree, IReadOnlyDictionary<string, DatastoreSpec> datastores)
    {
        // Disks travel as OCI artifacts (LF Edge ECI) in the same registries as container images.
        if (tree.Format is not (Format.Container or Format.Raw or Format.Qcow2 or Format.Iso))
        {
            throw new ContentConfigException(
                $"Content tree {tree.Uuid} has format {tree.Format}, which is not supported; this agent takes CONTAINER images and RAW, QCOW2 or ISO disks (convert it to qcow2 with qemu-img convert).");
        }

        var datastore = DatastoreOf(tree, datastores);
        if (datastore.Type != DsType.DsContainerRegistry)
        {
            throw new ContentConfigException($"Datastore {datastore.Id} is of type {datastore.Type}; container images need a DsContainerRegistry datastore.");
        }

        var registry = RegistryHost(datastore);
        var url = tree.Url;
        foreach (var scheme in (string[])["docker://", "oci://"])
        {
            if (url.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                // Some controllers send the full reference; the registry part must then be the datastore's.
                url = url[scheme.Length..];
                url = url.StartsWith(registry + "/", StringComparison.OrdinalIgnoreCase) ? url[(registry.Length + 1)..] : url;
            }
        }

        var path = datastore.Path.Trim('/');
        var text = $"{registry}/{(path.Length > 0 ? path + "/" : "")}{url.TrimStart('/')}";
        if (tree.Sha256.Length > 0 && !text.Contains('@', StringComparison.Ordinal))
        {
            text += "@sha256:" + tree.Sha256;
        }

        try
        {
            return new ContentSource(ImageReference.Parse(text), datastore);
        }
        catch (InvalidImageReferenceException e)
        {
            throw new ContentConfigException($"Content tree {tree.Uuid} does not name an image: {e.Message}");
        }
    }

    /// <summary>The first of the tree's datastores (ds_ids_list, tried in order) that the config has.</summary>
    /// <exception cref="ContentConfigException">The tree names none the config has.</exception>
    public static DatastoreSpec DatastoreOf(ContentTreeSpec tree, IReadOnlyDictionary<string, DatastoreSpec> datastores)
    {
        if (tree.DatastoreIds.Count == 0)
        {
            throw new ContentConfigException($"Content tree {tree.Uuid} names no datastore (dsIdsList is empty).");
        }

        return tree.DatastoreIds.Select(id => datastores.GetValueOrDefault(id)).FirstOrDefault(d => d is not null)
            ?? throw new ContentConfigException(
                $"Unknown datastore {string.Join(", ", tree.DatastoreIds)} for content tree {tree.Uuid}: the device config has no DatastoreConfig with that id.");
    }

    private static string RegistryHost(DatastoreSpec datastore)
    {
        if (!Uri.TryCreate(datastore.Fqdn, UriKind.Absolute, out var uri) || uri.Scheme is not ("docker" or "oci") || uri.Authority.Length == 0)
        {
            throw new ContentConfigException($"Datastore {datastore.Id} fqdn '{datastore.Fqdn}' must be docker://HOST[:PORT] or oci://HOST[:PORT].");
        }

        return uri.Authority;
    }
}
