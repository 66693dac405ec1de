using Google.Protobuf;
using Org.Lfedge.Eve.Config;
using Outpost.Agent.Configuration;
using SharpFuzz;

// AFL++ harness for what a device does with a config response it received: parse the protobuf, check it against the
// bounds and references, and build the desired state. Any exception other than the two a hostile config may cause
// (not protobuf; refused as a whole) is a finding. See README.md beside this file for how to run it.
const string Device = "6f1c2f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";

if (args.Length == 1 && args[0] == "--seed")
{
    var seed = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = Device } };
    var volume = Guid.NewGuid().ToString();
    seed.Volumes.Add(new Volume { Uuid = volume, Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotBlank } });
    seed.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() }, VolumeRefList = { new VolumeRef { Uuid = volume } } });
    seed.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = "../.." }, UserData = "S0VZPXZhbHVlCg==" });
    Console.OpenStandardOutput().Write(new ConfigResponse { Config = seed, ConfigHash = "seed" }.ToByteArray());
    return;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    ConfigResponse response;
    try
    {
        response = ConfigResponse.Parser.ParseFrom(stream);
    }
    catch (InvalidProtocolBufferException)
    {
        return;
    }

    try
    {
        var desired = DesiredState.From(response.Config ?? new EdgeDevConfig(), response.ConfigHash, Device);
        foreach (var key in desired.Apps.Keys.Concat(desired.Volumes.Keys).Concat(desired.ContentTrees.Keys))
        {
            // What becomes a directory name must be a canonical UUID: anything else is the bug this harness hunts.
            if (!Guid.TryParseExact(key, "D", out var id) || id.ToString("D") != key)
            {
                throw new InvalidOperationException($"object id '{key}' reached the desired state");
            }
        }
    }
    catch (ConfigRefusedException)
    {
    }
});
