#!/usr/bin/env bash
# Install the system packages the test suite runs for real, when root and any is
# missing: what a backup needs (install-run-deps.sh) and the servers the suite starts.
# Without root, say what is missing and stop.
set -euo pipefail

"$(dirname "$0")/install-run-deps.sh" docker.io busybox-static openssh-server haproxy chromium \
    docker-compose postgresql-15 postgresql-client-15 sudo debootstrap sshfs fuse3 iproute2

# Debian creates the 15/main cluster on install; recreate it if someone dropped it.
if command -v pg_lsclusters >/dev/null && ! pg_lsclusters --no-header 15 main >/dev/null 2>&1; then
    pg_createcluster 15 main >/dev/null
fi

# The restore-drill tests' PostgreSQL image (a Debian root made with debootstrap, cached
# outside the repository; the first build needs the Debian mirror).
if [ "$(id -u)" -eq 0 ]; then
    "$(dirname "$0")/build-postgres-test-image.sh" >/dev/null
fi
