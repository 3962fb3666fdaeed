"""The zero-set-up path: SQLite in the data directory, in WAL mode, with IMMEDIATE writes."""

import os
import sqlite3
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.conftest import ROOT


def _sqlite_env(data_dir) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(BORGUI_DATA_DIR=str(data_dir), SECRET_KEY="s" * 50, BORGUI_ENCRYPTION_KEY=Fernet.generate_key().decode())
    return env


def _manage(env, *args, **kwargs):
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env, **kwargs)


def test_migrates_into_the_data_directory_in_wal_mode(tmp_path):
    env = _sqlite_env(tmp_path)
    assert _manage(env, "migrate", "-v0").wait(120) == 0
    database = tmp_path / "borgui.sqlite3"
    assert database.is_file()
    assert sqlite3.connect(database).execute("PRAGMA journal_mode").fetchone() == ("wal",)


WRITER = """
from django.contrib.auth.models import Group
from django.db import transaction
for i in range(60):
    with transaction.atomic():
        # read, then write in one transaction: the pattern that fails with "database is
        # locked" under SQLite's default DEFERRED mode when another process writes too
        n = Group.objects.count()
        Group.objects.create(name=f"{PREFIX}-{i}-{n}")
print("done")
"""


def test_two_processes_writing_at_once_do_not_hit_database_is_locked(tmp_path):
    env = _sqlite_env(tmp_path)
    assert _manage(env, "migrate", "-v0").wait(120) == 0
    writers = [
        _manage(
            env,
            "shell",
            "-c",
            WRITER.replace("{PREFIX}", name),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (_out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert "locked" not in err
    count = sqlite3.connect(tmp_path / "borgui.sqlite3").execute("SELECT count(*) FROM auth_group").fetchone()[0]
    assert count == 120
