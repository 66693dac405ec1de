#:project ../src/Outpost.Image/Outpost.Image.csproj
#:property PublishAot=false
// File-based app behind make-inputs.sh: packs the example's kernel, init and service images.
using Outpost.Image.Layouts;

var output = args.Length > 0 ? args[0] : Path.Combine(Directory.GetCurrentDirectory(), "images");
await DemoInputs.CreateAsync(output, sources: null, CancellationToken.None);
Console.WriteLine($"wrote kernel, init and busybox OCI layouts to {output}");
