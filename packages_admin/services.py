"""Installing Debian packages with apt, as small functions the admin, the task and the command share.

Every process gets an argument list, never a shell, and every name has passed
``validate_package_spec`` before it gets here. Installs run one at a time across all
workers (``apt_lock``), stream their output into a bounded log that is saved every second
(the admin shows it live), and end in ``installed`` or ``failed`` with apt's exit code.
"""

import codecs
import getpass
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from common import childenv, processes
from common.text import SharedBoundedText
from packages_admin.models import AptLock, PackageInstall
from packages_admin.sudoers import INSTALL_OPTIONS, SUDOERS_FILE
from packages_admin.validators import parse_package_spec

logger = logging.getLogger(__name__)

Status = PackageInstall.Status
Output = Callable[[str], None]

APT_LISTS = Path("/var/lib/apt/lists")
LISTS_MAX_AGE = timedelta(days=1)
TIMED_OUT = 124  # the exit code recorded for an apt-get that was stopped at its timeout

# A lock holder refreshes its heartbeat every second or so; one silent this long is dead.
LOCK_STALE_AFTER = timedelta(minutes=2)
LOCK_ID = 1
FLUSH_EVERY = 1.0  # seconds between saves of the live log
KILL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL at a timeout
# apt's output is usually small, but an install that goes wrong can print without end: the
# log keeps what was asked and the first errors (head) and how it ended (tail).
LOG_HEAD, LOG_TAIL = 16_000, 48_000


def install_timeout() -> int:
    return int(getattr(settings, "PACKAGES_INSTALL_TIMEOUT", 1200))


def update_timeout() -> int:
    return int(getattr(settings, "PACKAGES_UPDATE_TIMEOUT", 300))


def lock_wait() -> int:
    return int(getattr(settings, "PACKAGES_LOCK_WAIT", 1800))


# --- what apt knows -------------------------------------------------------------------


def _run_quiet(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=timeout
    )


def installed_version(spec: str) -> str | None:
    """The version dpkg has installed of the package in ``spec`` (NAME or NAME=VERSION), or None when absent.

    A package removed but with its configuration files left still has a version in dpkg's
    database: only the status ``installed`` counts.
    """
    name, _ = parse_package_spec(spec)
    try:
        result = _run_quiet(["dpkg-query", "-W", "-f=${db:Status-Status}\t${Version}", "--", name])
    except (OSError, subprocess.TimeoutExpired):
        return None
    status, _, version = result.stdout.partition("\t")
    if result.returncode != 0 or status.strip() != "installed":
        return None
    return version.strip() or None


def is_satisfied(spec: str, version: str | None) -> bool:
    """Whether an installed VERSION (or None) is what ``spec`` asks for."""
    if version is None:
        return False
    wanted = parse_package_spec(spec)[1]
    return wanted is None or wanted == version


def apt_lists_age(lists: Path = APT_LISTS) -> timedelta | None:
    """How long ago apt's package lists were last refreshed, or None when there are none.

    apt stamps each list file with the mirror's Last-Modified time, so their own mtimes say
    when Debian published them. Every ``apt-get update`` writes through ``lists/partial/``
    and renames into ``lists/``, so the newer of those two directories' mtimes is the time
    of the last update.
    """
    try:
        has_lists = any(entry.is_file() and entry.name != "lock" for entry in lists.iterdir())
        if not has_lists:
            return None
        mtimes = [lists.stat().st_mtime]
        if (lists / "partial").exists():
            mtimes.append((lists / "partial").stat().st_mtime)
    except OSError:
        return None
    return timedelta(seconds=max(0.0, time.time() - max(mtimes)))


def package_known(spec: str) -> bool:
    """Whether apt's lists have a candidate for ``spec`` (and its pinned version, if any)."""
    name, version = parse_package_spec(spec)
    try:
        result = _run_quiet(["apt-cache", "policy", "--", name])
    except (OSError, subprocess.TimeoutExpired):
        return False
    lines = [line.strip() for line in result.stdout.splitlines()]
    candidate = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Candidate:")), "(none)")
    if candidate == "(none)":
        return False
    if version is None:
        return True
    # Version table rows look like "2.10-3 500" (or "*** 2.10-3 500" for the installed one).
    return any(version in line.removeprefix("***").split()[:1] for line in lines)


def update_reason(spec: str) -> str | None:
    """Why ``apt-get update`` should run before installing ``spec``, or None when the lists will do."""
    age = apt_lists_age()
    if age is None:
        return "there are no package lists yet"
    if age > LISTS_MAX_AGE:
        return f"the package lists are {age.days} day(s) old"
    if not package_known(spec):
        return f"apt-cache does not know {spec}"
    return None


# --- running apt-get as root ------------------------------------------------------------


def running_as_root() -> bool:
    return os.geteuid() == 0


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.geteuid())


def apt_get(*args: str) -> list[str]:
    """The argument list that runs ``apt-get ARGS`` as root: directly, or through ``sudo -n``."""
    prefix = [] if running_as_root() else ["sudo", "-n"]
    return [*prefix, "apt-get", *args]


def install_argv(spec: str) -> list[str]:
    parse_package_spec(spec)  # never let an unchecked value near apt-get
    # Exactly the options the sudoers rule allows, then `--` and the package.
    return apt_get(*INSTALL_OPTIONS, spec)


def apt_env() -> dict[str, str]:
    # C.UTF-8: apt's messages in English, whatever the container's locale, so users and
    # tests can recognise "Unable to locate package".
    # Never borgui's secrets: maintainer scripts of every package run with this, as root.
    return {**childenv.minimal(os.environ), "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}


def privilege_problem() -> tuple[str, int] | None:
    """Why apt-get cannot run as root here (message, exit code), or None when it can."""
    if running_as_root():
        if shutil.which("apt-get") is None:
            return "cannot install packages: apt-get: command not found (borgui installs Debian packages)", 127
        return None
    user = current_user()
    how = (
        f"write the rule of `python -m packages_admin.sudoers {user}` to {SUDOERS_FILE} (mode 0440; "
        "the borgui image has it), or run the worker as root"
    )
    if shutil.which("sudo") is None:
        return f"cannot install packages: borgui runs as {user}, not root, and sudo is not installed: {how}", 1
    try:
        result = _run_quiet(["sudo", "-n", "-l", "apt-get", "update"], timeout=30)
    except subprocess.TimeoutExpired:
        return f"cannot install packages: `sudo -n -l apt-get update` did not answer: {how}", 1
    if result.returncode == 0:
        return None
    said = " ".join((result.stderr or result.stdout).split()) or f"exit code {result.returncode}"
    return f"cannot install packages: {user} may not run apt-get through sudo ({said}): {how}", result.returncode


class _Decoded:
    """apt's output (stdout and stderr together) decoded as it comes, passed to OUTPUT."""

    def __init__(self, output: Output):
        self._output = output
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if text:
            self._output(text)


def run_streaming(argv: list[str], output: Output, timeout: float, tick: Callable[[], None] | None = None) -> int:
    """Run ARGV, passing its output (stdout and stderr, as they come) to OUTPUT.

    TICK runs in the calling thread about every second while the process runs (to save the
    log and refresh the lock). At TIMEOUT the whole process group gets SIGTERM, then SIGKILL;
    the result is then ``TIMED_OUT``. Returns the exit code (negative: killed by that signal).
    """
    process = processes.spawn(argv, apt_env(), stderr=subprocess.STDOUT)
    sink = _Decoded(output)
    supervisor = processes.Supervisor(
        process,
        {process.stdout: sink},
        deadline=time.monotonic() + timeout,
        on_deadline=lambda: supervisor.signal_group(signal.SIGTERM),
        kill_after=KILL_GRACE,
        tick=tick,
        tick_every=FLUSH_EVERY,
    )
    try:
        returncode = supervisor.run()
    finally:
        sink.feed(b"", final=True)
        if tick is not None:
            tick()
    # None: apt-get would not die even after SIGKILL (stuck in the kernel).
    return TIMED_OUT if supervisor.timed_out or returncode is None else returncode


# --- the lock that makes installs queue ---------------------------------------------------


def _lock_row() -> None:
    try:
        with transaction.atomic():
            AptLock.objects.get_or_create(pk=LOCK_ID)
    except IntegrityError:
        pass  # created meanwhile by another worker


def try_acquire(token: str, holder: str) -> bool:
    """Take the apt lock if it is free or its holder stopped beating; one atomic UPDATE."""
    _lock_row()
    now = timezone.now()
    free = Q(token="") | Q(heartbeat__isnull=True) | Q(heartbeat__lt=now - LOCK_STALE_AFTER)
    return bool(AptLock.objects.filter(free, pk=LOCK_ID).update(token=token, holder=holder, heartbeat=now))


def heartbeat(token: str) -> bool:
    return bool(AptLock.objects.filter(pk=LOCK_ID, token=token).update(heartbeat=timezone.now()))


def release(token: str) -> None:
    AptLock.objects.filter(pk=LOCK_ID, token=token).update(token="", holder="", heartbeat=None)


def current_holder() -> str:
    lock = AptLock.objects.filter(pk=LOCK_ID).first()
    return lock.holder if lock and lock.token else ""


class LockTimeout(Exception):
    pass


@contextmanager
def apt_lock(holder: str, waiting: Callable[[str], None], wait: float) -> Iterator[str]:
    """Hold the apt lock (across every worker) for the block; yields the token to beat with.

    While another install holds it, WAITING gets a message once and then every 30 s (it
    also keeps the waiting record fresh); after WAIT seconds LockTimeout is raised.
    """
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    last_said = None
    while not try_acquire(token, holder):
        now = time.monotonic()
        if now >= deadline:
            raise LockTimeout(f"gave up after waiting {int(wait)} s for the install of {current_holder()} to finish")
        if last_said is None or now - last_said >= 30:
            other = current_holder()
            waiting(f"borgui: waiting for the install of {other or 'another package'} to finish\n")
            last_said = now
        time.sleep(0.5)
    try:
        yield token
    finally:
        release(token)


# --- recording and installing ---------------------------------------------------------------


def record_package(spec: str) -> tuple[PackageInstall, bool]:
    """The record for ``spec``, created when missing (returns it and whether it was created).

    A package is recorded once: asking for ``hello=2.10-3`` when ``hello`` is recorded pins
    that record (and the other way round).
    """
    name, _ = parse_package_spec(spec)
    for _attempt in range(2):
        existing = PackageInstall.objects.for_package(name).first()
        if existing is not None:
            if existing.name != spec:
                existing.name = spec
                existing.save(update_fields=["name", "updated_at"])
            return existing, False
        try:
            with transaction.atomic():
                return PackageInstall.objects.create(name=spec), True
        except IntegrityError:
            continue  # recorded meanwhile by someone else: use theirs
    raise RuntimeError(f"could not record {spec}")


def is_busy(package: PackageInstall) -> bool:
    """Queued or installing, and not left behind by a worker that died."""
    fresh = package.updated_at is not None and package.updated_at > timezone.now() - LOCK_STALE_AFTER
    return package.is_running and fresh


def queue_install(package: PackageInstall, *, new: bool = False) -> bool:
    """Mark PACKAGE pending and queue its install on the worker (after the current transaction).

    Returns False (and queues nothing) when it is already queued or installing; NEW says
    the record was just created (it is pending, but nothing is queued for it yet).
    """
    from django_q.tasks import async_task

    if not new and is_busy(package):
        return False
    now = timezone.now()
    log = f"borgui: queued at {now:%Y-%m-%d %H:%M:%S %Z}; a worker installs it\n"
    PackageInstall.objects.filter(pk=package.pk).update(
        status=Status.PENDING, exit_code=None, started_at=None, finished_at=None, log=log, updated_at=now
    )
    package.status, package.exit_code, package.log, package.updated_at = Status.PENDING, None, log, now
    package.started_at = package.finished_at = None
    pk, task_name = package.pk, f"install {package.name}"[:100]  # django-q's task names hold 100 characters
    transaction.on_commit(
        lambda: async_task("packages_admin.tasks.install_package", pk, task_name=task_name, group="packages")
    )
    return True


def queue_refresh(package_ids: list[int]) -> None:
    """Ask a worker, where hooks run and installs happen, what dpkg says of these packages."""
    from django_q.tasks import async_task

    ids = list(package_ids)
    transaction.on_commit(lambda: async_task("packages_admin.tasks.refresh_packages", ids, group="packages"))


def package_log(stored: str = "") -> SharedBoundedText:
    """The bounded install log, continuing STORED (the reader thread appends, saves read it)."""
    return SharedBoundedText(stored, head=LOG_HEAD, tail=LOG_TAIL)


def refresh_status(package: PackageInstall) -> bool | None:
    """Update PACKAGE from dpkg-query; True installed, False not installed, None skipped (busy)."""
    if is_busy(package):
        return None
    version = installed_version(package.name)
    now = timezone.now()
    if is_satisfied(package.name, version):
        package.status, package.installed_version = Status.INSTALLED, version
    else:
        package.status, package.installed_version = Status.FAILED, version or ""
        found = f"it shows {package.package_name} {version}" if version else "it is not installed"
        log = package_log(package.log)
        log.append(
            f"\nborgui: {now:%Y-%m-%d %H:%M:%S %Z} refresh status on {socket.gethostname()}: "
            f"dpkg-query does not show {package.name} installed ({found}); use Install again\n"
        )
        package.log = log.value()
    package.updated_at = now
    PackageInstall.objects.filter(pk=package.pk).update(
        status=package.status, installed_version=package.installed_version, log=package.log, updated_at=now
    )
    return package.status == Status.INSTALLED


def install(package: PackageInstall, echo: Output | None = None) -> PackageInstall:
    """Install PACKAGE now, in this process: wait for the apt lock, run apt, record the outcome.

    ECHO also gets the log as it is written (the command prints it). Returns the record as
    saved; a record removed from the list meanwhile is left removed.
    """
    log = package_log()
    saved_version = 0

    def out(text: str) -> None:
        log.append(text)
        if echo is not None:
            echo(text)

    def save(**fields) -> None:
        nonlocal saved_version
        # The version first: an append between the two reads is saved again on the next tick.
        saved_version = log.version
        fields.setdefault("log", log.value())
        fields["updated_at"] = timezone.now()
        PackageInstall.objects.filter(pk=package.pk).update(**fields)
        for key, value in fields.items():
            setattr(package, key, value)

    def waiting(message: str) -> None:
        out(message)
        save()

    try:
        with apt_lock(package.name, waiting, lock_wait()) as token:
            _fail_interrupted(package)
            save(status=Status.INSTALLING, started_at=timezone.now(), finished_at=None, exit_code=None)

            def tick() -> None:
                heartbeat(token)
                if log.version != saved_version:
                    save()

            status, exit_code, version = _install_locked(package.name, out, tick)
    except LockTimeout as e:
        out(f"borgui: {e}\n")
        status, exit_code, version = Status.FAILED, None, ""
    except Exception as e:
        logger.exception("installing %s failed", package.name)
        out(f"borgui: the install stopped with an error: {type(e).__name__}: {e}\n")
        status, exit_code, version = Status.FAILED, None, installed_version(package.name) or ""
    save(status=status, exit_code=exit_code, installed_version=version, finished_at=timezone.now())
    return package


def _fail_interrupted(current: PackageInstall) -> None:
    """While we hold the lock nobody else installs: a row still 'installing' lost its worker."""
    for package in PackageInstall.objects.filter(status=Status.INSTALLING).exclude(pk=current.pk):
        log = package_log(package.log)
        log.append("\nborgui: interrupted: the worker stopped during the install; use Install again\n")
        PackageInstall.objects.filter(pk=package.pk, status=Status.INSTALLING).update(
            status=Status.FAILED, log=log.value(), finished_at=timezone.now(), updated_at=timezone.now()
        )


def _install_locked(spec: str, out: Output, tick: Callable[[], None]) -> tuple[str, int | None, str]:
    """The install itself, holding the lock: returns (status, exit code, installed version)."""
    out(f"borgui: installing {spec} on {socket.gethostname()} as {current_user()}\n")
    problem = privilege_problem()
    if problem is not None:
        message, code = problem
        out(f"borgui: {message}\n")
        return Status.FAILED, code, installed_version(spec) or ""

    reason = update_reason(spec)
    if reason is not None:
        argv = apt_get("update")
        out(f"borgui: updating the package lists: {reason}\n$ {shlex.join(argv)}\n")
        code = run_streaming(argv, out, update_timeout(), tick)
        if code != 0:
            out(f"borgui: apt-get update failed (exit code {code}); trying the install with the lists there are\n")

    argv = install_argv(spec)
    out(f"$ {shlex.join(argv)}\n")
    code = run_streaming(argv, out, install_timeout(), tick)
    version = installed_version(spec)
    if code == TIMED_OUT:
        out(f"borgui: apt-get install did not finish within {install_timeout()} s and was stopped\n")
        return Status.FAILED, code, version or ""
    if code != 0:
        out(f"borgui: apt-get install failed with exit code {code}\n")
        return Status.FAILED, code, version or ""
    if not is_satisfied(spec, version):
        out(f"borgui: apt-get finished, but dpkg-query does not show {spec} installed\n")
        return Status.FAILED, code, version or ""
    out(f"borgui: {parse_package_spec(spec)[0]} {version} is installed\n")
    return Status.INSTALLED, code, version
