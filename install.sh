#!/bin/sh
# Puts `outpost` on PATH: publishes the CLI (all roles) and the Native AOT device binary (PID 1 + agent of an
# Outpost OS image, which `outpost image build` and `outpost lab` put into images) into ~/.local/lib/outpost and
# links ~/.local/bin/outpost to it. Needs the .NET 10 SDK; run `bash .ci/install-deps.sh` first for QEMU, runc,
# mmdebstrap and the rest.
#   usage: ./install.sh [PREFIX]     (default PREFIX: ~/.local)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-"$HOME/.local"}
lib="$prefix/lib/outpost"
mkdir -p "$lib" "$prefix/bin"
echo "Publishing the CLI into $lib ..."
dotnet publish "$here/src/Outpost.Cli" -c Release -o "$lib" -nologo -v quiet
echo "Publishing the device binary (Native AOT, about a minute) into $lib ..."
dotnet publish "$here/src/Outpost.Device" -c Release -o "$lib" -nologo -v quiet
ln -sf "$lib/outpost" "$prefix/bin/outpost"
echo "Installed: $prefix/bin/outpost ($("$prefix/bin/outpost" --version))"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "Add $prefix/bin to PATH, e.g.: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
