using System.Text;
using Outpost.Agent.Configuration;

namespace Outpost.Agent.Tests.Apps;

public sealed class AppUserDataTests
{
    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Key_value_lines_become_env_and_EVE_ECO_CMD_the_command_split_like_a_shell()
    {
        var data = AppUserData.Decode(B64("A=1\nB=two words\n# comment\nEVE_ECO_CMD=sh -c 'echo \"hi there\"; sleep 1' x\\ y\n"));

        Assert.Null(data.Error);
        Assert.Equal(["A=1", "B=two words"], data.Environment);
        Assert.Equal(["sh", "-c", "echo \"hi there\"; sleep 1", "x y"], data.Command);
    }

    [Fact]
    public void Cloud_config_runcmd_entries_are_read_as_key_value_lines()
    {
        var data = AppUserData.Decode(B64("#cloud-config\nruncmd:\n  - FOO=bar\n  - \"EVE_ECO_CMD=sleep 5\"\nusers: []\n"));

        Assert.Equal(["FOO=bar"], data.Environment);
        Assert.Equal(["sleep", "5"], data.Command);
    }

    [Fact]
    public void Bad_base64_and_unclosed_quotes_are_reported_not_ignored()
    {
        Assert.Contains("base64", AppUserData.Decode("not base64!").Error);
        Assert.Contains("not closed", AppUserData.Decode(B64("EVE_ECO_CMD=sh -c 'oops\n")).Error);
        Assert.Same(AppUserData.Empty, AppUserData.Decode(""));
    }

    [Fact]
    public void Datastore_password_never_shows_in_its_string_form()
    {
        var ds = new DatastoreSpec("id", Org.Lfedge.Eve.Config.DsType.DsContainerRegistry, "docker://r", "", "alice", "s3cret", []);

        Assert.DoesNotContain("s3cret", ds.ToString());
    }
}
