#!/usr/bin/env bash
# Build, once, a Debian root with PostgreSQL 15 that follows the official postgres image's
# interface (for the restore-drill tests: nothing can be pulled). The result is a tar for
# `docker import`, cached outside the repository; the Debian mirror is needed once.
#   scripts/build-postgres-test-image.sh [OUTPUT_TAR]
set -euo pipefail
output=${1:-${BORGUI_TEST_CACHE:-/var/cache/borgui-test}/postgres-15-minbase.tar}
here=$(cd "$(dirname "$0")" && pwd)
entrypoint="$here/postgres-test-image/docker-entrypoint.sh"
stamp=$(cat "$entrypoint" "$0" | sha256sum | cut -c1-16)
if [ -s "$output" ] && [ "$(cat "$output.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$output"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "build-postgres-test-image: needs root (debootstrap)" >&2
    exit 1
fi
command -v debootstrap >/dev/null || { echo "build-postgres-test-image: apt-get install debootstrap" >&2; exit 1; }
mkdir -p "$(dirname "$output")"
root=$(mktemp -d /var/tmp/borgui-pg-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=postgresql-15 bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
# Debian's package made a cluster in /var/lib/postgresql/15/main: the entrypoint makes its own.
rm -rf "$root/var/lib/postgresql/15" "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
# Half the size, for a test image imported by every test session: no documentation, no
# translations, no JIT (LLVM; PostgreSQL runs without it).
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" \
    "$root/usr/lib/x86_64-linux-gnu/libLLVM"* "$root/usr/lib/postgresql/15/lib/llvmjit"* \
    "$root/usr/lib/postgresql/15/lib/bitcode" "$root/var/cache/"*
install -m 0755 "$entrypoint" "$root/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$root/docker-entrypoint-initdb.d"
chmod 0755 "$root"  # mktemp made it 0700: it becomes the image's /
tar -C "$root" -cf "$output.partial" .
mv "$output.partial" "$output"
echo "$stamp" >"$output.stamp"
echo "$output"
