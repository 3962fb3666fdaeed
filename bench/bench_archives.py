"""Archives benchmark (issue 11): borgui against borg alone, side by side in one run.

Run from the repository root: ``.venv/bin/python bench/bench_archives.py [--million]``.
It prints times and ratios; it asserts nothing. The database is SQLite in the work
directory unless DATABASE_URL is set (run it once with each to compare).

The source trees and borg repository are generated once and kept in --work (default
/var/tmp/borgui-bench-archives, outside the repository): 100,000 empty-ish files
(1,000 directories x 100), with --million also 1,000,000 (1,000 x 1,000; generating that
takes several minutes the first time), and a 1 GB directory of incompressible files.
  1. first listing (index build) vs `borg list --json-lines` of the same archive;
  2. a later directory listing and a path search, server side (median of 20);
  3. peak memory growth of this process while it builds the index;
  4. index size in the database per 1,000,000 entries;
  5. restore of the 1 GB directory vs `borg extract`, and its download as .tar.gz vs
     `borg export-tar` to a file (with the memory growth of the download).
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def make_small_tree(root: Path, directories: int, per_directory: int) -> None:
    if (root / ".complete").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    for d in range(directories):
        folder = root / f"d{d:04d}"
        folder.mkdir(parents=True)
        for f in range(per_directory):
            (folder / f"f{f:05d}.txt").write_bytes(b"x")
    (root / ".complete").write_text("")


def make_big_tree(root: Path, megabytes: int) -> None:
    if (root / ".complete").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    (root / "big").mkdir(parents=True)
    for n in range(megabytes // 16):
        (root / "big" / f"blob{n:03d}.bin").write_bytes(os.urandom(16 * 1024 * 1024))
    (root / ".complete").write_text("")


def prepare_django(work: Path) -> None:
    from cryptography.fernet import Fernet

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BORGUI_DATA_DIR", str(data))
    os.environ.setdefault("SECRET_KEY", "bench-" + Fernet.generate_key().decode())
    os.environ.setdefault("BORGUI_ENCRYPTION_KEY", Fernet.generate_key().decode())
    os.environ["DJANGO_SETTINGS_MODULE"] = "borgui.settings"
    os.environ["BORGUI_INDEX_CACHE_MB"] = "100000"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True)
    import django

    django.setup()


def repository_with(work: Path, trees: dict[str, Path]):
    """The bench repository (kept between runs), with one archive per tree."""
    from archives.services import catalog
    from repositories import borg
    from repositories.models import Repository

    location = work / "repo"
    repository, _ = Repository.objects.get_or_create(name="bench", defaults={"location": str(location)})
    if not (location / "config").exists():
        assert borg.init(repository).ok
    catalog.refresh(repository)
    present = set(repository.archives.values_list("name", flat=True))
    for name, tree in trees.items():
        if name not in present:
            print(f"creating archive {name} (once) …", flush=True)
            args = ["create", "--compression=lz4", "--", f"{location}::{name}", "."]
            assert borg.run(repository, args, cwd=str(tree)).ok
    catalog.refresh(repository)
    return repository


def borg_env(repository) -> dict:
    from repositories.borg import borg_environment

    with borg_environment(repository) as (env, _):
        return dict(env)


def bench_index(repository, name: str) -> None:
    from archives.models import Archive, ArchiveIndex
    from archives.services import index

    archive = Archive.objects.get(repository=repository, name=name)
    env = borg_env(repository)
    ref = f"{repository.location}::{name}"
    borg_list = timed(
        lambda: subprocess.run(["borg", "list", "--json-lines", ref], env=env, stdout=subprocess.DEVNULL, check=True)
    )
    ArchiveIndex.objects.filter(archive=archive).delete()
    compact_database()
    before = rss_peak_mib()
    build = timed(lambda: index.build(archive, holder="bench"))
    growth = rss_peak_mib() - before
    built = index.ready_index(archive)
    listing = [timed(lambda: list(index.children(built, "d0500")[:500])) for _ in range(20)]
    search = [timed(lambda: index.search(built, "d0777/f0004")) for _ in range(20)]
    size = index_size_bytes(built)
    print(f"\n{name}: {built.entries:,} entries")
    print(f"  borg list --json-lines     {borg_list:8.2f} s")
    print(f"  first listing (index build) {build:7.2f} s   ratio {build / borg_list:.2f}x (target <= 1.3x)")
    print(f"  later directory listing    {statistics.median(listing) * 1000:8.1f} ms (target <= 20 ms)")
    print(f"  path search                {statistics.median(search) * 1000:8.1f} ms (target <= 200 ms)")
    print(f"  peak memory growth         {max(growth, 0):8.1f} MiB (target <= 64 MiB)")
    per_million = size * 1_000_000 / built.entries
    print(f"  index on disk              {size / 2**20:8.1f} MiB = {per_million / 2**20:.0f} MiB per 1,000,000 entries")
    print(f"  (borgui's own estimate     {built.disk_bytes / 2**20:8.1f} MiB, used for BORGUI_INDEX_CACHE_MB)")


def compact_database() -> None:
    """Dropped indexes leave dead rows behind until a vacuum: measure without them."""
    from django.db import connection

    from archives.models import ArchiveEntry

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM FULL {ArchiveEntry._meta.db_table}")
        else:
            cursor.execute("VACUUM")


def index_size_bytes(built) -> int:
    """The entries table's share of this index (its rows and its index), as the database reports it."""
    from django.db import connection

    from archives.models import ArchiveEntry

    table = ArchiveEntry._meta.db_table
    total_rows = ArchiveEntry.objects.count() or 1
    share = built.entries / total_rows
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            return int(cursor.fetchone()[0] * share)
        try:
            cursor.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = %s OR name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = %s)",
                [table, table],
            )
            return int((cursor.fetchone()[0] or 0) * share)
        except Exception:
            return built.disk_bytes


def bench_restore_and_download(repository, work: Path) -> None:
    from archives.models import Archive
    from archives.services import download, index, restore

    archive = Archive.objects.get(repository=repository, name="big")
    index.ensure(archive)
    env = borg_env(repository)
    ref = f"{repository.location}::big"
    out = work / "out"

    def fresh(path: Path) -> Path:
        shutil.rmtree(path, ignore_errors=True)
        return path

    target = fresh(out / "borg-extract")
    target.mkdir(parents=True)
    borg_extract = timed(lambda: subprocess.run(["borg", "extract", ref, "big"], env=env, cwd=target, check=True))
    target = fresh(out / "borgui-restore")

    def borgui_restore():
        job = restore.request(archive, ["big"], target=str(target), admin_group=True, requested_from="cli")
        assert restore.execute(job).value == "success"

    borgui = timed(borgui_restore)
    print(f"\nrestore of a {index.ready_index(archive).total_size / 1e9:.1f} GB directory")
    print(f"  borg extract   {borg_extract:7.2f} s")
    print(f"  borgui restore {borgui:7.2f} s   ratio {borgui / borg_extract:.2f}x (target <= 1.1x)")
    fresh(out)
    out.mkdir()
    tar = out / "borg.tar.gz"
    with open(tar, "wb") as f:
        borg_tar = timed(
            lambda: subprocess.run(
                ["borg", "export-tar", "--tar-filter=gzip", ref, "-", "big"], env=env, stdout=f, check=True
            )
        )
    before = rss_peak_mib()

    def borgui_download():
        stream = download.open_download(archive, "big", "bench", wait_seconds=None)
        with open(out / "borgui.tar.gz", "wb") as f:
            for chunk in stream:
                f.write(chunk)

    borgui_tar = timed(borgui_download)
    growth = rss_peak_mib() - before
    print(f"download of it as .tar.gz ({(out / 'borgui.tar.gz').stat().st_size / 1e9:.2f} GB)")
    print(f"  borg export-tar  {borg_tar:7.2f} s")
    print(f"  borgui download  {borgui_tar:7.2f} s   ratio {borgui_tar / borg_tar:.2f}x (target <= 1.1x)")
    print(f"  memory growth    {max(growth, 0):7.1f} MiB")
    shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/var/tmp/borgui-bench-archives")
    parser.add_argument("--million", action="store_true", help="also the 1,000,000-file archive (slow the first time)")
    parser.add_argument("--big-mb", type=int, default=1024, help="size of the restore/download directory")
    parser.add_argument("--skip-big", action="store_true", help="no restore/download figures")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print("generating the source trees (once) …", flush=True)
    trees = {"files-100k": work / "src-100k"}
    make_small_tree(trees["files-100k"], 1000, 100)
    if args.million:
        trees["files-1m"] = work / "src-1m"
        make_small_tree(trees["files-1m"], 1000, 1000)
    if not args.skip_big:
        trees["big"] = work / "src-big"
        make_big_tree(trees["big"], args.big_mb)
    prepare_django(work)
    from django.db import connection

    print(f"database: {connection.vendor}")
    repository = repository_with(work, trees)
    for name in trees:
        if name != "big":
            bench_index(repository, name)
    if not args.skip_big:
        bench_restore_and_download(repository, work)


if __name__ == "__main__":
    main()
