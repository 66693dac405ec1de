#!/bin/sh
# Outpost demo init (PID 1 after switch_root). A stand-in for linuxkit's init + containerd: it mounts
# the basics, runs /containers/onboot/* in order, then /containers/services/* in parallel, each with
# chroot into its bundle's rootfs and the args from its config.json, and powers off when they end.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
echo "outpost-init: $(grep VERSION= /etc/outpost-release)"

# Prints the process.args of a bundle's config.json one per line (the file is written indented by Outpost).
args_of() {
  awk '/"args": \[/ { inside = 1; next } inside && /^ *\]/ { exit } inside { sub(/^ *"/, ""); sub(/",?$/, ""); gsub(/\\"/, "\""); print }' "$1/config.json"
}

run_bundle() {
  bundle=$1
  root=$bundle/rootfs
  [ -d "$bundle/lower" ] && root=$bundle/lower
  args_of "$bundle" > "/tmp/args.$$"
  set --
  while IFS= read -r arg; do set -- "$@" "$arg"; done < "/tmp/args.$$"
  chroot "$root" "$@"
}

for bundle in /containers/onboot/*; do
  [ -d "$bundle" ] && (run_bundle "$bundle")
done
for bundle in /containers/services/*; do
  [ -d "$bundle" ] && (run_bundle "$bundle") &
done
wait
for bundle in /containers/onshutdown/*; do
  [ -d "$bundle" ] && (run_bundle "$bundle")
done
echo "outpost-init: all services ended, powering off"
sync
poweroff -f
