#!/bin/sh
# Makes the examples' input images as local OCI layouts under examples/images/, without Docker: the host's
# Debian kernel (linux-image-amd64: /boot/vmlinuz-* and the modules a device loads), a Debian 12 userland made
# by mmdebstrap (cached by recipe digest under ~/.cache/outpost) and busybox-static (/bin/busybox).
#   usage: examples/make-inputs.sh [OUTDIR]     (OUTPOST overrides the command, default `outpost`)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/images"}
[ -e /bin/busybox ] || { echo "missing /bin/busybox: apt-get install busybox-static" >&2; exit 1; }
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "no kernel in /boot: apt-get install linux-image-amd64" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "missing mmdebstrap: apt-get install mmdebstrap (or bash .ci/install-deps.sh)" >&2; exit 1; }
if [ -n "${OUTPOST:-}" ]; then
  exec $OUTPOST image example-inputs "$out"
elif command -v outpost >/dev/null; then
  exec outpost image example-inputs "$out"
else
  # Not installed (the README's install step puts it on PATH): run it from this source tree.
  exec dotnet run --project "$here/../src/Outpost.Cli" -- image example-inputs "$out"
fi
