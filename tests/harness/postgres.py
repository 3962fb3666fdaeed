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
