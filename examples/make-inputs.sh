#!/bin/sh
# Makes the example's input images as local OCI layouts under examples/images/, offline and without
# Docker, from Debian packages on this machine:
#   linux-image-amd64 (/boot/vmlinuz-* and its modules) and busybox-static (/bin/busybox).
# The packing is done by Outpost.Image's DemoInputs/OciLayoutBuilder through a .NET file-based app.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/images"}
for need in /bin/busybox; do
  [ -e "$need" ] || { echo "missing $need: apt-get install busybox-static" >&2; exit 1; }
done
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "no kernel in /boot: apt-get install linux-image-amd64" >&2; exit 1; }
exec dotnet run --file "$here/make-inputs.cs" -- "$out"
