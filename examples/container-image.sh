#!/bin/sh
# Builds a small container image for examples/container.yaml from this machine's static
# busybox (Debian: apt-get install busybox-static): /bin/sh and the usual tools, nothing
# pulled from a registry.
#   sh examples/container-image.sh [IMAGE [TEXT]]
# IMAGE defaults to localhost/mpf-example:1; TEXT, when given, is written to /etc/mpf-image
# (to tell two images apart). ENGINE=docker builds it with docker instead of podman.
# Any image with /bin/sh, sleep, tar, mkdir, rm, cat and kill serves as well (setsid and
# awk make steps cheaper): `podman pull docker.io/library/debian:12` and name it in the
# cluster file.
set -eu
image=${1:-localhost/mpf-example:1}
engine=${ENGINE:-podman}
bb=$(command -v busybox) || { echo "container-image.sh needs busybox (Debian: busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
[ $# -lt 2 ] || printf '%s\n' "$2" > "$root/etc/mpf-image"
tar -C "$root" -c . | "$engine" import - "$image" > /dev/null
echo "$image"
