"""The browser suite's kit (README.md#browser-tests): borgui as it is deployed — gunicorn
serving the admin and its static files, a `manage.py qcluster` worker, both on the test
database — driven by Debian's Chromium through Playwright.

One server pair serves all the browser tests of a pytest worker (they share the xdist
group ``browser``, so they run one after the other on one worker); it is started by the
first of them and stopped as soon as the next test is not a browser test, so no other
test ever shares the database with a worker it did not start. Every page a test opens
is watched: a console error, an uncaught exception or a Content-Security-Policy violation
fails the test. Screenshots go to ``$BORGUI_TEST_ARTIFACTS/screenshots`` (default
``test-artifacts/`` in the clone), which `.ci/run` keeps and names at its end.
"""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.harness.net import free_port, wait_for
from tests.harness.processes import terminate
from tests.harness.qcluster import QCluster

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("BORGUI_TEST_ARTIFACTS") or ROOT / "test-artifacts")
SCREENSHOTS = ARTIFACTS / "screenshots"
GROUP = "browser"  # the xdist group of every browser test: one server pair per worker
FIXTURE = "borgui_server"  # the fixture a browser test asks for
VIEWPORT = {"width": 1280, "height": 800}
# Long enough for a worker that starts borg on two busy cores; Playwright polls meanwhile.
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)

# Installed in every page before its own scripts: a blocked script, style or request
# (the admin's Content-Security-Policy) is reported to the test through a binding.
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.borguiReport(`CSP ${event.effectiveDirective} blocked ${event.blockedURI || "inline code"}`
    + ` (${event.sourceFile || document.location.href}:${event.lineNumber})`);
});
"""


class ServerPair:
    """gunicorn (``docker/entrypoint.sh web``'s options, one worker) and a qcluster."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.gunicorn: subprocess.Popen | None = None
        self.qcluster: QCluster | None = None
        self.url = ""

    @property
    def running(self) -> bool:
        return self.gunicorn is not None and self.gunicorn.poll() is None

    def start(self, env: dict) -> "ServerPair":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.gunicorn = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "tests.harness.gunicorn_app:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread", "--threads", "8",
                "--timeout", "60", "--access-logfile", "-",
            ],
            env=env, cwd=ROOT, stdout=open(self.log_dir / "gunicorn.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.qcluster = QCluster(env, self.log_dir / "qcluster.log").start()
        wait_for(lambda: self._answers() or self.gunicorn.poll() is not None, 60, "gunicorn to answer /healthz")
        assert self.gunicorn.poll() is None, self.log("gunicorn")
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM to each server (each stops its own workers), then SIGKILL to whatever is
        left of its process group (a borg or hook the worker had started)."""
        for process in (self.gunicorn, self.qcluster and self.qcluster.process):
            if process is None:
                continue
            terminate(process, 30)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.gunicorn = self.qcluster = None

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class PageProblems:
    """What went wrong in the pages of one browser context, as a person with the console
    open would see it: console errors, uncaught exceptions, CSP violations."""

    def __init__(self, context):
        self.found: list[str] = []
        context.expose_binding("borguiReport", lambda source, text: self._add(source["page"], text))
        context.add_init_script(CSP_WATCH)
        context.on("page", self.watch)

    def watch(self, page: Page) -> None:
        page.on("console", lambda message: message.type == "error" and self._add(page, _console_line(message)))
        page.on("pageerror", lambda error: self._add(page, f"uncaught: {error}"))

    def _add(self, page: Page, text: str) -> None:
        self.found.append(f"{page.url}: {text}")

    def assert_none(self) -> None:
        assert not self.found, "the pages reported problems:\n" + "\n".join(self.found)


def _console_line(message) -> str:
    where = message.location.get("url")
    return f"console: {message.text}" + (f" ({where})" if where else "")


def log_in(page: Page, server: ServerPair, username: str, password: str) -> None:
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def expect_message(page: Page, text: str) -> None:
    """The admin's message after a form or an action."""
    expect(page.locator("ul.messagelist")).to_contain_text(text)


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG, 1280 px wide, under the artifacts folder (the latest of each name)."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def csrf_token(page: Page) -> str:
    """The CSRF token of the page's session, as a form on it would post it."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "csrftoken")
    return cookie["value"]


def post_as_page(page: Page, url: str, data: dict | None = None) -> int:
    """POST with the page's session and a valid CSRF token, as a hand-made form would; the
    status (no redirect followed)."""
    response = page.request.post(
        url,
        form={"csrfmiddlewaretoken": csrf_token(page), **(data or {})},
        headers={"Referer": page.url},
        max_redirects=0,
    )
    return response.status
