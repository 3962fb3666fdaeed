"""A PostgreSQL 15 image that follows the official postgres image's interface, for the
restore-drill tests (nothing can be pulled here). The Debian root is built once by
scripts/build-postgres-test-image.sh (debootstrap; it needs the Debian mirror the first
time) and cached outside the repository; each test daemon imports it with `docker import`."""

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "borgui-test/postgres:15"
CACHE = Path(os.environ.get("BORGUI_TEST_CACHE", "/var/cache/borgui-test"))


def rootfs_tar() -> Path:
    """The cached root (built now when missing or out of date)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-postgres-test-image.sh"), str(CACHE / "postgres-15-minbase.tar")],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"could not build the PostgreSQL test image: {result.stderr[-2000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def import_into(dockerd) -> str:
    if dockerd.docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return IMAGE
    changes = [
        "ENV PATH=/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/bin:/bin",
        "ENV PGDATA=/var/lib/postgresql/data",
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        'CMD ["postgres"]',
    ]
    args = [arg for change in changes for arg in ("--change", change)]
    dockerd.docker("import", *args, str(rootfs_tar()), IMAGE)
    return IMAGE


def psql(dockerd, container: str, database: str, sql: str, timeout: float = 60) -> str:
    """Run SQL in a container of the image, waiting for its server to take connections."""
    deadline = time.monotonic() + timeout
    while True:
        result = dockerd.docker(
            "exec", container, "psql", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", database, "-Atc", sql,
            check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return result.stdout.decode()
        if time.monotonic() > deadline:
            raise RuntimeError(result.stderr.decode())
        time.sleep(0.5)
