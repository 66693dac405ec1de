using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Tests.Workloads;

public sealed class ContainerProcessResolverTests : IDisposable
{
    private readonly string _rootfs = Directory.CreateTempSubdirectory("outpost-rootfs-").FullName;

    public ContainerProcessResolverTests()
    {
        Directory.CreateDirectory(Path.Combine(_rootfs, "etc"));
        File.WriteAllText(Path.Combine(_rootfs, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n");
        File.WriteAllText(Path.Combine(_rootfs, "etc", "group"), "root:x:0:\nweb:x:33:\nlogs:x:4:web\n");
    }

    public void Dispose() => Directory.Delete(_rootfs, recursive: true);

    [Fact]
    public void Entrypoint_override_drops_the_image_cmd()
    {
        var process = new WorkloadProcess(new ImageProcessConfig(["/entry"], ["--image-arg"], []))
        {
            EntrypointOverride = ["/other"],
        };

        Assert.Equal(["/other"], ContainerProcessResolver.Resolve(process, _rootfs, "h").Args);
    }

    [Fact]
    public void Command_override_replaces_cmd_and_keeps_the_entrypoint()
    {
        var process = new WorkloadProcess(new ImageProcessConfig(["/entry"], ["--image-arg"], []))
        {
            CommandOverride = ["--mine"],
        };

        Assert.Equal(["/entry", "--mine"], ContainerProcessResolver.Resolve(process, _rootfs, "h").Args);
    }

    [Fact]
    public void User_name_and_group_name_resolve_through_the_rootfs()
    {
        var process = new WorkloadProcess(new ImageProcessConfig(["/entry"], [], [], User: "web:logs"));

        var resolved = ContainerProcessResolver.Resolve(process, _rootfs, "h");

        Assert.Equal((33, 4), (resolved.Uid, resolved.Gid));
        Assert.Contains("HOME=/var/www", resolved.Env);
    }

    [Fact]
    public void Passwd_symlink_pointing_out_of_the_rootfs_is_followed_inside_it()
    {
        // An image may make /etc/passwd a link to an absolute path; it must resolve within the rootfs, not the host.
        File.Delete(Path.Combine(_rootfs, "etc", "passwd"));
        File.CreateSymbolicLink(Path.Combine(_rootfs, "etc", "passwd"), "/etc/real-passwd");
        File.WriteAllText(Path.Combine(_rootfs, "etc", "real-passwd"), "imageuser:x:777:777::/:/bin/sh\n");
        var process = new WorkloadProcess(new ImageProcessConfig(["/entry"], [], [], User: "imageuser"));

        Assert.Equal(777, ContainerProcessResolver.Resolve(process, _rootfs, "h").Uid);
        var hostUser = new WorkloadProcess(new ImageProcessConfig(["/entry"], [], [], User: "root"));
        Assert.Throws<WorkloadSpecException>(() => ContainerProcessResolver.Resolve(hostUser, _rootfs, "h"));
    }

    [Fact]
    public void No_command_at_all_is_a_spec_error()
    {
        var process = new WorkloadProcess(ImageProcessConfig.Empty);

        var error = Assert.Throws<WorkloadSpecException>(() => ContainerProcessResolver.Resolve(process, _rootfs, "h"));
        Assert.Contains("no command", error.Message);
    }
}
