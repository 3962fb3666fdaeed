"""Every encryption mode of docs/configuration.md#repositories, end to end with the real borg.

borgui initialises the repository, `manage.py run_backup` backs a small tree up, and then
a person with nothing but borgui's database (a fresh HOME, an empty BORG_BASE_DIR, no key
in any keys directory) restores it with the plain `borg extract` and gets the same bytes.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from repositories import borg
from repositories.models import BackupPlan, Encryption, PlanRepository, PlanRun, Repository
from tests.factories import BORG, fresh_borg_env

pytestmark = pytest.mark.django_db(transaction=True)

# borg asks "previously unknown unencrypted repository, continue?" for these modes; a person
# restoring answers yes, the environment variable is how a script says it.
NOT_ENCRYPTED = {Encryption.NONE, Encryption.AUTHENTICATED, Encryption.AUTHENTICATED_BLAKE2}
PASSPHRASE = "Tr0ub4dor & 3 — ünïcode pass"

FILES = {
    "plain.txt": b"hello borg\n",
    "binary.bin": bytes(range(256)) * 64 + os.urandom(4096),
    "Grüße 日本語 ✓.txt": "unicode name, unicode content: ½ ∞ 😀\n".encode(),
    "empty": b"",
    "nested/deeper/data.bin": os.urandom(20_000),
}


def make_source_tree(root: Path) -> Path:
    for relative, content in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def raw_row(repository_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(r)::text FROM repositories_repository r WHERE id = %s", [repository_id])
        return json.loads(cursor.fetchone()[0])


def shared_keys_dir() -> Path:
    return Path(settings.DATA_DIR) / "borg" / ".config" / "borg" / "keys"


@pytest.mark.parametrize("mode", [mode.value for mode in Encryption])
def test_backup_and_restore_from_only_what_borgui_stores(mode, tmp_path, manage):
    passphrase = "" if mode == Encryption.NONE else PASSPHRASE
    repository = Repository.objects.create(
        name=f"repo-{mode}", location=str(tmp_path / "repo"), encryption=mode, passphrase=passphrase
    )
    result = borg.init(repository)
    assert result.ok, result.log_lines
    source = make_source_tree(tmp_path / "src")
    plan = BackupPlan.objects.create(name=f"plan-{mode}", sources=[str(source)])
    PlanRepository.objects.create(plan=plan, repository=repository)

    backup = manage("run_backup", plan.name)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert backup.stdout.strip().splitlines()[-1] == "status: success"
    job = PlanRun.objects.get(plan=plan).jobs.get()
    assert job.status == "success" and job.archive_name.startswith(f"plan-{mode}-")
    assert job.nfiles == len(FILES)

    # What borgui keeps: read back through the model, as a new container would.
    stored = Repository.objects.get(pk=repository.pk)
    assert stored.passphrase == passphrase
    if Encryption(mode).uses_keyfile:
        assert stored.exported_key.startswith("BORG_KEY ")
    else:
        assert stored.exported_key == ""

    # ... and never in the clear in the database.
    row = raw_row(repository.pk)
    if passphrase:
        assert row["passphrase"] and PASSPHRASE not in json.dumps(row, ensure_ascii=False)
    if stored.exported_key:
        assert row["exported_key"] and "BORG_KEY" not in row["exported_key"]

    # A keyfile repository's key lives only in borgui's database, not in a shared keys dir
    # (it would be lost with the container, and would make the restore below meaningless).
    leftovers = sorted(p.name for p in shared_keys_dir().iterdir()) if shared_keys_dir().exists() else []
    assert leftovers == []

    # Restore with the plain borg CLI from nothing but the stored secrets.
    extra = {}
    if stored.passphrase:
        extra["BORG_PASSPHRASE"] = stored.passphrase
    if Encryption(mode) in NOT_ENCRYPTED:
        extra["BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK"] = "yes"
    if stored.exported_key:
        key_file = tmp_path / "restored.key"
        key_file.write_text(stored.exported_key)
        extra["BORG_KEY_FILE"] = str(key_file)
    env = fresh_borg_env(tmp_path / "fresh-home", **extra)
    target = tmp_path / "restore"
    target.mkdir()
    extract = subprocess.run(
        [BORG, "extract", "--", f"{stored.location}::{job.archive_name}"],
        cwd=target,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert extract.returncode == 0, extract.stderr
    restored_root = target / str(source).lstrip("/")
    for relative, content in FILES.items():
        assert (restored_root / relative).read_bytes() == content, relative
    restored = sorted(str(p.relative_to(restored_root)) for p in restored_root.rglob("*") if p.is_file())
    assert restored == sorted(FILES)


@pytest.mark.parametrize("mode", [Encryption.KEYFILE.value, Encryption.REPOKEY.value])
def test_without_the_stored_secret_the_repository_does_not_open(mode, tmp_path):
    """The control for the restore above: a fresh HOME really has nothing borg could use."""
    repository = Repository.objects.create(
        name="locked", location=str(tmp_path / "repo"), encryption=mode, passphrase=PASSPHRASE
    )
    assert borg.init(repository).ok
    env = fresh_borg_env(tmp_path / "fresh-home", BORG_PASSPHRASE="not the passphrase")
    listing = subprocess.run(
        [BORG, "list", "--", repository.location],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 2
    expected = "key file" if mode == Encryption.KEYFILE else "passphrase"
    assert expected in listing.stderr.lower()


def _plain_borg_init(tmp_path: Path, encryption: str, passphrase: str) -> tuple[str, dict]:
    """A repository made by someone with borg alone, outside borgui."""
    location = str(tmp_path / "outside-repo")
    env = fresh_borg_env(tmp_path / "outsider-home", BORG_PASSPHRASE=passphrase)
    subprocess.run(
        [BORG, "init", f"--encryption={encryption}", "--", location],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return location, env


def test_import_existing_repository_checks_the_passphrase(tmp_path):
    location, env = _plain_borg_init(tmp_path, "repokey-blake2", "the-real-passphrase")
    repository_id = json.loads(
        subprocess.run(
            [BORG, "info", "--json", "--", location], env=env, capture_output=True, check=True, timeout=60
        ).stdout
    )["repository"]["id"]

    wrong = Repository.objects.create(
        name="imported-wrong", location=location, encryption="repokey-blake2", passphrase="a-wrong-passphrase"
    )
    result = borg.info(wrong)
    assert not result.ok
    line = result.error_line()
    assert "\n" not in line and "Traceback" not in line
    assert "passphrase" in line and "incorrect" in line
    assert "a-wrong-passphrase" not in line
    wrong.delete()

    right = Repository.objects.create(
        name="imported", location=location, encryption="repokey-blake2", passphrase="the-real-passphrase"
    )
    result = borg.info(right)
    assert result.ok, result.log_lines
    assert result.json()["repository"]["id"] == repository_id


def test_import_existing_keyfile_repository_with_its_exported_key(tmp_path):
    location, env = _plain_borg_init(tmp_path, "keyfile-blake2", "keyfile-pass")
    exported = subprocess.run(
        [BORG, "key", "export", "--", location, str(tmp_path / "exported.key")],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert exported.returncode == 0
    key_text = (tmp_path / "exported.key").read_text()
    # The outsider's own keys dir goes away: only what is pasted into borgui remains.
    shutil.rmtree(tmp_path / "outsider-home")

    without_key = Repository.objects.create(
        name="no-key", location=location, encryption="keyfile-blake2", passphrase="keyfile-pass"
    )
    result = borg.info(without_key)
    assert not result.ok
    line = result.error_line()
    assert line.startswith("ERROR: No key file for repository"), line
    assert "\n" not in line
    without_key.delete()

    imported = Repository.objects.create(
        name="with-key",
        location=location,
        encryption="keyfile-blake2",
        passphrase="keyfile-pass",
        exported_key=key_text,
    )
    result = borg.info(imported)
    assert result.ok, result.log_lines
    assert result.json()["encryption"]["mode"] == "keyfile-blake2"


def test_a_borg_crash_is_reported_as_one_line(tmp_path):
    """borg 1.2 answers a BORG_KEY_FILE that names a missing file with a traceback: the
    message for the user is still one line, naming the exception."""
    repository = Repository.objects.create(
        name="crash", location=str(tmp_path / "repo"), encryption="keyfile", passphrase=PASSPHRASE
    )
    assert borg.init(repository).ok
    with borg.borg_environment(repository) as (env, _workdir):
        env["BORG_KEY_FILE"] = str(tmp_path / "missing.key")
        result = borg.BorgProcess(borg.borg_argv("info", "--", repository.location), env).run()
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.log.value()
    line = result.error_line()
    assert "\n" not in line
    assert line.startswith("ERROR: borg crashed: FileNotFoundError"), line
