"""Small builders for the objects most tests need (real borg repositories on disk)."""

import os
import shutil
import subprocess
import time
from pathlib import Path

from repositories import borg
from repositories.models import BackupPlan, PlanRepository, PlanRun, Repository, RepositoryJob
from repositories.services import runs
from tests.harness.net import wait_for


def make_repository(path: Path, name: str = "main", encryption: str = "none", passphrase: str = "", init=True):
    if encryption != "none" and not passphrase:
        passphrase = f"pw-{name}-correct-horse"
    repository = Repository.objects.create(name=name, location=str(path), encryption=encryption, passphrase=passphrase)
    if init:
        result = borg.init(repository)
        assert result.ok, result.log_lines
    return repository


def make_plan(name: str, repositories, sources, **fields) -> BackupPlan:
    plan = BackupPlan.objects.create(name=name, sources=[str(s) for s in sources], **fields)
    for order, repository in enumerate(repositories):
        PlanRepository.objects.create(plan=plan, repository=repository, order=order)
    return plan


def make_source_tree(root: Path, files: int = 5, size: int = 1000) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        (root / f"file-{index:04d}.bin").write_bytes(os.urandom(size))
    return root


# A plan made slow by its own settings, not by a stand-in: zstd,22 on incompressible data
# runs at 10-25 MB/s on one core, so borg create takes several seconds and reports progress
# meanwhile. 40 MB proved too little: on an idle machine borg finished before a test's
# Ctrl-C or cancel reached it; 120 MB leaves a margin of seconds.
SLOW_COMPRESSION = "zstd,22"
SLOW_TREE = {"files": 300, "size": 400_000}


BORG = shutil.which("borg") or "borg"


def fresh_borg_env(home: Path, **extra: str) -> dict[str, str]:
    """A shell with no borg state at all: empty HOME and BORG_BASE_DIR, no BORG_* from us."""
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORG_", "BORGUI_"))}
    env.update(HOME=str(home), BORG_BASE_DIR=str(home / "borg-base"), LANG="C.UTF-8", **extra)
    return env


def borg_pids(marker) -> list[str]:
    """The borg processes whose command line names MARKER (a test's tmp_path)."""
    return subprocess.run(["pgrep", "-f", f"borg .*{marker}"], capture_output=True, text=True).stdout.split()


def queue_and_wait_for_borg_create(plan, marker, timeout: float = 90) -> PlanRun:
    """Queue a run of PLAN (for a worker) and return it once its borg create runs."""
    run = runs.queue_run(plan)
    wait_for(
        lambda: RepositoryJob.objects.filter(run=run, status="running").exists() and borg_pids(marker),
        timeout,
        "borg create to run",
    )
    time.sleep(1)
    return run
