using Google.Protobuf;
using Org.Lfedge.Eve.Auth;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Metrics;
using Org.Lfedge.Eve.Register;
using HashAlgorithm = Org.Lfedge.Eve.Common.HashAlgorithm;

namespace Outpost.Api.Tests.Protos;

/// <summary>
/// Holds our .proto transcription to EVE's field numbers: each message is encoded with one field set and the
/// tag bytes on the wire are compared with the literal bytes the reference numbers give.
/// </summary>
public sealed class WireNumberTests
{
    [Fact]
    public void Datastore_id_is_field_100()
    {
        AssertWireStartsWith(new DatastoreConfig { Id = "x" }, 0xA2, 0x06);
    }

    [Fact]
    public void Config_request_hash_is_field_1_and_integrity_token_field_2()
    {
        AssertWireStartsWith(new ConfigRequest { ConfigHash = "h" }, 0x0A);
        AssertWireStartsWith(new ConfigRequest { IntegrityToken = ByteString.CopyFromUtf8("t") }, 0x12);
    }

    [Fact]
    public void Info_message_carries_device_app_volume_and_content_tree_at_3_5_13_14()
    {
        AssertWireStartsWith(new ZInfoMsg { Dinfo = new ZInfoDevice() }, 0x1A);
        AssertWireStartsWith(new ZInfoMsg { Ainfo = new ZInfoApp() }, 0x2A);
        AssertWireStartsWith(new ZInfoMsg { Vinfo = new ZInfoVolume() }, 0x6A);
        AssertWireStartsWith(new ZInfoMsg { Cinfo = new ZInfoContentTree() }, 0x72);
        AssertWireStartsWith(new ZInfoMsg { Niinfo = new ZInfoNetworkInstance() }, 0x62);
    }

    [Fact]
    public void Device_info_sw_list_is_field_19()
    {
        AssertWireStartsWith(new ZInfoDevice { SwList = { new ZInfoDevSW() } }, 0x9A, 0x01);
    }

    [Fact]
    public void Register_message_has_pem_cert_2_serial_3_soft_serial_4()
    {
        AssertWireStartsWith(new ZRegisterMsg { PemCert = ByteString.CopyFromUtf8("p") }, 0x12);
        AssertWireStartsWith(new ZRegisterMsg { Serial = "s" }, 0x1A);
        AssertWireStartsWith(new ZRegisterMsg { SoftSerial = "s" }, 0x22);
    }

    [Fact]
    public void Auth_container_fields_are_numbered_1_to_5()
    {
        AssertWireStartsWith(new AuthContainer { ProtectedPayload = new AuthBody() }, 0x0A);
        AssertWireStartsWith(new AuthContainer { Algo = HashAlgorithm.Sha25632Bytes }, 0x10, 0x02);
        AssertWireStartsWith(new AuthContainer { SenderCertHash = ByteString.CopyFromUtf8("h") }, 0x1A);
        AssertWireStartsWith(new AuthContainer { SignatureHash = ByteString.CopyFromUtf8("s") }, 0x22);
        AssertWireStartsWith(new AuthContainer { SenderCert = ByteString.CopyFromUtf8("c") }, 0x2A);
    }

    [Fact]
    public void Edge_dev_config_has_apps_4_config_items_11_content_20_volumes_21_baseos_26()
    {
        AssertWireStartsWith(new EdgeDevConfig { Apps = { new AppInstanceConfig() } }, 0x22);
        AssertWireStartsWith(new EdgeDevConfig { ConfigItems = { new ConfigItem() } }, 0x5A);
        AssertWireStartsWith(new EdgeDevConfig { ContentInfo = { new ContentTree() } }, 0xA2, 0x01);
        AssertWireStartsWith(new EdgeDevConfig { Volumes = { new Volume() } }, 0xAA, 0x01);
        AssertWireStartsWith(new EdgeDevConfig { Baseos = new BaseOS() }, 0xD2, 0x01);
        AssertWireStartsWith(new EdgeDevConfig { ConfigTimestamp = new Google.Protobuf.WellKnownTypes.Timestamp() }, 0xC2, 0x02);
    }

    [Fact]
    public void Metric_message_carries_device_metric_at_4()
    {
        AssertWireStartsWith(new ZMetricMsg { Dm = new deviceMetric() }, 0x22);
    }

    [Fact]
    public void App_instance_resources_memory_is_field_3_of_vm_config()
    {
        AssertWireStartsWith(new AppInstanceConfig { Fixedresources = new VmConfig { Memory = 1 } }, 0x1A, 0x02, 0x18, 0x01);
    }

    private static void AssertWireStartsWith(IMessage message, params byte[] expectedPrefix)
    {
        var wire = message.ToByteArray();
        Assert.True(wire.AsSpan().StartsWith(expectedPrefix),
            $"{message.Descriptor.Name} encoded as {Convert.ToHexString(wire)}; expected it to start with {Convert.ToHexString(expectedPrefix)}.");
    }
}
