"""Verify, the spot check (docs/maintenance.md): does the plan's newest archive hold what
its sources hold now?

Per repository of the plan: the plan's own newest non-checkpoint archive; the source side
is what `borg create --dry-run --list` with the plan's sources and excludes would store
(borg applies the excludes itself). (a) The counts of files (type `-`, hard links
included) may differ by at most count_tolerance_percent of the source's count. (b) A file
is comparable when both sides have it with the same size and mtime (to the microsecond,
±1 µs: borg's JSON rounds, and runs here with TZ=UTC); a random sample of them is read
from ONE `borg export-tar` stream, hashed per member, and compared with the SHA-256 of
the source file, which another thread hashes meanwhile. Memory stays flat: file contents
are streamed, only paths, sizes, times and digests are kept.
"""

import hashlib
import json
import math
import os
import random
import stat
import tarfile
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

from archives.models import Archive
from archives.services import catalog
from maintenance.services.jobs import JobContext, Outcome
from repositories import borg
from repositories.models import BackupPlan, LeaseMode, Repository
from repositories.status import Status

CHUNK = 1024 * 1024
MIN_SAMPLE = 20
SHOWN = 200  # mismatches and skipped files kept per repository (the log has them all)
DEFAULT_SAMPLE_PERCENT = 5.0
DEFAULT_COUNT_TOLERANCE_PERCENT = 10.0


@dataclass(frozen=True)
class FileMeta:
    size: int
    mtime_us: int  # microseconds since the epoch, UTC


@dataclass
class SourceFile:
    listed: str  # the path as borg saw it (absolute, or relative to the worker's directory)
    meta: FileMeta


@dataclass
class RepositoryResult:
    repository: str
    archive: str = ""
    archive_files: int = 0
    source_files: int = 0
    comparable: int = 0
    compared: int = 0
    mismatches: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    status: str = Status.SUCCESS.value
    reason: str = ""

    def fail(self, reason: str) -> "RepositoryResult":
        self.status, self.reason = Status.FAILURE.value, reason
        return self

    def as_json(self) -> dict:
        data = dict(self.__dict__)
        data["mismatch_count"], data["skipped_count"] = len(self.mismatches), len(self.skipped)
        data["mismatches"], data["skipped"] = self.mismatches[:SHOWN], self.skipped[:SHOWN]
        return data


def archive_path(path: str) -> str:
    """As borg stores a path: no leading `/`, no `./`."""
    path = path.lstrip("/")
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    return path


def mtimes_match(a_us: int, b_us: int) -> bool:
    return abs(a_us - b_us) <= 1


def sample_size(comparable: int, sample_percent: float) -> int:
    return min(comparable, max(MIN_SAMPLE, math.ceil(comparable * sample_percent / 100)))


def count_problem(archive_files: int, source_files: int, tolerance_percent: float) -> str:
    allowed = source_files * tolerance_percent / 100
    if abs(archive_files - source_files) > allowed:
        return (
            f"the archive has {archive_files} files, the source {source_files}: more than {tolerance_percent:g} % apart"
        )
    return ""


# --- the two sides -------------------------------------------------------------------------


def _meta_of(st: os.stat_result) -> FileMeta:
    return FileMeta(st.st_size, st.st_mtime_ns // 1000)


def source_files(ctx: JobContext, plan: BackupPlan, repository: Repository) -> dict[str, SourceFile]:
    """Regular files `borg create` would store now (borg's dry run does not open the repository)."""
    found: dict[str, SourceFile] = {}

    def on_event(event: dict) -> None:
        if event.get("type") != "file_status" or not event.get("path"):
            return
        listed = event["path"]
        try:
            st = os.lstat(listed)
        except OSError:
            return  # gone since borg saw it
        if stat.S_ISREG(st.st_mode):
            found[archive_path(listed)] = SourceFile(listed, _meta_of(st))

    args = borg.create_args(repository, "borgui-verify-dry-run", plan.sources, plan.excludes, plan.compression)
    args = ["create", "--dry-run", "--list", *[a for a in args[1:] if a not in ("--json", "--progress")]]
    process = {}

    def on_start(borg_process) -> None:
        process["borg"] = borg_process
        ctx.on_cancel.append(borg_process.interrupt)
        if ctx.cancelled.is_set():
            borg_process.interrupt()

    try:
        result = borg.run(repository, args, on_event=on_event, on_start=on_start)
    finally:
        if "borg" in process and process["borg"].interrupt in ctx.on_cancel:
            ctx.on_cancel.remove(process["borg"].interrupt)
        connection.close()  # this runs in a thread of its own (see run_verify)
    if not result.ok and result.exit_code != 1:
        raise VerifyFailed(f"borg create --dry-run failed: {result.error_line()}")
    return found


class VerifyFailed(Exception):
    pass


def _utc_us(value: str) -> int | None:
    """borg's naive ISO time (TZ=UTC) as microseconds since the epoch."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def archive_files(ctx: JobContext, repository: Repository, archive: str) -> dict[str, FileMeta | None]:
    """The archive's regular files (hard links with their master's size), streamed."""
    files: dict[str, FileMeta | None] = {}
    links: list[tuple[str, str, int | None]] = []
    with borg.BorgStream(
        repository, ["list", "--json-lines", "--", borg.archive_ref(repository, archive)], extra_env={"TZ": "UTC"}
    ) as stream:
        ctx.on_cancel.append(stream.stop)
        for line in stream.lines():
            if not line.startswith("{"):
                continue
            item = json.loads(line)
            if item.get("type") != "-":
                continue
            mtime = _utc_us(item.get("mtime"))
            if item.get("mode", "").startswith("h"):  # a hard link: size 0, its master in linktarget
                links.append((item["path"], item.get("linktarget", ""), mtime))
                continue
            files[item["path"]] = FileMeta(item.get("size", 0), mtime) if mtime is not None else None
    ctx.on_cancel.remove(stream.stop)
    if not stream.result.ok:
        raise VerifyFailed(f"borg list failed: {stream.result.error_line()}")
    for path, master, mtime in links:
        master_meta = files.get(master)
        files[path] = FileMeta(master_meta.size, mtime) if master_meta and mtime is not None else None
    return files


# --- hashing ---------------------------------------------------------------------------------


def _hash_source(source: SourceFile) -> tuple[str, str]:
    """("ok", digest), ("changed", why), or ("mismatch", why) for a missing or unreadable file."""
    try:
        before = os.lstat(source.listed)
    except FileNotFoundError:
        return "mismatch", "missing from the source"
    except OSError as e:
        return "mismatch", f"unreadable in the source: {e.strerror}"
    if _meta_of(before) != source.meta:
        return "changed", "changed in the source since it was listed"
    digest = hashlib.sha256()
    try:
        with open(source.listed, "rb", buffering=0) as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
            after = os.fstat(f.fileno())
    except FileNotFoundError:
        return "mismatch", "missing from the source"
    except OSError as e:
        return "mismatch", f"unreadable in the source: {e.strerror}"
    if _meta_of(after) != source.meta or after.st_ctime_ns != before.st_ctime_ns:
        return "changed", "changed in the source while it was read"
    return "ok", digest.hexdigest()


class _SourceHasher(threading.Thread):
    """Hashes the sampled source files while the main thread reads the archive's stream."""

    def __init__(self, sample: list[tuple[str, SourceFile]], cancelled: threading.Event):
        super().__init__(daemon=True, name="verify-source-hasher")
        self.sample = sample
        self.cancelled = cancelled
        self.results: dict[str, tuple[str, str]] = {}

    def run(self):
        for path, source in self.sample:
            if self.cancelled.is_set():
                return
            self.results[path] = _hash_source(source)


def archive_digests(ctx: JobContext, repository: Repository, archive: str, paths: list[str]) -> dict[str, str]:
    """SHA-256 of each sampled path's content, from one `borg export-tar` stream."""
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="borgui-verify-") as tmp:
        patterns = Path(tmp) / "patterns"
        # pf: (a full path) patterns are looked up in a set by borg; pp: ones would each be
        # tried against every item of the archive (quadratic: minutes for 50,000 paths).
        patterns.write_text("".join(f"+ pf:{path}\n" for path in paths) + "- *\n", encoding="utf-8")
        args = ["export-tar", f"--patterns-from={patterns}", "--", borg.archive_ref(repository, archive), "-"]
        with borg.BorgStream(repository, args) as stream:
            ctx.on_cancel[:] = [stream.stop]
            with tarfile.open(fileobj=stream.stdout, mode="r|") as tar:
                for done, member in enumerate(tar, 1):
                    if member.isreg():
                        digest = hashlib.sha256()
                        reader = tar.extractfile(member)
                        while chunk := reader.read(CHUNK):
                            digest.update(chunk)
                        digests[member.name] = digest.hexdigest()
                    elif member.islnk() and member.linkname in digests:
                        digests[member.name] = digests[member.linkname]
                    if done % 100 == 0:
                        ctx.set_progress(f"{done} of {len(paths)} sampled files read from the archive")
        ctx.on_cancel[:] = []
    if not stream.result.ok:
        raise VerifyFailed(f"borg export-tar failed: {stream.result.error_line()}")
    return digests


# --- one repository --------------------------------------------------------------------------


def newest_archive(plan: BackupPlan, repository: Repository) -> Archive | None:
    archives = Archive.objects.filter(repository=repository, plan=plan, checkpoint=False, start__isnull=False)
    return archives.order_by("-start", "-id").first()


def verify_repository(
    ctx: JobContext, plan: BackupPlan, repository: Repository, source_side: Future, options: dict
) -> RepositoryResult:
    """SOURCE_SIDE: the future of source_files (listed meanwhile, in another thread)."""
    result = RepositoryResult(repository.name)
    catalog.refresh(repository, holder=f"verify job {ctx.job.pk}", on_wait=ctx.log)
    archive = newest_archive(plan, repository)
    if archive is None:
        return result.fail(f"no archive of plan {plan.name} in {repository.name}")
    result.archive = archive.name
    ctx.log(f"{repository.name}: comparing archive {archive.name} with the source")
    with ctx.hold(repository, LeaseMode.READ):
        stored = archive_files(ctx, repository, archive.name)
        source = source_side.result()
        result.archive_files, result.source_files = len(stored), len(source)
        comparable = sorted(
            path
            for path, meta in stored.items()
            if meta is not None
            and path in source
            and source[path].meta.size == meta.size
            and mtimes_match(source[path].meta.mtime_us, meta.mtime_us)
            and "\n" not in path
            and "\r" not in path
        )
        result.comparable = len(comparable)
        problem = count_problem(result.archive_files, result.source_files, options["count_tolerance_percent"])
        if not comparable:
            if problem:
                return result.fail(problem)
            result.status, result.reason = Status.WARNING.value, "nothing to compare"
            return result
        sample = random.sample(comparable, sample_size(len(comparable), options["sample_percent"]))
        ctx.log(f"{repository.name}: {len(comparable)} comparable files, hashing a sample of {len(sample)}")
        hasher = _SourceHasher([(path, source[path]) for path in sample], ctx.cancelled)
        hasher.start()
        try:
            digests = archive_digests(ctx, repository, archive.name, sample)
        finally:
            hasher.join()
    if ctx.cancelled.is_set():
        return result.fail("cancelled")
    _compare(ctx, result, sample, digests, hasher.results)
    if problem:
        return result.fail(problem)
    if result.mismatches:
        return result.fail(f"{len(result.mismatches)} file(s) differ from the source")
    return result


def _compare(ctx, result: RepositoryResult, sample, digests, source_results) -> None:
    for path in sorted(sample):
        outcome, value = source_results.get(path, ("changed", "not hashed"))
        if outcome == "changed":
            result.skipped.append({"path": path, "reason": value})
            ctx.log(f"{result.repository}: skipped {path}: {value}")
            continue
        result.compared += 1
        if outcome == "mismatch":
            reason = value
        elif path not in digests:
            reason = "not in the archive's stream"
        elif digests[path] != value:
            reason = "content differs (same size and mtime)"
        else:
            continue
        result.mismatches.append({"path": path, "reason": reason})
        ctx.log(f"{result.repository}: mismatch {path}: {reason}")


# --- the job ----------------------------------------------------------------------------------


def options_of(job) -> dict:
    options = dict(job.options or {})
    settings = getattr(job.plan, "maintenance", None)
    if options.get("sample_percent") is None:
        options["sample_percent"] = settings.sample_percent if settings else DEFAULT_SAMPLE_PERCENT
    if options.get("count_tolerance_percent") is None:
        options["count_tolerance_percent"] = (
            settings.count_tolerance_percent if settings else DEFAULT_COUNT_TOLERANCE_PERCENT
        )
    return options


def run_verify(ctx: JobContext) -> Outcome:
    plan = ctx.job.plan
    repositories = plan.ordered_repositories()
    if not repositories:
        return Outcome(Status.FAILURE, f"plan {plan.name} has no repository")
    options = options_of(ctx.job)
    ctx.log(
        f"sample {options['sample_percent']:g} % (at least {MIN_SAMPLE} files), "
        f"count tolerance {options['count_tolerance_percent']:g} %"
    )
    # The sources are walked while the archive list is read: both are mostly borg's time.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-source-walk") as pool:
        source_side = pool.submit(source_files, ctx, plan, repositories[0])
        results = []
        for repository in repositories:
            if ctx.cancelled.is_set():
                break
            try:
                results.append(verify_repository(ctx, plan, repository, source_side, options))
            except (VerifyFailed, catalog.ArchiveError) as e:
                results.append(RepositoryResult(repository.name).fail(str(e)))
            ctx.results = {"options": options, "repositories": [r.as_json() for r in results]}
        source_side.exception()  # waited for, whatever happened above
    return _outcome(ctx, results)


def _outcome(ctx: JobContext, results: list[RepositoryResult]) -> Outcome:
    lines = []
    for r in results:
        line = (
            f"{r.repository}: {r.status} — archive {r.archive or '?'}: {r.archive_files} files, source "
            f"{r.source_files}; {r.compared} compared, {len(r.mismatches)} mismatch(es), {len(r.skipped)} skipped"
        )
        lines.append(line + (f" ({r.reason})" if r.reason else ""))
        lines += [f"mismatch: {m['path']} ({m['reason']})" for m in r.mismatches[:SHOWN]]
        ctx.log(lines[-1] if not r.mismatches else line)
    statuses = [Status(r.status) for r in results]
    if ctx.cancelled.is_set():
        return Outcome(Status.FAILURE, "cancelled", lines)
    if Status.FAILURE in statuses:
        failed = [r for r in results if r.status == Status.FAILURE]
        return Outcome(Status.FAILURE, "; ".join(f"{r.repository}: {r.reason}" for r in failed), lines)
    if Status.WARNING in statuses:
        return Outcome(Status.WARNING, "nothing to compare", lines)
    compared = sum(r.compared for r in results)
    return Outcome(Status.SUCCESS, f"{compared} file(s) compared, all equal", lines)
