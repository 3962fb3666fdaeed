"""The zero-set-up path: SQLite in the data directory, in WAL mode, with IMMEDIATE writes."""

import json
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
    # The writers' groups only: migrate also made the role groups (viewer, operator, admin).
    count = (
        sqlite3.connect(tmp_path / "borgui.sqlite3")
        .execute("SELECT count(*) FROM auth_group WHERE name LIKE 'a-%' OR name LIKE 'b-%'")
        .fetchone()[0]
    )
    assert count == 120


SETUP_SECRET_HOOK = """
from hooks.models import HookAttachment, Script, ScriptParameter
from repositories import borg
from repositories.models import BackupPlan, PlanRepository, Repository
repository = Repository.objects.create(name="main", location="{repo}", encryption="repokey", passphrase="{passphrase}")
assert borg.init(repository).ok
plan = BackupPlan.objects.create(name="nightly", sources=["{src}"])
PlanRepository.objects.create(plan=plan, repository=repository)
script = Script.objects.create(name="leaky", body='#!/bin/sh\\necho "token: $API_TOKEN"\\n')
ScriptParameter.objects.create(script=script, name="API_TOKEN", secret=True)
script.approve("tests")
attachment = HookAttachment(script=script, repository=repository, hook_type="pre-backup")
attachment.set_values({{"API_TOKEN": "{token}"}})
attachment.save()
"""


def test_secrets_are_absent_from_the_sqlite_files(tmp_path):
    env = _sqlite_env(tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "file").write_text("data\n")
    token, passphrase = "tok-9f8e7d6c5b4a-secret", "pass-1a2b3c4d5e-secret"
    assert _manage(env, "migrate", "-v0").wait(120) == 0
    setup = SETUP_SECRET_HOOK.format(repo=tmp_path / "repo", src=tmp_path / "src", token=token, passphrase=passphrase)
    assert _manage(env, "shell", "-v0", "-c", setup).wait(120) == 0
    backup = _manage(env, "run_backup", "nightly", stdout=subprocess.PIPE, text=True)
    out, _err = backup.communicate(timeout=120)
    assert backup.returncode == 0, out
    database = tmp_path / "data" / "borgui.sqlite3"
    stored = sqlite3.connect(database).execute("SELECT stdout FROM hooks_scriptexecution").fetchone()[0]
    assert stored == "token: ***\n"
    for path in database.parent.glob("borgui.sqlite3*"):  # the database, its WAL and shared memory
        content = path.read_bytes()
        assert token.encode() not in content and passphrase.encode() not in content, path.name


STOP_WITH_TRACE = """
import json
from django.db import connection
from repositories import borg
from repositories.models import BackupPlan, PlanRepository, Repository
from repositories.services import runs
repository = Repository.objects.create(name="main", location="{repo}", encryption="none")
assert borg.init(repository).ok
plan = BackupPlan.objects.create(name="nightly", sources=["{src}"], stop_containers=["db"])
PlanRepository.objects.create(plan=plan, repository=repository)
connection.ensure_connection()
statements = []
connection.connection.set_trace_callback(statements.append)
run = runs.run_in_foreground(plan)
level = connection.cursor().execute("PRAGMA synchronous").fetchone()[0]
print(json.dumps({{"status": run.status, "statements": statements, "level": level}}))
"""


def test_the_built_in_stop_record_is_synced_while_other_writes_are_not(docker_host, tmp_path):
    # A power cut cannot be staged here; what SQLite was told is: FULL (the WAL synced at
    # commit) for the stop record alone, NORMAL (synced at checkpoints) for everything else.
    docker_host.run_container("db")
    env = _sqlite_env(tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "file").write_text("data\n")
    assert _manage(env, "migrate", "-v0").wait(120) == 0
    script = STOP_WITH_TRACE.format(repo=tmp_path / "repo", src=tmp_path / "src")
    shell = _manage(env, "shell", "-v0", "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = shell.communicate(timeout=180)
    assert shell.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "success"
    assert result["level"] == 1, "NORMAL again after the stop"
    statements = [s for s in result["statements"] if s.startswith(("INSERT", "UPDATE", "PRAGMA synchronous="))]
    recorded = next(i for i, s in enumerate(statements) if s.startswith('INSERT INTO "repositories_containerstop"'))
    assert statements[recorded - 1] == "PRAGMA synchronous=FULL"
    assert statements[recorded + 1] == "PRAGMA synchronous=1"
    assert sum(s == "PRAGMA synchronous=FULL" for s in statements) == 1
    assert docker_host.state("db") == "running"
