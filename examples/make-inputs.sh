#!/bin/sh
# Makes the example's input images as local OCI layouts under examples/images/, offline and without
# Docker, from Debian packages on this machine: linux-image-amd64 (/boot/vmlinuz-* and its modules)
# and busybox-static (/bin/busybox).
#   usage: examples/make-inputs.sh [OUTDIR]     (OUTPOST overrides the command, default `outpost`)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/images"}
[ -e /bin/busybox ] || { echo "missing /bin/busybox: apt-get install busybox-static" >&2; exit 1; }
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "no kernel in /boot: apt-get install linux-image-amd64" >&2; exit 1; }
exec ${OUTPOST:-outpost} image example-inputs "$out"
