#!/usr/bin/env bash
# Install the Debian packages a backup needs (borg, and ssh for remote repositories) plus any
# given as arguments, when any is missing: as root through apt. Without root, stop with one
# line naming what to install, so `make run` never serves an admin whose backups cannot run.
# Usage: scripts/install-run-deps.sh [EXTRA_PACKAGE...]
set -euo pipefail

packages=(borgbackup openssh-client "$@")

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "borgui: missing Debian packages, install them as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "borgui: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends -- "${missing[@]}" >/dev/null
