"""Shared fixtures: the real services (PostgreSQL, dockerd, sshd, Chromium) and named users.

PostgreSQL starts in ``pytest_configure``, before Django is set up, because the settings
read DATABASE_URL at import. The other services start on first use, once per session, and
each is stopped at the end by the fixture that started it.
"""

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.harness.postgres import PostgresCluster

ROOT = Path(__file__).resolve().parent.parent
# Where a test that forgot to choose a daemon ends up: nowhere (never the host's daemon).
NO_DOCKER = "unix:///nonexistent/borgui-tests-never-use-the-host-docker.sock"
PASSWORDS = {
    "admin": "admin-pw-7f3k2",
    "staff": "staff-pw-9q4m1",
    "outsider": "outsider-pw-2v8x5",
    # members of the role groups (accounts/roles.py), made by the role_user fixture
    "viewer": "viewer-pw-3h8d6",
    "operator": "operator-pw-5k2w9",
    "administrator": "administrator-pw-8m4t1",
}
ROLE_USERNAMES = {"viewer": "viewer", "operator": "operator", "admin": "administrator"}

_postgres = PostgresCluster()
_data_dir = Path(tempfile.mkdtemp(prefix="borgui-test-data-"))


def _is_xdist_controller(config) -> bool:
    """With ``-n N`` the controller runs no test; its workers are separate pytest processes."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config):
    # The controller brings the cluster up first, so its workers never race to start it.
    database_url = _postgres.start()
    if _is_xdist_controller(config):
        # Workers inherit this process's environment: setting Django up here would hand
        # them its keys and data directory, shared, after their own settings were read.
        return
    os.environ.update(
        BORGUI_DATA_DIR=str(_data_dir),
        SECRET_KEY="test-secret-key-" + Fernet.generate_key().decode(),
        BORGUI_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="borgui.settings",
        DOCKER_HOST=NO_DOCKER,
        # Playwright's sync API keeps an event loop in the test thread; the ORM calls the
        # tests make there are still synchronous.
        DJANGO_ALLOW_ASYNC_UNSAFE="true",
    )
    import django

    django.setup()


def pytest_unconfigure(config):
    _postgres.stop()
    shutil.rmtree(_data_dir, ignore_errors=True)


# --- real services ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _one_apt_test_at_a_time(request):
    """dpkg has one lock per machine and the apt tests install and remove `hello` for real:
    tests marked ``xdist_group("apt")`` hold a file lock, so neither another worker of this
    run nor another suite on the same machine changes `hello` under them."""
    marker = request.node.get_closest_marker("xdist_group")
    if marker is None or "apt" not in marker.args:
        yield
        return
    with open("/tmp/borgui-tests-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def dockerd():
    from tests.harness.dockerd import DockerDaemon

    daemon = DockerDaemon()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def docker_host(dockerd, monkeypatch):
    """Point DOCKER_HOST at the suite's own daemon; no container outlives the test."""
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    yield dockerd
    dockerd.remove_all_containers()


@pytest.fixture(scope="session")
def sshd():
    from tests.harness.sshd import SSHServer

    server = SSHServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def remote_sshd():
    """An sshd whose /srv is its own (an empty tmpfs in its mount namespace): another machine."""
    from tests.harness.sshd import SSHServer

    server = SSHServer(private_dir="/srv")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # A browser test that failed leaves a screenshot of each of its pages (chromium_pages).
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED_CALL] = True
    return report


_FAILED_CALL = pytest.StashKey[bool]()


@pytest.fixture
def chromium_pages(browser, request):
    """``chromium_pages()``: a page in a fresh context (1280×800, an empty profile: one user
    each); the test fails on any console error, uncaught exception or Content-Security-Policy
    violation in any of them (tests/browserkit.py). A failed test leaves screenshots of its
    pages under test-artifacts/screenshots/failed/."""
    from tests.browserkit import TIMEOUT_MS, VIEWPORT, PageProblems, screenshot

    opened = []

    def open_page():
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        opened.append((context, PageProblems(context)))
        return context.new_page()

    yield open_page
    if request.node.stash.get(_FAILED_CALL, False):
        for number, (context, _) in enumerate(opened):
            for page in context.pages:
                screenshot(page, f"failed/{request.node.name}-{number}")
    for context, _ in opened:
        context.close()
    for _, problems in opened:
        problems.assert_none()


@pytest.fixture
def chromium_page(chromium_pages):
    return chromium_pages()


# --- processes that share the test database --------------------------------------------


def _database_url_of(settings_dict: dict) -> str:
    return (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD']}@"
        f"{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )


@pytest.fixture
def subprocess_env(transactional_db):
    """Environment for a child process (manage.py, qcluster) that uses the test database.

    Needs a transactional test: the child only sees what is committed.
    """
    from django.db import connection

    return {**os.environ, "DATABASE_URL": _database_url_of(connection.settings_dict)}


@pytest.fixture
def manage(subprocess_env):
    """Run ``manage.py`` in a child process against the test database."""

    def run(*args: str, env: dict | None = None, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env={**subprocess_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            **kwargs,
        )

    return run


@pytest.fixture
def qcluster(subprocess_env, tmp_path):
    """Start real django-q2 workers on the test database; stopped (or killed) at the end."""
    from tests.harness.qcluster import QCluster

    started = []

    def start(**env) -> QCluster:
        cluster = QCluster({**subprocess_env, **env}, tmp_path / f"qcluster-{len(started)}.log").start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def receiver():
    """A local HTTP server that records what notifications and pings send it."""
    from tests.notifykit import Receiver

    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _browser_servers(django_db_setup, tmp_path_factory):
    """The browser tests' server pair, started by ``borgui_server``. It needs the test
    database, so it is stopped before the database is dropped."""
    from tests.browserkit import ServerPair

    servers = ServerPair(tmp_path_factory.mktemp("browser-servers"))
    yield servers
    servers.stop()


@pytest.fixture
def borgui_server(_browser_servers, subprocess_env, dockerd):
    """gunicorn and a qcluster on the test database, shared by the browser tests of this
    worker (tests/browserkit.py); hooks reach the suite's dockerd."""
    if not _browser_servers.running:
        _browser_servers.start({**subprocess_env, "DOCKER_HOST": dockerd.host})
    yield _browser_servers
    dockerd.remove_all_containers()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # The servers stop when the next test is not a browser test (after this one's pages
    # closed), so no other test meets a worker it did not start.
    from tests.browserkit import FIXTURE

    yield
    if FIXTURE in item.fixturenames and (nextitem is None or FIXTURE not in nextitem.fixturenames):
        servers = item.funcargs.get("_browser_servers")
        if servers is not None:
            servers.stop()


# --- named users: an admin, a staff member with few rights, an outsider -----------------


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORDS["admin"])


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.com", PASSWORDS["staff"], is_staff=True)


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("outsider", "outsider@example.com", PASSWORDS["outsider"])


@pytest.fixture
def role_user(django_user_model):
    """``role_user("operator")``: a staff member whose only rights come from that role's group."""
    from django.contrib.auth.models import Group

    def make(role: str):
        username = ROLE_USERNAMES[role]
        user = django_user_model.objects.create_user(username, f"{username}@example.com", PASSWORDS[username])
        user.is_staff = True
        user.save()
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def admin_login(live_server, page):
    """Log a user in through the admin's login form, as a person would."""

    def login(user) -> None:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORDS[user.username])
        page.click("input[type=submit]")

    return login


@pytest.fixture
def socket_proxy(dockerd):
    """haproxy on loopback in front of the suite's dockerd: ``socket_proxy({"CONTAINERS": 1})``
    is a restricted proxy with docker-socket-proxy's rules, ``socket_proxy(mode="tcp")`` a
    plain TCP forwarder. Its ``host`` is the ``tcp://`` DOCKER_HOST to use."""
    from tests.harness.socket_proxy import SocketProxy

    started = []

    def start(variables: dict | None = None, mode: str = "http") -> SocketProxy:
        proxy = SocketProxy(dockerd.socket, variables, mode).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
