"""`manage.py install_packages`: real apt-get as root with Debian's small `hello` package.

Tests that must prove that nothing ran put fake `apt-get`, `apt-cache`, `sudo`,
`dpkg-query` and `dpkg` first on PATH: each writes a marker file when started.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from packages_admin import services
from packages_admin.models import AptLock, PackageInstall
from tests.packagekit import HOSTILE_NAMES, dpkg_version, make_fake_tools, needs_root, remove_hello

# Real apt-get and dpkg take one system-wide lock: parallel workers run these files on one of them.
pytestmark = pytest.mark.xdist_group("apt")

ROOT = Path(__file__).resolve().parent.parent
MISSING_PACKAGE = "borgui-test-no-such-package"


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def no_hello():
    """`hello` is not installed before the test, and is removed again after it."""
    remove_hello()
    yield
    remove_hello()


@pytest.fixture
def fake_path(tmp_path):
    marker = tmp_path / "started"
    return make_fake_tools(tmp_path / "fakebin", marker), marker


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# --- real installs ------------------------------------------------------------------------


@needs_root
def test_install_records_status_version_and_log(manage, no_hello):
    result = manage("install_packages", "hello", timeout=600)

    assert result.returncode == 0, result.stdout + result.stderr
    version = dpkg_version("hello")
    assert version
    assert subprocess.run(["hello"], capture_output=True, text=True).stdout == "Hello, world!\n"
    package = PackageInstall.objects.get()
    assert package.name == "hello"
    assert package.status == "installed"
    assert package.installed_version == version
    assert package.exit_code == 0
    assert package.started_at and package.finished_at and package.started_at <= package.finished_at
    assert "$ apt-get install -y --no-install-recommends" in package.log
    assert "-- hello\n" in package.log
    assert "Setting up hello" in package.log
    assert f"borgui: hello {version} is installed" in package.log
    # the command prints the same log as it comes
    assert "Setting up hello" in result.stdout
    assert result.stdout.rstrip().endswith(f"==> hello: installed {version}")


@needs_root
def test_missing_reinstalls_a_removed_package_and_leaves_installed_ones(manage, no_hello):
    assert manage("install_packages", "hello", timeout=600).returncode == 0
    remove_hello()
    assert PackageInstall.objects.get().status == "installed"  # borgui does not know yet

    result = manage("install_packages", "--missing", timeout=600)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello: not installed, reinstalling" in result.stdout
    version = dpkg_version("hello")
    assert version
    package = PackageInstall.objects.get()
    assert (package.status, package.installed_version) == ("installed", version)
    assert "Setting up hello" in package.log

    # Nothing to do the second time: apt is not run again.
    again = manage("install_packages", "--missing", timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"hello: installed ({version})"
    assert PackageInstall.objects.get().started_at == package.started_at


@needs_root
def test_failing_install_is_recorded_and_the_batch_goes_on(manage, no_hello):
    result = manage("install_packages", MISSING_PACKAGE, "hello", timeout=600)

    assert result.returncode == 1
    assert one_line(result.stderr) == f"CommandError: 1 of 2 package(s) failed to install: {MISSING_PACKAGE}"
    failed = PackageInstall.objects.get(name=MISSING_PACKAGE)
    assert failed.status == "failed"
    assert failed.exit_code == 100
    assert failed.installed_version == ""
    assert f"E: Unable to locate package {MISSING_PACKAGE}" in failed.log
    # an unknown package makes borgui refresh the lists first
    assert f"apt-cache does not know {MISSING_PACKAGE}" in failed.log and "$ apt-get update" in failed.log
    assert f"==> {MISSING_PACKAGE}: failed (exit code 100)" in result.stdout
    hello = PackageInstall.objects.get(name="hello")
    assert hello.status == "installed" and hello.installed_version == dpkg_version("hello")


AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"]


@needs_root
def test_without_root_and_without_sudo_rule_the_failure_says_how_to_set_it_up(subprocess_env, no_hello):
    probe = subprocess.run([*AS_NOBODY, sys.executable, "-c", "pass"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"the user nobody cannot run {sys.executable}")
    result = subprocess.run(
        [*AS_NOBODY, sys.executable, str(ROOT / "manage.py"), "install_packages", "hello"],
        env={**subprocess_env, "HOME": "/nonexistent"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    package = PackageInstall.objects.get()
    assert package.status == "failed"
    assert "borgui: cannot install packages: nobody may not run apt-get through sudo" in package.log
    assert "write the rule of `python -m packages_admin.sudoers nobody` to /etc/sudoers.d/borgui-apt" in package.log
    assert "sudo: a password is required" in package.log
    assert "$ sudo" not in package.log  # apt-get was never tried
    assert dpkg_version("hello") is None


# --- nothing runs for an invalid name ---------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if "\x00" not in n])  # argv cannot carry NUL
def test_hostile_name_runs_nothing(manage, fake_path, name):
    path, marker = fake_path
    result = manage("install_packages", "--", name, env={"PATH": path})

    assert result.returncode == 2, result.stdout + result.stderr
    assert one_line(result.stderr).startswith("CommandError: invalid package name: ")
    assert not marker.exists(), marker.read_text()
    assert not PackageInstall.objects.exists()


def test_one_bad_name_in_a_batch_stops_the_whole_batch(manage, fake_path):
    path, marker = fake_path
    result = manage("install_packages", "hello", "docker.io", "$(id)", env={"PATH": path})

    assert result.returncode == 2
    assert (
        one_line(result.stderr)
        == "CommandError: invalid package name: '$(id)' is not a package name: '$' is not allowed"
    )
    assert not marker.exists()
    assert not PackageInstall.objects.exists()


def test_options_without_double_dash_are_usage_errors(manage, fake_path):
    path, marker = fake_path
    result = manage("install_packages", "-oAPT::Update::Pre-Invoke::=touch /tmp/x", env={"PATH": path})

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_usage_errors(manage):
    for args, message in [
        ((), "CommandError: give one or more package names, or --missing"),
        (("--missing", "hello"), "CommandError: give package names or --missing, not both"),
    ]:
        result = manage("install_packages", *args)
        assert (result.returncode, one_line(result.stderr)) == (2, message)


def test_a_valid_name_does_reach_the_tools(manage, fake_path):
    """The control for the tests above: the fakes do record a start."""
    path, marker = fake_path
    result = manage("install_packages", "hello", env={"PATH": path})

    assert result.returncode == 1  # the fake dpkg-query never shows it installed
    assert "apt-get install -y --no-install-recommends" in marker.read_text()
    assert "-- hello\n" in marker.read_text()


def test_missing_with_nothing_recorded(manage, fake_path):
    path, marker = fake_path
    result = manage("install_packages", "--missing", env={"PATH": path})
    assert (result.returncode, result.stdout) == (0, "no packages recorded\n")
    assert not marker.exists()


# --- one install at a time, live log, timeout ------------------------------------------------


def test_installs_queue_and_the_log_is_saved_while_apt_runs(subprocess_env, tmp_path):
    """Two `install_packages` at once: the second waits for the first (apt has one lock)."""
    events = tmp_path / "events"
    release = tmp_path / "release"
    # The fake apt-get prints a line, works until the test releases it (at most 60 s), and
    # logs when it started and ended: on a loaded machine a fixed few seconds were over
    # before the second command had even started.
    body = (
        'case "$0 $*" in *apt-get*install*)\n'
        "  pkg=$(eval echo \\${$#})\n"
        '  echo "fake apt-get: unpacking $pkg"\n'
        f'  echo "start $pkg $(date +%s.%N)" >> "{events}"\n'
        f'  i=0; while [ ! -e "{release}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n'
        f'  echo "end $pkg $(date +%s.%N)" >> "{events}"\n'
        ";; esac\n"
        "case \"$0\" in *dpkg-query) printf 'installed\\t1.0' ;; esac"
    )
    path = make_fake_tools(tmp_path / "fakebin", tmp_path / "started", body)
    env = {**subprocess_env, "PATH": path}

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "install_packages", name],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = start("pkg-one")
    # While it runs, the record shows "installing" and apt's output so far.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = PackageInstall.objects.filter(name="pkg-one").first()
        if row and row.status == "installing" and "fake apt-get: unpacking pkg-one" in row.log:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the log of the running install was not saved while it ran")
    second = start("pkg-two")
    waiting = "borgui: waiting for the install of pkg-one to finish"
    while time.monotonic() < deadline + 60:
        row = PackageInstall.objects.filter(name="pkg-two").first()
        if row and waiting in row.log:
            break
        time.sleep(0.2)
    release.touch()
    for process in (first, second):
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, out + err

    spans = {}
    for line in events.read_text().splitlines():
        what, pkg, stamp = line.split()
        spans.setdefault(pkg, {})[what] = float(stamp)
    assert set(spans) == {"pkg-one", "pkg-two"}
    one, two = spans["pkg-one"], spans["pkg-two"]
    assert one["end"] <= two["start"] or two["end"] <= one["start"], f"installs overlapped: {spans}"
    assert waiting in PackageInstall.objects.get(name="pkg-two").log
    assert set(PackageInstall.objects.values_list("status", flat=True)) == {"installed"}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.django_db(transaction=True)
def test_install_that_hangs_is_stopped_at_the_timeout_with_its_children(settings, tmp_path, monkeypatch):
    settings.PACKAGES_INSTALL_TIMEOUT = 2
    pid_file = tmp_path / "child.pid"
    body = (
        'case "$0 $*" in *apt-get*install*)\n'
        '  echo "fake apt-get: waiting for a mirror that never answers"\n'
        f'  sleep 300 & echo $! > "{pid_file}"; wait\n'
        ";; esac"
    )
    monkeypatch.setenv("PATH", make_fake_tools(tmp_path / "fakebin", tmp_path / "started", body))
    package, _ = services.record_package("borgui-test-hangs")

    started = time.monotonic()
    services.install(package)

    assert time.monotonic() - started < 30
    package.refresh_from_db()
    assert package.status == "failed"
    assert package.exit_code == 124
    assert "fake apt-get: waiting for a mirror that never answers" in package.log
    assert "borgui: apt-get install did not finish within 2 s and was stopped" in package.log
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child), "apt-get's child survived the timeout"


@pytest.mark.django_db(transaction=True)
def test_a_lock_left_by_a_dead_worker_is_taken_over(tmp_path, monkeypatch):
    """A worker that died mid-install stops beating; the next install takes over and says so."""
    monkeypatch.setenv("PATH", make_fake_tools(tmp_path / "fakebin", tmp_path / "started"))
    dead, _ = services.record_package("pkg-dead")
    assert services.try_acquire("dead-worker-token", dead.name)
    PackageInstall.objects.filter(pk=dead.pk).update(status="installing")
    AptLock.objects.update(heartbeat=timezone.now() - services.LOCK_STALE_AFTER * 2)
    package, _ = services.record_package("pkg-next")

    services.install(package)

    dead.refresh_from_db()
    assert dead.status == "failed"
    assert "interrupted: the worker stopped during the install" in dead.log
    assert services.current_holder() == ""
