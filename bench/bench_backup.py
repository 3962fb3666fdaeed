"""Backup overhead benchmark (issue 3): borgui against borg alone, side by side in one run.

Run from the repository root: ``.venv/bin/python bench/bench_backup.py [--files 2000 --size 100000]``.
It prints times and ratios; it asserts nothing.

On the same data (default 2,000 files, 200 MB) and a fresh repository each:
  1. ``borg create`` alone, as borgui calls it (same flags), first backup and unchanged re-run;
  2. ``manage.py run_backup`` (a new process: Django start-up included);
  3. a run inside a warm worker process (Django loaded, as in a qcluster worker).
The database is SQLite in a temporary data directory unless DATABASE_URL is set.
"""

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_tree(root: Path, files: int, size: int) -> None:
    root.mkdir(parents=True)
    for index in range(files):
        folder = root / f"d{index // 100:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{index:05d}.bin").write_bytes(os.urandom(size))


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def prepare_environment(work: Path) -> dict:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.setdefault("BORGUI_DATA_DIR", str(work / "data"))
    env.setdefault("SECRET_KEY", "bench-" + Fernet.generate_key().decode())
    env.setdefault("BORGUI_ENCRYPTION_KEY", Fernet.generate_key().decode())
    Path(env["BORGUI_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "borgui.settings"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True)
    import django

    django.setup()
    return dict(os.environ)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--reruns", type=int, default=3, help="unchanged re-runs to average")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="borgui-bench-"))
    try:
        source = work / "src"
        make_tree(source, args.files, args.size)
        env = prepare_environment(work)
        report(work, source, env, args.reruns)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(work: Path, source: Path, env: dict, reruns: int) -> None:
    from repositories import borg
    from repositories.models import BackupPlan, PlanRepository, Repository
    from repositories.services import runs

    def setup(name: str):
        repository = Repository.objects.create(
            name=name, location=str(work / name), encryption="repokey-blake2", passphrase="bench"
        )
        assert borg.init(repository).ok
        plan = BackupPlan.objects.create(name=f"plan-{name}", sources=[str(source)], compression="lz4")
        PlanRepository.objects.create(plan=plan, repository=repository)
        return repository, plan

    raw_repo, _ = setup("raw")
    counter = iter(range(10_000))

    def borg_alone():
        with borg.borg_environment(raw_repo) as (borg_env, _):
            archive = f"raw-{next(counter)}"
            argv = borg.borg_argv(*borg.create_args(raw_repo, archive, [str(source)], [], "lz4"))
            subprocess.run(argv, env=borg_env, check=True, capture_output=True)

    _cli_repo, cli_plan = setup("cli")

    def run_backup_command():
        result = subprocess.run(
            [sys.executable, "manage.py", "run_backup", cli_plan.name], cwd=ROOT, env=env, capture_output=True
        )
        assert result.returncode == 0, result.stdout[-2000:]

    _warm_repo, warm_plan = setup("warm")

    def in_worker():
        run = runs.run_in_foreground(warm_plan)
        assert run.status == "success", run.log

    rows = []
    for label, function in [("borg create alone", borg_alone), ("manage.py run_backup", run_backup_command),
                            ("run in a warm worker", in_worker)]:  # fmt: skip
        first = timed(function)
        again = statistics.median(timed(function) for _ in range(reruns))
        rows.append((label, first, again))

    raw_first, raw_again = rows[0][1], rows[0][2]
    print(f"data: {sum(1 for _ in source.rglob('*.bin'))} files, {_tree_size(source) / 1e6:.0f} MB")
    print(f"{'':24} {'first':>9} {'unchanged':>10} {'ratio first':>12} {'ratio unchanged':>16}")
    for label, first, again in rows:
        print(f"{label:24} {first:8.2f}s {again:9.2f}s {first / raw_first:11.2f}x {again / raw_again:15.2f}x")
    warm_overhead = rows[2][2] - raw_again
    print(f"in-worker overhead on an unchanged re-run (stats included): {warm_overhead * 1000:.0f} ms")
    report_start_up(work, env, raw_again, reruns)
    print("targets: run_backup unchanged ≤ 1.5x borg create; in-worker overhead < 150 ms")


def report_start_up(work: Path, env: dict, raw_again: float, reruns: int) -> None:
    """Where the run_backup ratio comes from: process start-up, against Django's own floor."""
    (work / "bare_settings.py").write_text(
        'SECRET_KEY = "bench"\nUSE_TZ = True\n'
        'INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]\n'
        f'DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": "{work / "bare.sqlite3"}"}}}}\n'
    )
    bare_env = {**env, "DJANGO_SETTINGS_MODULE": "bare_settings", "PYTHONPATH": str(work)}
    # The app as an image without compiled bytecode would run it: every start compiles it.
    uncompiled = work / "uncompiled"
    shutil.copytree(ROOT, uncompiled, ignore=shutil.ignore_patterns("__pycache__", ".*", "data", "tests", "bench"))
    uncompiled_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    help_argv = [sys.executable, "manage.py", "run_backup", "--help"]
    probes = [
        ("python -c pass", [sys.executable, "-c", "pass"], env, ROOT),
        ("bare Django setup", [sys.executable, "-c", "import django; django.setup()"], bare_env, ROOT),
        ("run_backup --help", help_argv, env, ROOT),
        ("  the same, no bytecode", help_argv, uncompiled_env, uncompiled),
    ]
    # Rounds go through every probe in turn, so a change in the machine's load hits all alike.
    samples = {label: [] for label, *_ in probes}
    for _ in range(max(reruns, 5)):
        for label, argv, probe_env, cwd in probes:
            probe = functools.partial(subprocess.run, argv, cwd=cwd, env=probe_env, check=True, capture_output=True)
            samples[label].append(timed(probe))
    print("start-up (median of rounds; fastest round)")
    for label, *_ in probes:
        seconds = statistics.median(samples[label])
        print(f"  {label:22} {seconds * 1000:6.0f} ms; {min(samples[label]) * 1000:6.0f} ms")
        if label == "bare Django setup":
            floor = (raw_again + seconds) / raw_again
            print(f"  floor for any Django command: borg create + bare Django setup = {floor:.2f}x borg create")


def _tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


if __name__ == "__main__":
    main()
