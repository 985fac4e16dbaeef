#!/usr/bin/env bash
# Make a stand-in for python:3.10-slim-bookworm from Debian's packages alone, for building
# deploy/Dockerfile where no container registry can be reached (docs/deployment.md, "Containers"):
# a debootstrap'ed Debian 12 with a Python 3.10 copied into /usr/local, as the official
# image has it. A real deployment builds FROM the pinned official image instead.
#
#   deploy/local-base.sh [PYTHON_PREFIX]    # as root; needs debootstrap and podman
#
# PYTHON_PREFIX is an installed CPython 3.10 built with --enable-shared (default: the one
# scripts/bootstrap.sh found, e.g. ~/.pyenv/versions/3.10.13). Prints the image's name.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="localhost/fanzha-base:bookworm-py3.10"
prefix="${1:-$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')}"
if ! "$prefix/bin/python3.10" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
    echo "$prefix/bin/python3.10 is not a Python 3.10" >&2
    exit 1
fi

work="$(mktemp -d /var/tmp/fanzha-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The shared libraries the official image's Python links against (ssl, ffi, sqlite, …).
debootstrap --variant=minbase \
    --include=ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libgdbm6,libuuid1,libexpat1,netbase,tzdata \
    bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
# Python finds its standard library next to its executable, so the copy works in /usr/local;
# /usr/local/lib is on the loader's path once ldconfig has run.
cp -a "$prefix/bin" "$prefix/lib" "$prefix/include" "$work/rootfs/usr/local/"
chroot "$work/rootfs" /sbin/ldconfig
chroot "$work/rootfs" /usr/local/bin/python3.10 -c 'import ssl, sqlite3, ctypes, lzma, bz2, venv'
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
tar -C "$work/rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "$IMAGE"
