using Outpost.Agent.Workloads;
using Outpost.Agent.Workloads.Qemu;
using Outpost.Api.Consoles;
using SharpFuzz;

// AFL++ harness for what a VM app takes from untrusted hands: a disk image from a registry (checked with qemu-img and
// our own header and ISO checks before anything boots it) and console-tunnel frames off the wire. The input's first
// byte picks the target. Any exception other than a clean refusal is a finding. See README.md beside this file.
if (args.Length == 2 && args[0] == "--seed")
{
    // Seeds: a frame (target 0) and a qcow2 header (target 1) made by qemu-img into the folder given.
    Directory.CreateDirectory(args[1]);
    File.WriteAllBytes(Path.Combine(args[1], "frame.bin"), [0, .. ConsoleTunnel.Encode(ConsoleFrameType.Open, Guid.NewGuid(), $"{Guid.NewGuid()} vnc")]);
    var qcow2 = Path.Combine(Path.GetTempPath(), $"seed-{Guid.NewGuid():N}.qcow2");
    await QemuImg.CreateBlankAsync(qcow2, 1024 * 1024, CancellationToken.None);
    File.WriteAllBytes(Path.Combine(args[1], "qcow2.bin"), [1, .. File.ReadAllBytes(qcow2)]);
    File.Delete(qcow2);
    return;
}

var scratch = Path.Combine(Path.GetTempPath(), $"outpost-fuzz-vm-{Environment.ProcessId}");
Directory.CreateDirectory(scratch);
Fuzzer.OutOfProcess.Run(stream =>
{
    using var memory = new MemoryStream();
    stream.CopyTo(memory);
    var input = memory.ToArray();
    if (input.Length == 0)
    {
        return;
    }

    if (input[0] % 2 == 0)
    {
        // A frame either decodes with its parts in range or is dropped; an Open payload parses or is refused.
        if (ConsoleTunnel.Decode(input.AsMemory(1)) is { } frame)
        {
            if (frame.Payload.Length > ConsoleTunnel.MaxPayloadBytes)
            {
                throw new InvalidOperationException("a frame longer than the limit decoded");
            }

            ConsoleTunnel.TryParseOpen(frame.Text, out _, out _);
        }

        return;
    }

    var path = Path.Combine(scratch, "disk");
    File.WriteAllBytes(path, input[1..]);
    foreach (var format in Enum.GetValues<VmDiskFormat>())
    {
        try
        {
            var info = QemuImg.InspectAsync(path, format, CancellationToken.None).GetAwaiter().GetResult();
            if (info.VirtualSizeBytes <= 0)
            {
                throw new InvalidOperationException($"an accepted {format} image has virtual size {info.VirtualSizeBytes}");
            }
        }
        catch (DiskImageException)
        {
        }
    }
});
