using CsCheck;
using Org.Lfedge.Eve.Config;
using Outpost.Api.Configuration;

namespace Outpost.Api.Tests.Configuration;

public sealed class ConfigValidatorTests
{
    private const string Device = "6f1c2f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";

    [Theory]
    [InlineData("../..")]
    [InlineData("../../etc")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    [InlineData("{6f1c2f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f}")]
    [InlineData("6f1c2f0e1b2a4c3d9e8f0a1b2c3d4e5f")]
    public void An_object_id_that_is_not_a_canonical_uuid_is_refused_with_the_reason(string id)
    {
        var config = ValidApp(out var app);
        config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = id }, Displayname = "hostile" });

        var validation = ConfigValidator.Validate(config, Device);

        var problem = Assert.Single(validation.Objects);
        Assert.Equal(ConfigObjectKind.App, problem.Kind);
        Assert.Contains("is not a UUID", problem.Reason);
        Assert.Empty(validation.ConfigErrors);
        Assert.False(validation.IsRefused(ConfigObjectKind.App, app));
    }

    [Fact]
    public void Objects_that_depend_on_a_refused_object_are_refused_naming_it()
    {
        var config = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = Device } };
        config.ContentInfo.Add(new ContentTree { Uuid = "/abs/path", URL = "x:1" });
        config.Volumes.Add(new Volume
        {
            Uuid = Guid.NewGuid().ToString(),
            Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = "/abs/path" },
        });
        config.Apps.Add(new AppInstanceConfig
        {
            Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() },
            Displayname = "child",
            VolumeRefList = { new VolumeRef { Uuid = config.Volumes[0].Uuid } },
        });

        var validation = ConfigValidator.Validate(config, Device);

        Assert.Equal(3, validation.Objects.Count);
        var app = validation.Objects.Single(o => o.Kind == ConfigObjectKind.App);
        Assert.Contains("its volume", app.Reason);
        Assert.Contains("'/abs/path' is not a UUID", app.Reason);
    }

    [Fact]
    public void A_reference_to_an_object_that_is_not_in_the_config_is_refused()
    {
        var config = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = Device } };
        var missing = Guid.NewGuid().ToString();
        config.ContentInfo.Add(new ContentTree { Uuid = Guid.NewGuid().ToString(), URL = "x:1", DsIdsList = { missing } });

        var problem = Assert.Single(ConfigValidator.Validate(config, Device).Objects);

        Assert.Contains($"Unknown datastore {missing}", problem.Reason);
    }

    [Fact]
    public void Two_objects_with_one_id_are_both_refused()
    {
        var config = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = Device } };
        var id = Guid.NewGuid().ToString();
        config.Volumes.Add(new Volume { Uuid = id, DisplayName = "a", Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotBlank } });
        config.Volumes.Add(new Volume { Uuid = id.ToUpperInvariant(), DisplayName = "b", Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotBlank } });

        var validation = ConfigValidator.Validate(config, Device);

        Assert.True(validation.IsRefused(ConfigObjectKind.Volume, id));
        Assert.Contains(validation.Objects, o => o.Reason.Contains("same id", StringComparison.Ordinal));
    }

    [Fact]
    public void A_config_for_another_device_is_refused_as_a_whole()
    {
        var config = ValidApp(out _);
        config.Id.Uuid = Guid.NewGuid().ToString();

        var validation = ConfigValidator.Validate(config, Device);

        Assert.Contains($"not for this device {Device}", Assert.Single(validation.ConfigErrors));
    }

    [Fact]
    public void Ten_thousand_apps_break_the_count_bound_and_refuse_the_whole_config()
    {
        var config = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = Device } };
        for (var i = 0; i < 10_000; i++)
        {
            config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() } });
        }

        var validation = ConfigValidator.Validate(config, Device);

        Assert.Equal($"The config has 10000 apps; a device takes at most {ConfigBounds.MaxApps}.", Assert.Single(validation.ConfigErrors));
        Assert.Empty(validation.Objects);
    }

    [Fact]
    public void A_user_data_beyond_the_bound_refuses_that_app_only()
    {
        var config = ValidApp(out var app);
        var big = new AppInstanceConfig
        {
            Uuidandversion = new UUIDandVersion { Uuid = Guid.NewGuid().ToString() },
            Displayname = "big",
            UserData = new string('A', ConfigBounds.MaxUserDataBytes + 4),
        };
        config.Apps.Add(big);

        var validation = ConfigValidator.Validate(config, Device);

        Assert.Contains($"at most {ConfigBounds.MaxUserDataBytes} bytes", Assert.Single(validation.Objects).Reason);
        Assert.False(validation.IsRefused(ConfigObjectKind.App, app));
    }

    [Fact]
    public void A_valid_config_passes()
    {
        var validation = ConfigValidator.Validate(ValidApp(out _), Device);

        Assert.True(validation.IsValid, string.Join(" | ", validation.Describe()));
    }

    [Fact]
    public void Property_validation_never_throws_and_accepts_only_canonical_ids_whose_references_are_accepted()
    {
        var ids = Gen.OneOf(
            Gen.Guid.Select(g => g.ToString()),
            Gen.Guid.Select(g => g.ToString().ToUpperInvariant()),
            Gen.Const("../.."),
            Gen.Const("/etc"),
            Gen.Const(""),
            Gen.Char.Array[0, 40].Select(c => new string(c)));
        var gen =
            from datastores in ids.Array[0, 4]
            from trees in Gen.Select(ids, ids).Array[0, 5]
            from volumes in Gen.Select(ids, ids, Gen.Bool).Array[0, 5]
            from apps in Gen.Select(ids, ids.Array[0, 3], Gen.Int[0, 300_000]).Array[0, 5]
            select (datastores, trees, volumes, apps);
        gen.Sample(shape =>
        {
            var config = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = Device } };
            config.Datastores.AddRange(shape.datastores.Select(d => new DatastoreConfig { Id = d }));
            config.ContentInfo.AddRange(shape.trees.Select(t => new ContentTree { Uuid = t.Item1, DsIdsList = { t.Item2 } }));
            config.Volumes.AddRange(shape.volumes.Select(v => new Volume
            {
                Uuid = v.Item1,
                Origin = new VolumeContentOrigin { Type = v.Item3 ? VolumeContentOriginType.VcotDownload : VolumeContentOriginType.VcotBlank, DownloadContentTreeID = v.Item2 },
            }));
            config.Apps.AddRange(shape.apps.Select(a => new AppInstanceConfig
            {
                Uuidandversion = new UUIDandVersion { Uuid = a.Item1 },
                VolumeRefList = { a.Item2.Select(v => new VolumeRef { Uuid = v }) },
                UserData = new string('x', a.Item3),
            }));

            var validation = ConfigValidator.Validate(config, Device);

            foreach (var app in config.Apps.Where(a => !validation.IsRefused(ConfigObjectKind.App, a.Uuidandversion.Uuid)))
            {
                Assert.Equal(app.Uuidandversion.Uuid.ToLowerInvariant(), ConfigValidator.CanonicalId(app.Uuidandversion.Uuid));
                Assert.All(app.VolumeRefList, v => Assert.False(validation.IsRefused(ConfigObjectKind.Volume, v.Uuid), "an accepted app uses a refused volume"));
                Assert.All(app.VolumeRefList, v => Assert.Contains(config.Volumes, vol => string.Equals(vol.Uuid, v.Uuid, StringComparison.OrdinalIgnoreCase)));
                Assert.True(app.UserData.Length <= ConfigBounds.MaxUserDataBytes);
            }

            foreach (var volume in config.Volumes.Where(v => !validation.IsRefused(ConfigObjectKind.Volume, v.Uuid)))
            {
                Assert.NotNull(ConfigValidator.CanonicalId(volume.Uuid));
            }
        }, iter: 2000);
    }

    private static EdgeDevConfig ValidApp(out string appId)
    {
        var config = new EdgeDevConfig { Id = new UUIDandVersion { Uuid = Device } };
        var datastore = Guid.NewGuid().ToString();
        var tree = Guid.NewGuid().ToString();
        var volume = Guid.NewGuid().ToString();
        appId = Guid.NewGuid().ToString();
        config.Datastores.Add(new DatastoreConfig { Id = datastore, DType = DsType.DsContainerRegistry, Fqdn = "docker://r" });
        config.ContentInfo.Add(new ContentTree { Uuid = tree, DsIdsList = { datastore }, URL = "app:1" });
        config.Volumes.Add(new Volume { Uuid = volume, Origin = new VolumeContentOrigin { Type = VolumeContentOriginType.VcotDownload, DownloadContentTreeID = tree } });
        config.Apps.Add(new AppInstanceConfig { Uuidandversion = new UUIDandVersion { Uuid = appId }, Displayname = "ok", VolumeRefList = { new VolumeRef { Uuid = volume } } });
        return config;
    }
}
