#!/usr/bin/env bash
# Install the system packages the test suite runs for real (SPEC §12), when root and any is
# missing. Without root, say what is missing and let the tests that need it fail loudly.
set -euo pipefail

packages=(borgbackup docker.io busybox-static openssh-server openssh-client haproxy chromium
          docker-compose postgresql-15 postgresql-client-15 sudo debootstrap)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps: missing Debian packages (run as root to install): ${missing[*]}" >&2
        exit 1
    fi
    echo "install-test-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian creates the 15/main cluster on install; recreate it if someone dropped it.
if command -v pg_lsclusters >/dev/null && ! pg_lsclusters --no-header 15 main >/dev/null 2>&1; then
    pg_createcluster 15 main >/dev/null
fi

# The restore-drill tests' PostgreSQL image (a Debian root made with debootstrap, cached
# outside the repository; the first build needs the Debian mirror).
if [ "$(id -u)" -eq 0 ]; then
    "$(dirname "$0")/build-postgres-test-image.sh" >/dev/null
fi
