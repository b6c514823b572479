#!/usr/bin/env bash
# Fetch a real kernel tree from Debian's linux-source-X.Y package and unpack it, or with
# --image a bootable kernel (the newest linux-image-X.Y*-cloud-amd64-unsigned: serial
# console and virtio built in, so `kscan vm` boots it with a busybox initramfs).
#
#   scripts/fetch-kernel.sh 6.12 [DEST]           -> prints the tree path (DEST/linux-source-6.12)
#   scripts/fetch-kernel.sh --image [6.1] [DEST]  -> prints the image (DEST/linux-image-6.1/vmlinuz-...)
#
# DEST defaults to $KSCAN_KERNELS or ~/.cache/kscan/kernels.  Re-running is cheap: an
# unpacked tree is reused.  Nothing is written outside DEST.  Needs apt-get (Debian/Ubuntu)
# with Debian's package lists; runs `apt-get update` once if the package is unknown.
set -euo pipefail

image=0
if [ "${1:-}" = --image ]; then
    image=1
    shift
    set -- "${1:-6.1}" "${@:2}"
fi
ver=${1:?usage: fetch-kernel.sh [--image] VERSION [DEST]   (e.g. 6.1 or 6.12)}
dest=${2:-${KSCAN_KERNELS:-${XDG_CACHE_HOME:-$HOME/.cache}/kscan/kernels}}

if [ "$image" = 1 ]; then
    out=$dest/linux-image-$ver
    found=$(ls "$out"/vmlinuz-* 2>/dev/null | head -n1 || true)
    if [ -n "$found" ] && [ -f "$out/.kscan-complete" ]; then
        echo "$found"
        exit 0
    fi
    # 6.1 must not match 6.12: the version is followed by a dot and a digit.
    pattern="^linux-image-${ver//./\\.}\\.[0-9][^ ]*-cloud-amd64-unsigned\$"
    newest() { apt-cache search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -n1; }
    pkg=$(newest)
    if [ -z "$pkg" ]; then
        apt-get update >/dev/null 2>&1 || true
        pkg=$(newest)
    fi
    [ -n "$pkg" ] || { echo "fetch-kernel: no linux-image-$ver cloud package known to apt" >&2; exit 1; }
    mkdir -p "$dest"
    work=$(mktemp -d "$dest/.fetch.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    cd "$work"
    apt-get download "$pkg" >/dev/null 2>&1 || { echo "fetch-kernel: cannot download $pkg" >&2; exit 1; }
    dpkg -x ./"$pkg"_*.deb pkg
    vmlinuz=$(ls pkg/boot/vmlinuz-* 2>/dev/null | head -n1)
    [ -n "$vmlinuz" ] || { echo "fetch-kernel: no /boot/vmlinuz in $pkg" >&2; exit 1; }
    rm -rf "$out"
    mkdir -p "$out"
    cp "$vmlinuz" pkg/boot/config-* "$out"/
    touch "$out/.kscan-complete"
    ls "$out"/vmlinuz-*
    exit 0
fi

pkg=linux-source-$ver
tree=$dest/$pkg

if [ -f "$tree/Makefile" ] && [ -f "$tree/.kscan-complete" ]; then
    echo "$tree"
    exit 0
fi

mkdir -p "$dest"
work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

cd "$work"
if ! apt-get download "$pkg" >/dev/null 2>&1; then
    apt-get update >/dev/null 2>&1 || true
    apt-get download "$pkg" >/dev/null || { echo "fetch-kernel: cannot download $pkg" >&2; exit 1; }
fi
dpkg -x ./"$pkg"_*.deb pkg
tarball=$(ls pkg/usr/src/"$pkg".tar.* 2>/dev/null | head -n1)
[ -n "$tarball" ] || { echo "fetch-kernel: no source tarball in $pkg" >&2; exit 1; }
rm -rf "$tree"
tar -xf "$tarball" -C "$dest"
[ -f "$tree/Makefile" ] || { echo "fetch-kernel: unexpected tarball layout in $pkg" >&2; exit 1; }
touch "$tree/.kscan-complete"
echo "$tree"
