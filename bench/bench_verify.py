"""Verify benchmark (issue 13): `verify_plan --sample-percent 100` against borg alone.

Run from the repository root: ``.venv/bin/python bench/bench_verify.py [--rounds N]``.
It prints times, ratios and peak memory; it asserts nothing. The database is SQLite in
the work directory unless DATABASE_URL is set.

Generated once and kept in --work (default /var/tmp/borgui-bench-verify, outside the
repository): a 1 GB source of 50,000 incompressible files (500 directories x 100 x 20 kB),
a 512 MB single-file source, their borg repository (no encryption, lz4) and one backup of
each through borgui (so the archive list knows them).
  1. `manage.py verify_plan bench --sample-percent 100` (every file: the borg list, the
     dry-run walk, one export-tar stream hashed per member, and the sources hashed by a
     second thread) vs `borg export-tar` of the same 50,000 paths piped to a Python tar
     reader that hashes each member (the floor of one stream read and hashed);
  2. the same floor plus a process hashing the 1 GB of source files at the same time
     (what verify must do at least: the source side is hashed too);
  3. peak memory (max RSS, which includes the benchmark process's own pages before the
     child's exec) of each process, and of verify on the 512 MB single file: flat when
     contents are streamed.
Each figure is the best of --rounds runs (default 2), the two sides alternating.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILES_PER_DIRECTORY, DIRECTORIES, FILE_SIZE = 100, 500, 20_000
READER = r"""
import hashlib, sys, tarfile
count = 0
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
    for member in tar:
        if member.isreg():
            digest = hashlib.sha256()
            reader = tar.extractfile(member)
            while chunk := reader.read(1 << 20):
                digest.update(chunk)
            count += 1
print(count)
"""


def make_tree(root: Path) -> None:
    if (root / ".complete").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    for d in range(DIRECTORIES):
        folder = root / f"d{d:03d}"
        folder.mkdir(parents=True)
        for f in range(FILES_PER_DIRECTORY):
            (folder / f"f{f:03d}.bin").write_bytes(os.urandom(FILE_SIZE))
    (root / ".complete").write_text("")


def make_big_file(root: Path, megabytes: int) -> None:
    if (root / ".complete").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with open(root / "one.bin", "wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(1 << 20))
    (root / ".complete").write_text("")


def prepare_django(work: Path) -> dict:
    from cryptography.fernet import Fernet

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    keys = work / "keys.env"
    if not keys.exists():
        keys.write_text(f"bench-{Fernet.generate_key().decode()}\n{Fernet.generate_key().decode()}\n")
    secret, encryption = keys.read_text().split()
    env = {**os.environ, "BORGUI_DATA_DIR": str(data), "SECRET_KEY": secret, "BORGUI_ENCRYPTION_KEY": encryption}
    env["DJANGO_SETTINGS_MODULE"] = "borgui.settings"
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    return env


def prepare_backups(work: Path, tree: Path, big: Path) -> str:
    from archives.models import Archive
    from repositories import borg
    from repositories.models import BackupPlan, PlanRepository, Repository
    from repositories.services import runs

    repository = Repository.objects.filter(name="bench").first()
    if repository is None:
        shutil.rmtree(work / "repo", ignore_errors=True)
        repository = Repository.objects.create(name="bench", location=str(work / "repo"), encryption="none")
        assert borg.init(repository).ok
    for name, source in (("bench", tree), ("big", big)):
        plan, created = BackupPlan.objects.get_or_create(name=name, defaults={"sources": [str(source)]})
        if created:
            PlanRepository.objects.create(plan=plan, repository=repository)
        if not Archive.objects.filter(plan=plan).exists():
            print(f"backing up {source} once (plan {name})…", flush=True)
            run = runs.run_in_foreground(plan)
            assert run.status == "success", run.log
    return Archive.objects.filter(plan__name="bench").latest("start").name


def run_measured(argv, env, stdin=None, stdout=subprocess.DEVNULL) -> tuple[float, float, int]:
    """Wall time, peak RSS (MiB) and exit code of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(process.stderr.read().decode()[-2000:], file=sys.stderr)
    return elapsed, usage.ru_maxrss / 1024, process.returncode


SOURCE_HASHER = r"""
import hashlib, os, sys
for directory, _dirs, files in os.walk(sys.argv[1]):
    for name in files:
        if name.endswith(".bin"):
            with open(os.path.join(directory, name), "rb", buffering=0) as f:
                digest = hashlib.sha256()
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
"""


def baseline(env, work: Path, archive: str, tree: Path, with_source: bool = False) -> tuple[float, float, float]:
    """borg export-tar of every file's path | a Python reader hashing each member (WITH_SOURCE:
    and, at the same time, a process hashing the source files: what verify must do at least)."""
    paths = sorted(str(p.relative_to("/")) for p in tree.rglob("*.bin"))
    with tempfile.TemporaryDirectory() as tmp:
        patterns = Path(tmp) / "patterns"
        patterns.write_text("".join(f"+ pf:{p}\n" for p in paths) + "- *\n")
        borg_env = {
            **env,
            "BORG_BASE_DIR": str(work / "data" / "borg"),
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
        }
        started = time.perf_counter()
        export = subprocess.Popen(
            ["borg", "export-tar", f"--patterns-from={patterns}", "--", f"{work / 'repo'}::{archive}", "-"],
            env=borg_env, stdout=subprocess.PIPE,
        )  # fmt: skip
        reader = subprocess.Popen([sys.executable, "-c", READER], stdin=export.stdout, stdout=subprocess.PIPE)
        export.stdout.close()
        hasher = subprocess.Popen([sys.executable, "-c", SOURCE_HASHER, str(tree)]) if with_source else None
        if hasher is not None:
            hasher.wait()
        _pid, _status, reader_usage = os.wait4(reader.pid, 0)
        _pid, _status, borg_usage = os.wait4(export.pid, 0)
        elapsed = time.perf_counter() - started
        count = int(reader.stdout.read().decode().strip() or 0)
        assert count == len(paths), (count, len(paths))
    return elapsed, reader_usage.ru_maxrss / 1024, borg_usage.ru_maxrss / 1024


def verify(env, plan: str) -> tuple[float, float]:
    argv = [sys.executable, "manage.py", "verify_plan", plan, "--sample-percent", "100"]
    elapsed, rss, code = run_measured(argv, env)
    assert code == 0, f"verify_plan {plan} exit {code}"
    return elapsed, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/var/tmp/borgui-bench-verify")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(args.work)
    tree, big = work / "tree", work / "big"
    print("preparing sources (once)…", flush=True)
    make_tree(tree)
    make_big_file(big, 512)
    env = prepare_django(work)
    archive = prepare_backups(work, tree, big)

    base, floor, ours = [], [], []
    for _ in range(args.rounds):
        base.append(baseline(env, work, archive, tree))
        floor.append(baseline(env, work, archive, tree, with_source=True))
        ours.append(verify(env, "bench"))
    big_elapsed, big_rss = verify(env, "big")
    best_base = min(base, key=lambda r: r[0])
    best_ours = min(ours, key=lambda r: r[0])
    print()
    files = DIRECTORIES * FILES_PER_DIRECTORY
    print(f"source: {files} files, {files * FILE_SIZE / 1e9:.1f} GB")
    print(f"{'':52} {'seconds':>8} {'peak RSS':>10}")
    print(
        f"{'borg export-tar | tar reader hashing members':52} {best_base[0]:8.2f} {best_base[1]:8.1f} MiB"
        f"  (borg {best_base[2]:.0f} MiB)"
    )
    best_floor = min(floor, key=lambda r: r[0])
    print(f"{'  … and sha256 of the source files at the same time':52} {best_floor[0]:8.2f}")
    print(f"{'verify_plan --sample-percent 100':52} {best_ours[0]:8.2f} {best_ours[1]:8.1f} MiB")
    print(f"{'ratio to export-tar | reader (target <= 1.2x)':52} {best_ours[0] / best_base[0]:8.2f}x")
    print(f"{'ratio to that plus the source hashing':52} {best_ours[0] / best_floor[0]:8.2f}x")
    print(f"{'verify_plan on one 512 MB file':52} {big_elapsed:8.2f} {big_rss:8.1f} MiB")
    rounds = zip(base, floor, ours, strict=True)
    print(
        "all rounds (export-tar | reader, with source hashing, verify):",
        ", ".join(f"{b[0]:.2f}/{f[0]:.2f}/{o[0]:.2f}" for b, f, o in rounds),
    )


if __name__ == "__main__":
    main()
