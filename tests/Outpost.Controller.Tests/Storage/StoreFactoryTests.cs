using System.Net;
using Npgsql;
using Outpost.Controller.Storage;

namespace Outpost.Controller.Tests.Storage;

public sealed class StoreFactoryTests
{
    private static NpgsqlConnectionStringBuilder Parse(string option) => new(StoreFactory.PostgresConnectionString(option));

    [Fact]
    public void Postgres_url_becomes_host_port_database_and_decoded_credentials()
    {
        var parsed = Parse("postgres://outpost:p%40ss%3Aword@db.example:6543/controller?sslmode=require");

        Assert.Equal("db.example", parsed.Host);
        Assert.Equal(6543, parsed.Port);
        Assert.Equal("controller", parsed.Database);
        Assert.Equal("outpost", parsed.Username);
        Assert.Equal("p@ss:word", parsed.Password);
        Assert.Equal(SslMode.Require, parsed.SslMode);
    }

    [Fact]
    public void Postgresql_url_without_port_uses_5432_and_ipv6_host_loses_brackets()
    {
        var parsed = Parse("postgresql://outpost@[::1]/controller");

        Assert.Equal("::1", parsed.Host);
        Assert.Equal(5432, parsed.Port);
        Assert.Null(parsed.Password);
    }

    [Fact]
    public void Postgres_prefix_takes_an_npgsql_key_value_string()
    {
        var parsed = Parse("postgres:Host=10.0.0.5;Port=5433;Username=outpost;Database=controller");

        Assert.Equal(("10.0.0.5", 5433, "outpost", "controller"), (parsed.Host, parsed.Port, parsed.Username, parsed.Database));
    }

    [Theory]
    [InlineData("postgres://outpost:topsecret@db.example/controller?no_such_keyword=1")]
    [InlineData("postgres:Host=db;Password=topsecret;No Such Keyword=1")]
    [InlineData("mysql://outpost:topsecret@db.example/controller")]
    public void Bad_store_option_is_rejected_without_echoing_the_password(string option)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            StoreFactory.Create(new ControllerOptions("/nonexistent", new IPEndPoint(IPAddress.Loopback, 0)) { StoreConnection = option }));

        Assert.DoesNotContain("topsecret", error.Message);
    }
}
