using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Org.Lfedge.Eve.Attest;
using Org.Lfedge.Eve.Certs;
using Org.Lfedge.Eve.Common;
using Org.Lfedge.Eve.Config;
using Org.Lfedge.Eve.Info;
using Org.Lfedge.Eve.Metrics;

namespace Outpost.Api.Tests.Protos;

public sealed class RoundTripTests
{
    [Fact]
    public void Full_edge_dev_config_survives_encode_and_decode()
    {
        var config = SampleConfig();

        var decoded = EdgeDevConfig.Parser.ParseFrom(config.ToByteArray());

        Assert.Equal(config, decoded);
        Assert.Equal("docker://registry.example", decoded.Datastores[0].Fqdn);
        Assert.Equal(VmMode.Hvm, decoded.Apps[0].Fixedresources.VirtualizationMode);
    }

    [Fact]
    public void Fields_we_do_not_model_survive_a_decode_encode_cycle()
    {
        // EdgeDevConfig field 32 (edgeview) with an opaque body, then field 1 (id).
        byte[] wire = [0x82, 0x02, 0x03, 0x0A, 0x01, 0x41, 0x0A, 0x06, 0x0A, 0x04, (byte)'d', (byte)'e', (byte)'v', (byte)'1'];

        var decoded = EdgeDevConfig.Parser.ParseFrom(wire);
        var reencoded = decoded.ToByteArray();

        Assert.Equal("dev1", decoded.Id.Uuid);
        Assert.Equal(wire.Length, reencoded.Length);
        Assert.True(reencoded.AsSpan().IndexOf(new byte[] { 0x82, 0x02, 0x03, 0x0A, 0x01, 0x41 }) >= 0,
            $"edgeview bytes were lost: {Convert.ToHexString(reencoded)}");
    }

    [Fact]
    public void Device_info_with_base_os_partitions_survives_encode_and_decode()
    {
        var info = new ZInfoMsg
        {
            Ztype = ZInfoTypes.ZiDevice,
            DevId = "6c4f3b0e-0000-4000-8000-000000000001",
            AtTimeStamp = Timestamp.FromDateTimeOffset(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero)),
            Dinfo = new ZInfoDevice
            {
                MachineArch = "x86_64",
                Ncpu = 4,
                Memory = 8192,
                SwList =
                {
                    new ZInfoDevSW { Activated = true, PartitionLabel = "IMGA", PartitionState = "active", Status = ZSwState.Installed, ShortVersion = "14.5.1", UserStatus = BaseOsStatus.Updated },
                    new ZInfoDevSW { PartitionLabel = "IMGB", PartitionState = "unused", SwErr = new ErrorInfo { Description = "boom", Severity = Severity.Error } },
                },
                ConfigItemStatus = new ZInfoConfigItemStatus { ConfigItems = { ["timer.config.interval"] = new ZInfoConfigItem { Value = "60" } } },
                LastBootReason = BootReason.Update,
                State = ZDeviceState.Online,
                AttestationInfo = new AttestationInfo { State = AttestationState.Complete },
            },
        };

        Assert.Equal(info, ZInfoMsg.Parser.ParseFrom(info.ToByteArray()));
    }

    [Fact]
    public void Attestation_and_certificate_messages_survive_encode_and_decode()
    {
        var request = new ZAttestReq
        {
            ReqType = ZAttestReqType.AttestReqCert,
            Certs = { new ZCert { HashAlgo = HashAlgorithm.Sha25616Bytes, CertHash = ByteString.CopyFrom(new byte[16]), Type = ZCertType.CertTypeDeviceEcdhExchange, Cert = ByteString.CopyFromUtf8("-----BEGIN CERTIFICATE-----"), Attributes = new ZCertAttr { IsMutable = true } } },
            Quote = new ZAttestQuote { PcrValues = { new TpmPCRValue { Index = 7, HashAlgo = TpmHashAlgo.Sha256, Value = ByteString.CopyFrom(new byte[32]) } } },
        };
        var response = new ZAttestResponse
        {
            RespType = ZAttestRespType.AttestRespQuoteResp,
            QuoteResp = new ZAttestQuoteResp { Response = ZAttestResponseCode.Success, IntegrityToken = ByteString.CopyFromUtf8("token") },
        };

        Assert.Equal(request, ZAttestReq.Parser.ParseFrom(request.ToByteArray()));
        Assert.Equal(response, ZAttestResponse.Parser.ParseFrom(response.ToByteArray()));
    }

    [Fact]
    public void Metrics_survive_encode_and_decode()
    {
        var metrics = new ZMetricMsg
        {
            DevID = "dev",
            Dm = new deviceMetric
            {
                Network = { new networkMetric { IName = "eth0", TxBytes = 10, RxBytes = 20 } },
                DeviceMemory = new DeviceMemoryMetric { MemoryMB = 8192, UsedEveMB = 300 },
                MetricItems = { new MetricItem { Key = "k", Type = MetricItemType.MetricItemGauge, Uint64Value = 5 } },
            },
            Am = { new appMetric { AppID = "app", AppMemory = new AppMemoryMetric { AllocatedMB = 512 } } },
            Vm = { new ZMetricVolume { Uuid = "vol", UsedBytes = 1 } },
        };

        Assert.Equal(metrics, ZMetricMsg.Parser.ParseFrom(metrics.ToByteArray()));
    }

    private static EdgeDevConfig SampleConfig() => new()
    {
        Id = new UUIDandVersion { Uuid = "6c4f3b0e-0000-4000-8000-000000000001", Version = "7" },
        Apps =
        {
            new AppInstanceConfig
            {
                Uuidandversion = new UUIDandVersion { Uuid = "app-1", Version = "1" },
                Displayname = "nginx",
                Fixedresources = new VmConfig { Memory = 524288, Vcpus = 2, VirtualizationMode = VmMode.Hvm, BootMode = VmBootMode.Uefi, BootOrder = BootOrder.Nousb },
                Activate = true,
                Interfaces = { new NetworkAdapter { Name = "eth0", NetworkId = "ni-1", Acls = { new ACE { Matches = { new ACEMatch { Type = "host", Value = "example.com" } }, Actions = { new ACEAction { Portmap = true, AppPort = 80 } }, Dir = ACEDirection.Ingress } } } },
                Adapters = { new Adapter { Type = PhyIoType.PhyIoUsb, Name = "USB0" } },
                Restart = new InstanceOpsCmd { Counter = 2 },
                Purge = new InstanceOpsCmd { Counter = 1 },
                VolumeRefList = { new VolumeRef { Uuid = "vol-1", GenerationCount = 3, MountDir = "/data" } },
                MetaDataType = MetaDataType.MetaDataOpenStack,
                RuntimeType = AppRuntimeType.Docker,
                Snapshot = new SnapshotConfig { MaxSnapshots = 1 },
            },
        },
        Networks = { new NetworkConfig { Id = "net-1", Type = NetworkType.V4, Ip = new ipspec { Dhcp = DHCPType.Client }, EntProxy = new ProxyConfig { Proxies = { new ProxyServer { Proto = proxyProto.ProxyHttps, Server = "proxy", Port = 3128 } } } } },
        Datastores = { new DatastoreConfig { Id = "ds-1", DType = DsType.DsContainerRegistry, Fqdn = "docker://registry.example", Dpath = "library" } },
        Reboot = new DeviceOpsCmd { Counter = 4 },
        ConfigItems = { new ConfigItem { Key = "timer.config.interval", Value = "30" } },
        SystemAdapterList = { new SystemAdapter { Name = "eth0", Uplink = true, NetworkUUID = "net-1", Cost = 0 } },
        DeviceIoList = { new PhysicalIO { Ptype = PhyIoType.PhyIoNetEth, Phylabel = "eth0", Phyaddrs = { ["Ifname"] = "eth0" }, Logicallabel = "eth0", Assigngrp = "eth0", Usage = PhyIoMemberUsage.PhyIoUsageMgmtAndApps } },
        NetworkInstances = { new NetworkInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = "ni-1" }, InstType = ZNetworkInstType.ZnetInstLocal, Port = new Adapter { Name = "uplink" }, IpType = AddressType.Ipv4, Ip = new ipspec { Subnet = "10.1.0.0/24", Gateway = "10.1.0.1", DhcpRange = new ipRange { Start = "10.1.0.2", End = "10.1.0.254" } } } },
        ContentInfo = { new ContentTree { Uuid = "ct-1", DsIdsList = { "ds-1" }, URL = "nginx:1.27", Iformat = Format.Container, Sha256 = "ab" } },
        Volumes = { new Volume { Uuid = "vol-1", Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = "ct-1" }, GenerationCount = 3, Target = Target.Disk } },
        ControllercertConfighash = "certs-v1",
        ControllerEpoch = 2,
        Baseos = new BaseOS { ContentTreeUuid = "ct-os", RetryUpdate = new DeviceOpsCmd { Counter = 1 }, Activate = true, BaseOsVersion = "14.5.1-kvm-amd64" },
        Shutdown = new DeviceOpsCmd { Counter = 1 },
        ConfigTimestamp = Timestamp.FromDateTimeOffset(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero)),
    };
}
