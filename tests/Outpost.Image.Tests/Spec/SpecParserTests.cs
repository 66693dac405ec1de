using Outpost.Image.Spec;

namespace Outpost.Image.Tests.Spec;

public sealed class SpecParserTests
{
    private const string Valid = """
        kernel:
          image: oci:images/kernel
          cmdline: "console=ttyS0"
        init:
          - oci:images/init
        onboot:
          - name: first
            image: oci:images/busybox
            command: ["/bin/true"]
        services:
          - name: svc
            image: oci:images/busybox
            capabilities.add: [CAP_NET_ADMIN]
            readonly: true
            oomScoreAdj: -500
            resources:
              memory:
                limit: 1000
        files:
          - path: /etc/motd
            contents: hi
            mode: "0644"
        """;

    [Fact]
    public void Valid_spec_parses_every_section()
    {
        var spec = SpecParser.Parse(Valid, "outpost.yml");
        Assert.Equal("oci:images/kernel", spec.Kernel!.Image.Reference);
        Assert.Equal("kernel", spec.Kernel.Binary);
        Assert.Equal("kernel.tar", spec.Kernel.Tar);
        Assert.Equal(["oci:images/init"], spec.Init.Select(i => i.Reference));
        Assert.Equal(["/bin/true"], spec.Onboot[0].Command);
        Assert.Equal(["CAP_NET_ADMIN"], spec.Services[0].CapabilitiesAdd);
        Assert.True(spec.Services[0].Readonly);
        Assert.Equal(-500, spec.Services[0].OomScoreAdj);
        Assert.Equal(1000, (long)spec.Services[0].Resources!["memory"]!["limit"]!);
        Assert.Equal("etc/motd", spec.Files[0].Path);
        Assert.Equal(420, spec.Files[0].Mode); // 0644
    }

    [Fact]
    public void Unknown_key_names_file_line_column_and_suggests_the_nearest_key()
    {
        const string yaml = "kernel:\n  image: oci:k\nservices:\n  - name: a\n    image: oci:b\n    comand: [\"/x\"]\n";
        var error = Assert.Throws<SpecException>(() => SpecParser.Parse(yaml, "outpost.yml"));
        Assert.Equal("outpost.yml:6:5: unknown key 'comand' in services[0]; did you mean 'command'?", error.Message);
    }

    [Fact]
    public void Every_error_is_reported_not_only_the_first()
    {
        const string yaml = "kernal:\n  image: x\nonboot:\n  - image: oci:b\n    readonly: maybe\n";
        var error = Assert.Throws<SpecException>(() => SpecParser.Parse(yaml, "o.yml"));
        Assert.Contains(error.Errors, e => e.Line == 1 && e.Message == "unknown key 'kernal' in the top level; did you mean 'kernel'?");
        Assert.Contains(error.Errors, e => e.Line == 4 && e.Message == "missing required key 'name' in onboot[0]");
        Assert.Contains(error.Errors, e => e.Line == 5 && e.Column == 15 && e.Message.Contains("'readonly' in onboot[0] must be true or false, not 'maybe'"));
    }

    [Fact]
    public void Kernel_without_image_is_an_error_at_the_kernel_line()
    {
        var error = Assert.Throws<SpecException>(() => SpecParser.Parse("init: []\nkernel:\n  cmdline: x\n", "o.yml"));
        Assert.Equal("o.yml:3:3: missing required key 'image' in kernel", error.Message);
    }

    [Fact]
    public void Bad_file_mode_and_duplicate_container_names_are_errors()
    {
        const string yaml = "onboot:\n  - name: a\n    image: x\nservices:\n  - name: a\n    image: y\nfiles:\n  - path: f\n    mode: \"0999\"\n";
        var error = Assert.Throws<SpecException>(() => SpecParser.Parse(yaml, "o.yml"));
        Assert.Contains(error.Errors, e => e.Line == 9 && e.Message.Contains("mode '0999' in files[0] must be an octal number"));
        Assert.Contains(error.Errors, e => e.Message.Contains("container name 'a' at 5:5 is used twice"));
    }

    [Fact]
    public void Invalid_yaml_reports_its_position()
    {
        var error = Assert.Throws<SpecException>(() => SpecParser.Parse("kernel:\n  image: [unclosed\n", "o.yml"));
        Assert.StartsWith("o.yml:", error.Message);
        Assert.Contains("not valid YAML", error.Message);
    }

    [Fact]
    public async Task Volumes_parse_but_the_builder_refuses_them_clearly()
    {
        var spec = SpecParser.Parse("volumes:\n  - name: v\n    image: oci:x\n    format: oci\n", "o.yml");
        Assert.Equal("v", spec.Volumes[0].Name);
        var composer = new Outpost.Image.Rootfs.RootfsComposer(new Outpost.Image.Sources.OciLayoutImageSource(), "/tmp", 0);
        var error = await Assert.ThrowsAsync<NotSupportedYetException>(() => composer.ComposeAsync(spec, null, CancellationToken.None));
        Assert.Contains("'volumes' (at o.yml:2:5) are not supported by Outpost yet", error.Message);
    }
}
