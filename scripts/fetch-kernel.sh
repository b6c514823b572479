#!/usr/bin/env bash
# Fetch a real kernel tree from Debian's linux-source-X.Y package and unpack it.
#
#   scripts/fetch-kernel.sh 6.12 [DEST]     -> prints the tree path (DEST/linux-source-6.12)
#
# DEST defaults to $KSCAN_KERNELS or ~/.cache/kscan/kernels.  Re-running is cheap: an
# unpacked tree is reused.  Nothing is written outside DEST.  Needs apt-get (Debian/Ubuntu)
# with Debian's package lists; runs `apt-get update` once if the package is unknown.
set -euo pipefail

ver=${1:?usage: fetch-kernel.sh VERSION [DEST]   (e.g. 6.1 or 6.12)}
dest=${2:-${KSCAN_KERNELS:-${XDG_CACHE_HOME:-$HOME/.cache}/kscan/kernels}}
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
