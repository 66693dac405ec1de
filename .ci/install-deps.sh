#!/usr/bin/env bash
# Debian packages the tests and the demo use. Idempotent; needs root (or sudo).
set -euo pipefail
packages=(
  runc                          # container apps (RuncDriver)
  qemu-system-x86 qemu-utils ovmf  # boot test of built images, qcow2 checks
  skopeo umoci docker-registry  # real OCI registry and independent checkers
  apache2-utils                 # htpasswd for registry auth tests
  squashfs-tools mtools dosfstools gdisk e2fsprogs cpio util-linux  # independent filesystem/disk checkers
  systemd-boot-efi              # bootloader placed on built images
  linux-image-amd64 busybox-static  # example OS image inputs and the demo's sample app
  postgresql                    # the controller's PostgreSQL store contract tests
  openssl gzip iproute2
  mmdebstrap kmod              # the device image's Debian userland and its kernel module index
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "All Debian packages present."
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y "${missing[@]}"
