using System.Diagnostics;
using CsCheck;
using Org.Lfedge.Eve.Config;
using Outpost.Agent.Configuration;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Agent.Workloads.Runc;

namespace Outpost.Agent.Tests.Workloads.Qemu;

/// <summary>
/// The launch file of a container VM is shell text built from the app's config, so it is checked against the same
/// busybox sh the guest runs: whatever the values hold, sourcing it gives back exactly those words and runs nothing.
/// </summary>
public sealed class ContainerVmLaunchTests
{
    // What the guest's init does with the file, minus the chroot: source it, then print every word on its own line.
    private const string Reader = ". \"$1\"; printf '%s\\n' \"host=$OUTPOST_HOSTNAME\" \"dir=$OUTPOST_WORKDIR\"; for w in \"$@\"; do printf 'word=%s\\n' \"$w\"; done";

    [Fact]
    public void Quotes_dollars_backticks_newlines_and_semicolons_reach_the_process_as_written()
    {
        var process = new ContainerProcess(["/bin/sh", "-c", "echo \"$X\"; `id`", "it's"], ["X=$(touch /tmp/pwned)", "Y=a\nb"], "/srv/my dir", 0, 0, []);
        var words = Source(ContainerVm.LaunchScript(process, "box'1"));
        Assert.Equal(["host=box'1", "dir=/srv/my dir", "word=X=$(touch /tmp/pwned)", "word=Y=a", "b", "word=/bin/sh", "word=-c", "word=echo \"$X\"; `id`", "word=it's"], words);
    }

    [Fact]
    public void Any_environment_and_arguments_come_back_word_for_word()
    {
        // Printable ASCII and newlines: everything a shell could misread. NUL cannot be in an environment or argument.
        var text = Gen.Char['\n', '~'].Where(c => c == '\n' || c >= ' ').Array[0, 12].Select(chars => new string(chars));
        Gen.Select(text.Array[0, 4], text.Array[1, 4], text).Sample((env, args, host) =>
        {
            var process = new ContainerProcess(args, env.Select(e => "E=" + e).ToList(), "/" + host.Replace("\n", "", StringComparison.Ordinal), 0, 0, []);
            var expected = string.Join('\n', new[] { "host=" + host, "dir=" + process.WorkingDirectory }
                .Concat(process.Env.Concat(process.Args).Select(w => "word=" + w)));
            Assert.Equal(expected.TrimEnd('\n'), string.Join('\n', Source(ContainerVm.LaunchScript(process, host))));
        }, iter: 60);
    }

    [Theory]
    [InlineData(VmMode.Hvm, true)]
    [InlineData(VmMode.Fml, true)]
    [InlineData(VmMode.Nohyper, false)]
    [InlineData(VmMode.Pv, false)]
    public void Evess_hvm_and_fml_isolate_an_oci_app_in_a_vm_while_nohyper_and_the_unset_pv_keep_it_a_container(VmMode mode, bool isolated)
    {
        var app = new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString(), Version = "1" }, Fixedresources = new VmConfig { VirtualizationMode = mode } };
        Assert.Equal(isolated, AppVmConfig.From(app).IsolateContainer);
    }

    private static List<string> Source(string launch)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, launch);
            var start = new ProcessStartInfo(Fixtures.TestGuest.BusyboxPath) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "sh", "-c", Reader, "reader", file })
            {
                start.ArgumentList.Add(arg);
            }

            using var shell = Process.Start(start)!;
            var output = shell.StandardOutput.ReadToEnd();
            shell.WaitForExit();
            Assert.True(shell.ExitCode == 0, shell.StandardError.ReadToEnd());
            return [.. output.TrimEnd('\n').Split('\n')];
        }
        finally
        {
            File.Delete(file);
        }
    }
}
