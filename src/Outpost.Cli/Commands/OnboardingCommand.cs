using System.CommandLine;
using Outpost.Cli.Admin;
using Outpost.Controller.AdminApi;
using Spectre.Console;

namespace Outpost.Cli.Commands;

/// <summary>`outpost onboarding create|list|revoke`.</summary>
internal static class OnboardingCommand
{
    public static Command Create()
    {
        var command = new Command("onboarding", "Manage onboarding certificates (which serials may register).");

        var serial = new Option<string[]>("--serial") { Description = "Serial number allowed to register (repeat for more; '*' allows any).", Required = true, AllowMultipleArgumentsPerToken = false };
        var output = new Option<string>("--out") { Description = "Config folder to write (server, root-certificate.pem, onboard.cert.pem, onboard.key.pem, soft_serial).", Required = true };
        var name = new Option<string?>("--name") { Description = "A name for this onboarding certificate." };
        var server = new Option<string?>("--server")
        {
            Description = "HOST or HOST:PORT for the folder's server file (default: the controller's first --advertise name with its port, else its listen address).",
        };
        var osSigningKey = new Option<string?>("--os-signing-key")
        {
            Description = "Public key (KEY.pub.pem from `outpost image keygen`) devices check OS updates with; copied into the folder as os-signing.pem.",
        };
        var create = new Command("create", "Create an onboarding certificate, register it with its serials and write a device config folder.") { serial, output, name, server, osSigningKey };
        ControllerLocation.AddOptions(create);
        create.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            using var admin = new AdminClient(ControllerLocation.Resolve(parse));
            var serials = parse.GetValue(serial)!;
            string? keyPem = null;
            if (parse.GetValue(osSigningKey) is { } keyFile)
            {
                keyPem = File.Exists(keyFile) ? await File.ReadAllTextAsync(keyFile, ct) : throw new CliException($"--os-signing-key {keyFile} does not exist; make a key pair with `outpost image keygen KEY.pem`.");
            }

            var (view, written) = await OnboardingBundle.CreateAsync(admin, serials, parse.GetValue(name) ?? serials[0], Path.GetFullPath(parse.GetValue(output)!),
                parse.GetValue(server), ct, keyPem);
            Console.WriteLine($"Onboarding certificate {view.Id} registered for serial(s) {string.Join(", ", view.Serials)}; config folder written to {parse.GetValue(output)} (server {written})"
                + (keyPem is null ? "." : $", trusting OS images signed by {parse.GetValue(osSigningKey)}."));
            return 0;
        }));

        var list = new Command("list", "List onboarding certificates.");
        ControllerLocation.AddOptions(list);
        list.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            using var admin = new AdminClient(ControllerLocation.Resolve(parse));
            var table = new Table().AddColumns("ID", "Name", "Serials", "Created", "Revoked");
            foreach (var item in await admin.GetAsync<List<OnboardingView>>("api/admin/onboarding", ct))
            {
                table.AddRow(item.Id.ToString(), Markup.Escape(item.Name), Markup.Escape(string.Join(",", item.Serials)), item.CreatedAt.ToString("u"), item.Revoked ? "yes" : "no");
            }

            AnsiConsole.Write(table);
            return 0;
        }));

        var id = new Argument<Guid>("id") { Description = "Onboarding certificate ID." };
        var revoke = new Command("revoke", "Revoke an onboarding certificate: no new device can register with it.") { id };
        ControllerLocation.AddOptions(revoke);
        revoke.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            using var admin = new AdminClient(ControllerLocation.Resolve(parse));
            await admin.DeleteAsync($"api/admin/onboarding/{parse.GetValue(id)}", ct);
            Console.WriteLine("Revoked.");
            return 0;
        }));

        command.Subcommands.Add(create);
        command.Subcommands.Add(list);
        command.Subcommands.Add(revoke);
        return command;
    }
}
