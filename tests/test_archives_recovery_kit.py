"""`recovery_kit` (docs/restore-without-borgui.md): with only what it prints, plain borg in a
fresh environment (no borgui data directory) lists and extracts the archive."""

import os
import subprocess

import pytest

from tests.archivekit import create_archive
from tests.factories import make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("encryption", ["keyfile-blake2", "repokey", "none"])
def test_the_kit_alone_opens_the_repository(manage, tmp_path, encryption):
    repository = make_repository(tmp_path / "repo", encryption=encryption, passphrase='it\'s a "pass" phrase')
    source = make_source_tree(tmp_path / "src", files=2)
    create_archive(repository, source, "a1")
    result = manage("recovery_kit", "main")
    assert result.returncode == 0, result.stderr
    kit = result.stdout
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    if encryption.startswith("keyfile"):
        key = kit.split("(save it as borg-key-main):\n", 1)[1].split("\ncommands:", 1)[0]
        (workdir / "borg-key-main").write_text(key + "\n")
    commands = [line.strip() for line in kit.split("commands:\n", 1)[1].splitlines() if line.startswith("  ")]
    script = "\n".join(commands).replace("ARCHIVE [PATH…]", "a1")
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir), "BORG_BASE_DIR": str(workdir / "borg")}
    env["BORG_RELOCATED_REPO_ACCESS_IS_OK"] = "yes"
    run = subprocess.run(["bash", "-ec", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, kit + run.stderr
    assert "a1" in run.stdout
    assert (workdir / "file-0000.bin").read_bytes() == (source / "file-0000.bin").read_bytes()


def test_unknown_repository_is_exit_2(manage):
    result = manage("recovery_kit", "nosuch")
    assert result.returncode == 2 and "no repository named 'nosuch'" in result.stderr
