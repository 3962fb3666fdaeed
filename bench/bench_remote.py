"""Remote sources benchmark (docs/remote-sources.md): pull mode over SSHFS, side by side
with a local backup of the same tree, in one run.

Run from the repository root, as root (sshfs, and a mount namespace for the "remote" sshd):
``.venv/bin/python bench/bench_remote.py [--files 2000 --size 100000 --reruns 3]``.
It prints times and ratios; it asserts nothing.

The source host is an sshd on a loopback port in its own mount namespace (tests/harness/sshd.py),
whose /srv holds the tree (default 2,000 files, 200 MB of random data); a local copy of the
same files is made with tar over ssh. Each plan gets its own fresh repository (repokey-blake2,
lz4) and runs inside this process, as in a warm worker:
  1. ``borg create`` alone of the local copy (borgui's flags), first backup;
  2. a local plan on the copy: first backup and unchanged re-runs;
  3. a plan with ``sources_on: source``: first backup and unchanged re-runs (mount and
     unmount included);
  4. how many files borg read again on one more unchanged pass through the mount.
"""

import argparse
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

from bench.bench_backup import prepare_environment, timed  # noqa: E402
from tests.harness.sshd import SSHServer  # noqa: E402


def make_remote_tree(server: SSHServer, files: int, size: int) -> None:
    # Files a second apart, long ago: borg keeps no files-cache entry for files as new as the
    # newest of a backup, and SFTP gives times in whole seconds (docs/remote-sources.md).
    script = (
        f"rm -rf /srv/bench && i=0; while [ $i -lt {files} ]; do d=/srv/bench/d$((i / 100)); "
        f"mkdir -p $d; head -c {size} /dev/urandom > $d/f$i.bin; touch -d @$((1700000000 + i)) $d/f$i.bin; "
        "i=$((i + 1)); done"
    )
    server.remote(script)


def copy_here(server: SSHServer, local: Path) -> None:
    local.mkdir(parents=True)
    pack = subprocess.Popen(server.ssh_command("tar -C /srv -cf - bench"), stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(local)], stdin=pack.stdout, check=True)
    assert pack.wait() == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--reruns", type=int, default=3, help="unchanged re-runs (median)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="borgui-bench-remote-"))
    server = SSHServer(private_dir="/srv")
    try:
        server.start()
        make_remote_tree(server, args.files, args.size)
        copy_here(server, work / "local")
        prepare_environment(work)
        report(work, server, work / "local" / "bench", args)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(work: Path, server: SSHServer, local_tree: Path, args) -> None:
    from repositories import borg
    from repositories.models import BackupPlan, PlanRepository, Repository, SSHConnection
    from repositories.services import runs

    def repository(name: str) -> Repository:
        repo = Repository.objects.create(
            name=name, location=str(work / f"repo-{name}"), encryption="repokey-blake2", passphrase="bench"
        )
        assert borg.init(repo).ok
        return repo

    def plan(name: str, sources: list[str], **fields) -> BackupPlan:
        made = BackupPlan.objects.create(name=name, sources=sources, compression="lz4", **fields)
        PlanRepository.objects.create(plan=made, repository=repository(name))
        return made

    raw = repository("raw")

    def borg_alone():
        with borg.borg_environment(raw) as (env, _):
            argv = borg.borg_argv(*borg.create_args(raw, "first", [str(local_tree)], [], "lz4"))
            subprocess.run(argv, env=env, check=True, capture_output=True)

    connection = SSHConnection.objects.create(
        name="web1", host=server.host, port=server.port, username=server.user, private_key=server.private_key,
        known_hosts=server.known_hosts,
    )  # fmt: skip
    local_plan = plan("local", [str(local_tree)])
    remote_plan = plan("remote", ["/srv/bench"], source_connection=connection, sources_on="source")

    def run(which: BackupPlan):
        def go():
            done = runs.run_in_foreground(which)
            assert done.status == "success", done.log

        return go

    raw_first = timed(borg_alone)
    rows = []
    for label, function in (("local plan", run(local_plan)), ("remote plan (SSHFS)", run(remote_plan))):
        first = timed(function)
        again = statistics.median(timed(function) for _ in range(args.reruns))
        rows.append((label, first, again))

    size = sum(path.stat().st_size for path in local_tree.rglob("*") if path.is_file())
    files = sum(1 for _ in local_tree.rglob("*.bin"))
    print(f"data: {files} files, {size / 1e6:.0f} MB; loopback sshd in its own mount namespace")
    print(f"{'':22} {'first':>8} {'MB/s':>7} {'unchanged':>10} {'unchanged/first':>16}")
    print(f"{'borg create alone':22} {raw_first:7.2f}s {size / 1e6 / raw_first:7.0f}")
    for label, first, again in rows:
        print(f"{label:22} {first:7.2f}s {size / 1e6 / first:7.0f} {again:9.2f}s {again / first:15.2f}x")
    (_, local_first, local_again), (_, remote_first, remote_again) = rows
    print(f"unchanged re-run, remote / local: {remote_again / local_again:.2f}x")
    print(f"first backup throughput, remote / borg create of the local copy: {raw_first / remote_first:.2f}x")
    print(f"first backup, remote / local plan: {remote_first / local_first:.2f}x")
    print(f"files borg read again on an unchanged re-run through the mount: {files_read_again(remote_plan)} of {files}")


def files_read_again(plan) -> int:
    """borg create --list --filter=AM of the plan's mounted sources once more: the files the
    files cache did not know (borg 1.2 still opens each file to fstat it first)."""
    from repositories import borg
    from repositories.models import PlanRun
    from repositories.services import pipeline, remote_sources
    from repositories.status import Status

    run = pipeline.create_run(plan, "cli")
    job = run.jobs.get()
    repository = job.repository
    try:
        with remote_sources.borg_sources(plan, job, lambda line: None) as sources:
            options = [*sources.options, "--list", "--filter=AM"]
            args = borg.create_args(repository, "files-read-again", sources.paths, [], "lz4", options)
            result = borg.run(repository, args, cwd=sources.cwd)
    finally:
        PlanRun.objects.filter(pk=run.pk).update(status=Status.SUCCESS)
    return sum(1 for line in result.log.value().splitlines() if line[:2] in ("A ", "M "))


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("run as root: the remote side needs a mount namespace of its own")
    started = time.monotonic()
    main()
    print(f"(bench took {time.monotonic() - started:.0f}s)")
