"""PostgreSQL 15 for the suite: Debian's 15/main cluster, started with pg_ctlcluster.

Runs before Django is set up (settings read DATABASE_URL at import), so it is plain
subprocess code. ``BORGUI_TEST_DATABASE_URL`` points the suite at another server instead.
"""

import os
import subprocess

VERSION, CLUSTER = "15", "main"
ROLE = "borgui_test"


def _cluster_status() -> tuple[str, int]:
    out = subprocess.run(
        ["pg_lsclusters", "--no-header", VERSION, CLUSTER], capture_output=True, text=True, check=True
    ).stdout.split()
    # Ver Cluster Port Status Owner Data-directory Log-file
    return out[3], int(out[2])


def _psql_as_postgres(sql: str) -> str:
    """Run SQL as the postgres superuser; the result rows as unaligned text."""
    return subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-p",
            str(_cluster_status()[1]),
            "-v",
            "ON_ERROR_STOP=1",
            "-qAtc",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout


class PostgresCluster:
    def __init__(self):
        self.started_here = False
        self.url = ""

    def start(self) -> str:
        if os.environ.get("BORGUI_TEST_DATABASE_URL"):
            self.url = os.environ["BORGUI_TEST_DATABASE_URL"]
            return self.url
        status, port = _cluster_status()
        if status != "online":
            subprocess.run(["pg_ctlcluster", VERSION, CLUSTER, "start"], check=True, capture_output=True)
            self.started_here = True
        # The role may create databases: pytest-django creates and drops test_borgui_test.
        _psql_as_postgres(
            f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
            f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{ROLE}'; END IF; END$$;"
        )
        # One name per session, so two suites on one machine (a developer's and CI's, or
        # two developers') never create and drop the same test database under each other.
        self.url = f"postgres://{ROLE}:{ROLE}@127.0.0.1:{port}/{ROLE}_{os.getpid()}"
        return self.url

    def stop(self) -> None:
        # Leave the cluster up while another session still uses it.
        if self.started_here and not self._other_sessions_connected():
            subprocess.run(["pg_ctlcluster", VERSION, CLUSTER, "stop"], capture_output=True)
            self.started_here = False

    def _other_sessions_connected(self) -> bool:
        count = _psql_as_postgres(
            f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE}' AND pid <> pg_backend_pid()"
        )
        return int(count.strip() or 0) > 0


def dump_test_database(*tables: str) -> str:
    """`pg_dump` of the database the tests use (optionally only TABLES), as text."""
    from django.db import connection

    s = connection.settings_dict
    table_args = [arg for table in tables for arg in ("-t", table)]
    return subprocess.run(
        ["pg_dump", "-h", s["HOST"], "-p", str(s["PORT"]), "-U", s["USER"], "-d", s["NAME"], *table_args],
        env={**os.environ, "PGPASSWORD": s["PASSWORD"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


BIN = f"/usr/lib/postgresql/{VERSION}/bin"


class PrivatePostgres:
    """A PostgreSQL 15 server of one test alone, on a free loopback port and a data directory
    of its own, so the test may restart it without touching the suite's shared cluster."""

    def __init__(self):
        import tempfile
        from pathlib import Path

        from tests.harness.net import free_port

        self.root = Path(tempfile.mkdtemp(prefix="bgp-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgres://{ROLE}:{ROLE}@127.0.0.1:{self.port}/{ROLE}"

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, text=True, cwd="/"
        )

    def start(self) -> "PrivatePostgres":
        import shutil

        if not self.data.exists():
            shutil.chown(self.root, "postgres")
            self._as_postgres(f"{BIN}/initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
            self._pg_ctl("start")
            sql = f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE}'; CREATE DATABASE {ROLE} OWNER {ROLE};"
            for statement in sql.split("; "):
                self._as_postgres(
                    f"{BIN}/psql", "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "-qc", statement
                )
        else:
            self._pg_ctl("start")
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._as_postgres(
            f"{BIN}/pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", action, *extra
        )

    def restart(self) -> None:
        """What `systemctl restart postgresql` does: every connection cut, the server back."""
        self._pg_ctl("restart", "-m", "fast")

    def pause(self) -> None:
        """The server down (every connection cut) until resume(): a database out of reach."""
        self._pg_ctl("stop", "-m", "fast")

    def resume(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        import shutil

        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                ["runuser", "-u", "postgres", "--", f"{BIN}/pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"],
                capture_output=True,
                cwd="/",
            )
        shutil.rmtree(self.root, ignore_errors=True)
