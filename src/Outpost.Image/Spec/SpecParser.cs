using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Outpost.Image.Spec;

/// <summary>
/// Parses the linuxkit YAML format with YamlDotNet's representation model (not a deserializer),
/// so every error can name the exact line and column, and unknown keys are caught with a suggestion.
/// </summary>
public static class SpecParser
{
    private static readonly string[] OutpostKeys = ["version"];
    private static readonly string[] TopLevelKeys = ["kernel", "init", "onboot", "onshutdown", "services", "files", "volumes", "trust", "outpost"];
    private static readonly string[] KernelKeys = ["image", "cmdline", "binary", "tar", "ucode"];
    private static readonly string[] FileKeys = ["path", "directory", "symlink", "contents", "source", "optional", "metadata", "mode", "uid", "gid"];
    private static readonly string[] VolumeKeys = ["name", "image", "readonly", "format", "platforms"];

    /// <summary>The per-image keys linuxkit accepts for onboot, onshutdown and services.</summary>
    public static readonly IReadOnlyList<string> ContainerKeys =
    [
        "name", "image", "command", "env", "cwd", "uid", "gid", "additionalGids", "noNewPrivileges",
        "capabilities", "capabilities.add", "ambient", "rlimits", "oomScoreAdj", "readonly", "mounts",
        "binds", "binds.add", "tmpfs", "maskedPaths", "readonlyPaths", "rootfsPropagation", "devices",
        "net", "pid", "ipc", "uts", "userns", "uidMappings", "gidMappings", "hostname", "cgroupsPath",
        "resources", "sysctl", "annotations", "runtime",
    ];

    public static async Task<ImageSpec> ParseFileAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
            throw new ImageBuildException($"image description '{path}' does not exist. Pass the path of a linuxkit-format YAML file.");
        var text = await File.ReadAllTextAsync(path, cancellationToken);
        return Parse(text, Path.GetFileName(path));
    }

    public static ImageSpec Parse(string yaml, string fileName)
    {
        var reader = new YamlNodeReader(fileName);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new SpecException([new SpecError(fileName, (int)e.Start.Line, (int)e.Start.Column, $"not valid YAML: {e.InnerException?.Message ?? e.Message}")]);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new SpecException([new SpecError(fileName, 1, 1, "the file must be a YAML mapping with at least a 'kernel' or 'init' section")]);

        reader.CheckKeys(root, TopLevelKeys, "the top level");
        var kernel = YamlNodeReader.Get(root, "kernel") is { } kernelNode ? ParseKernel(reader, kernelNode) : null;
        var init = ParseInit(reader, root);
        var onboot = ParseContainers(reader, root, "onboot");
        var onshutdown = ParseContainers(reader, root, "onshutdown");
        var services = ParseContainers(reader, root, "services");
        var files = ParseFiles(reader, root);
        var volumes = ParseVolumes(reader, root);
        var outpost = ParseOutpost(reader, root);
        CheckUniqueNames(reader, root, onboot.Concat(onshutdown).Concat(services));

        if (reader.Errors.Count > 0) throw new SpecException(reader.Errors.ToList());
        return new ImageSpec(kernel, init, onboot, onshutdown, services, files, volumes, yaml) { Outpost = outpost };
    }

    private static OutpostSpec? ParseOutpost(YamlNodeReader reader, YamlMappingNode root)
    {
        if (YamlNodeReader.Get(root, "outpost") is not { } node) return null;
        // `outpost:` with nothing under it asks for the agent of this build.
        if (node is YamlScalarNode { Value: null or "" or "~" or "null" }) return new OutpostSpec(null, reader.At(node));
        if (reader.Mapping(node, "'outpost'") is not { } mapping) return null;
        reader.CheckKeys(mapping, OutpostKeys, "outpost");
        return new OutpostSpec(reader.String(mapping, "version", "outpost"), reader.At(node));
    }

    private static KernelSpec? ParseKernel(YamlNodeReader reader, YamlNode node)
    {
        if (reader.Mapping(node, "'kernel'") is not { } mapping) return null;
        reader.CheckKeys(mapping, KernelKeys, "kernel");
        var image = reader.RequiredString(mapping, "image", "kernel");
        var cmdline = reader.String(mapping, "cmdline", "kernel") ?? "";
        var binary = reader.String(mapping, "binary", "kernel") ?? "kernel";
        var tar = reader.String(mapping, "tar", "kernel");
        // linuxkit: an absent tar means kernel.tar; "none" or an empty string means no tar.
        tar = tar is null ? "kernel.tar" : tar is "" or "none" ? null : tar;
        var ucode = reader.String(mapping, "ucode", "kernel");
        return image is null ? null : new KernelSpec(new ImageRef(image, reader.At(YamlNodeReader.Get(mapping, "image")!)), cmdline, binary, tar, string.IsNullOrEmpty(ucode) ? null : ucode);
    }

    private static List<ImageRef> ParseInit(YamlNodeReader reader, YamlMappingNode root)
    {
        var result = new List<ImageRef>();
        if (YamlNodeReader.Get(root, "init") is not { } node) return result;
        if (node is not YamlSequenceNode sequence)
        {
            reader.Error(node, "'init' must be a list of image references");
            return result;
        }
        foreach (var item in sequence)
        {
            if (item is YamlScalarNode { Value: { Length: > 0 } value }) result.Add(new ImageRef(value, reader.At(item)));
            else reader.Error(item, "every item of 'init' must be an image reference string");
        }
        return result;
    }

    private static List<ContainerSpec> ParseContainers(YamlNodeReader reader, YamlMappingNode root, string section)
    {
        var result = new List<ContainerSpec>();
        if (YamlNodeReader.Get(root, section) is not { } node) return result;
        if (node is not YamlSequenceNode sequence)
        {
            reader.Error(node, $"'{section}' must be a list of images (each with 'name' and 'image')");
            return result;
        }
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var where = $"{section}[{i}]";
            if (reader.Mapping(sequence.Children[i], where) is not { } m) continue;
            reader.CheckKeys(m, ContainerKeys, where);
            var name = reader.RequiredString(m, "name", where);
            var image = reader.RequiredString(m, "image", where);
            if (name is not null && !IsValidName(name))
                reader.Error(YamlNodeReader.Get(m, "name")!, $"name '{name}' in {where} may contain only letters, digits, '-', '_' and '.'");
            // Every field is read even when name or image is missing, so all errors are reported at once.
            var container = new ContainerSpec
            {
                Name = name ?? "",
                Image = new ImageRef(image ?? "", reader.At(YamlNodeReader.Get(m, "image") ?? m)),
                Location = reader.At(m),
                Command = reader.StringList(m, "command", where),
                Env = reader.StringList(m, "env", where),
                Cwd = reader.String(m, "cwd", where),
                Uid = reader.IdOrName(m, "uid", where),
                Gid = reader.IdOrName(m, "gid", where),
                AdditionalGids = reader.StringList(m, "additionalGids", where),
                NoNewPrivileges = reader.Bool(m, "noNewPrivileges", where),
                Capabilities = reader.StringList(m, "capabilities", where),
                CapabilitiesAdd = reader.StringList(m, "capabilities.add", where),
                Ambient = reader.StringList(m, "ambient", where),
                Rlimits = reader.StringList(m, "rlimits", where),
                OomScoreAdj = reader.Int(m, "oomScoreAdj", where),
                Readonly = reader.Bool(m, "readonly", where),
                Mounts = reader.JsonList(m, "mounts", where),
                Binds = reader.StringList(m, "binds", where),
                BindsAdd = reader.StringList(m, "binds.add", where),
                Tmpfs = reader.StringList(m, "tmpfs", where),
                MaskedPaths = reader.StringList(m, "maskedPaths", where),
                ReadonlyPaths = reader.StringList(m, "readonlyPaths", where),
                RootfsPropagation = reader.String(m, "rootfsPropagation", where),
                Devices = reader.JsonList(m, "devices", where),
                Net = reader.String(m, "net", where),
                Pid = reader.String(m, "pid", where),
                Ipc = reader.String(m, "ipc", where),
                Uts = reader.String(m, "uts", where),
                Userns = reader.String(m, "userns", where),
                UidMappings = reader.JsonList(m, "uidMappings", where),
                GidMappings = reader.JsonList(m, "gidMappings", where),
                Hostname = reader.String(m, "hostname", where),
                CgroupsPath = reader.String(m, "cgroupsPath", where),
                Resources = reader.JsonMap(m, "resources", where),
                Sysctl = reader.JsonMap(m, "sysctl", where),
                Annotations = reader.JsonMap(m, "annotations", where),
                Runtime = reader.JsonMap(m, "runtime", where),
            };
            if (name is not null && image is not null) result.Add(container);
        }
        return result;
    }

    private static List<FileSpec> ParseFiles(YamlNodeReader reader, YamlMappingNode root)
    {
        var result = new List<FileSpec>();
        if (YamlNodeReader.Get(root, "files") is not { } node) return result;
        if (node is not YamlSequenceNode sequence)
        {
            reader.Error(node, "'files' must be a list of file entries (each with 'path')");
            return result;
        }
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var where = $"files[{i}]";
            if (reader.Mapping(sequence.Children[i], where) is not { } m) continue;
            reader.CheckKeys(m, FileKeys, where);
            var path = reader.RequiredString(m, "path", where);
            var directory = reader.Bool(m, "directory", where) ?? false;
            var symlink = reader.String(m, "symlink", where);
            var contents = reader.String(m, "contents", where);
            var source = reader.String(m, "source", where);
            var metadata = reader.String(m, "metadata", where);
            var modeText = reader.String(m, "mode", where);
            var mode = directory ? 0b111_101_101 : 0b110_000_000; // linuxkit: files 0600 unless told, directories 0755
            if (modeText is not null)
            {
                try { mode = Convert.ToInt32(modeText, 8); }
                catch (FormatException) { reader.Error(YamlNodeReader.Get(m, "mode")!, $"mode '{modeText}' in {where} must be an octal number such as 0644"); }
            }
            var kinds = new[] { directory, symlink is not null, contents is not null, source is not null, metadata is not null }.Count(x => x);
            if (kinds > 1)
                reader.Error(m, $"{where} may have only one of 'directory', 'symlink', 'contents', 'source' and 'metadata'");
            if (metadata is not null and not "yaml")
                reader.Error(YamlNodeReader.Get(m, "metadata")!, $"metadata '{metadata}' in {where} is not supported; the only format is 'yaml'");
            if (path is null) continue;
            result.Add(new FileSpec(path.TrimStart('/'), directory, symlink, contents, source,
                reader.Bool(m, "optional", where) ?? false, metadata, mode,
                reader.IdOrName(m, "uid", where), reader.IdOrName(m, "gid", where), reader.At(m)));
        }
        return result;
    }

    private static List<VolumeSpec> ParseVolumes(YamlNodeReader reader, YamlMappingNode root)
    {
        var result = new List<VolumeSpec>();
        if (YamlNodeReader.Get(root, "volumes") is not { } node) return result;
        if (node is not YamlSequenceNode sequence)
        {
            reader.Error(node, "'volumes' must be a list");
            return result;
        }
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var where = $"volumes[{i}]";
            if (reader.Mapping(sequence.Children[i], where) is not { } m) continue;
            reader.CheckKeys(m, VolumeKeys, where);
            var name = reader.RequiredString(m, "name", where);
            var image = reader.String(m, "image", where);
            var format = reader.String(m, "format", where) ?? "filesystem";
            if (format is not ("filesystem" or "oci"))
                reader.Error(YamlNodeReader.Get(m, "format")!, $"format '{format}' in {where} must be 'filesystem' or 'oci'");
            if (name is null) continue;
            var imageRef = image is null ? null : new ImageRef(image, reader.At(YamlNodeReader.Get(m, "image")!));
            result.Add(new VolumeSpec(name, imageRef, reader.Bool(m, "readonly", where) ?? false, format, reader.At(m)));
        }
        return result;
    }

    private static void CheckUniqueNames(YamlNodeReader reader, YamlMappingNode root, IEnumerable<ContainerSpec> containers)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var container in containers)
        {
            if (!seen.Add(container.Name))
                reader.Error(root, $"container name '{container.Name}' at {container.Location.Line}:{container.Location.Column} is used twice; names must be unique across onboot, onshutdown and services");
        }
    }

    private static bool IsValidName(string name) =>
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && name[0] != '.';

    internal static string FormatOctal(int mode) => "0" + Convert.ToString(mode, 8).PadLeft(3, '0').ToString(CultureInfo.InvariantCulture);
}
