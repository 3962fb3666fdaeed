"""The one place borgui talks to the Docker Engine API (docs/docker-hooks.md#system-check).

Docker is found the way the docker CLI finds it: ``DOCKER_HOST`` (``unix://…`` or
``tcp://docker-socket-proxy:2375``), else the default socket. Every call has a short
timeout (a stop waits for its own grace period on top), so a dead or hung daemon never
holds a page or a run. Whatever goes wrong becomes a ``DockerError`` with a one-line,
readable message: no socket, permission denied, nothing listening, a socket proxy's 403.

``probe_sections`` finds out which API sections hooks can use with harmless requests
against a container name that cannot exist (Docker names start with a letter or digit,
the probe's with ``_``): 404 means the request reached the daemon, 403 that a socket
proxy refused it.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 5.0
# Never a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+), still matched by the proxy's
# ``/containers/[a-zA-Z0-9_.-]+/start`` rules.
PROBE_NAME = "_borgui-probe-no-such-container"

# The API sections hooks use, in report order, and what each needs on a Tecnativa-style
# socket proxy (docker-socket-proxy 0.4.x rules).
LIST, START, STOP, RESTART, EXEC = "list/inspect", "start", "stop", "restart", "exec"
API_SECTIONS = (LIST, START, STOP, RESTART, EXEC)
PROXY_VARIABLES = {
    LIST: ("CONTAINERS",),
    START: ("POST", "ALLOW_START"),
    STOP: ("POST", "ALLOW_STOP"),
    RESTART: ("POST", "ALLOW_RESTARTS"),
    EXEC: ("CONTAINERS", "POST", "EXEC"),
}
VARIABLE_ORDER = ("CONTAINERS", "POST", "ALLOW_START", "ALLOW_STOP", "ALLOW_RESTARTS", "EXEC")
CONTAINER_NAME = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")
LABEL_SELECTOR = re.compile(r"\Alabel:(?P<key>[A-Za-z0-9][A-Za-z0-9._/-]*)=(?P<value>[^\s=,][^\s,]*)\Z")
SELECTOR_HELP = "a container name, or label:KEY=VALUE (e.g. label:borgui.stop-during-backup=true)"


def selector_problem(selector) -> str | None:
    """Why a plan's ``stop_containers`` entry is not valid, or None."""
    if not isinstance(selector, str):
        return f"{selector!r}: use {SELECTOR_HELP}"
    if selector.startswith("label:"):
        if LABEL_SELECTOR.match(selector):
            return None
        return f"{selector!r}: a label selector is label:KEY=VALUE (no spaces or commas)"
    if CONTAINER_NAME.match(selector):
        return None
    return f"{selector!r}: not a container name (letters, digits, '_', '.', '-'); use {SELECTOR_HELP}"


def selector_label(selector: str) -> str | None:
    """``label:KEY=VALUE`` → ``KEY=VALUE``; None for a name."""
    match = LABEL_SELECTOR.match(selector)
    return f"{match['key']}={match['value']}" if match else None


def enable_text(variables) -> str:
    """``("POST", "ALLOW_STOP")`` → ``"POST=1 and ALLOW_STOP=1"``."""
    names = [f"{name}=1" for name in VARIABLE_ORDER if name in set(variables)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def proxy_settings(variables) -> str:
    """``{"POST", "CONTAINERS"}`` → ``"CONTAINERS=1 POST=1"`` (in the documented order)."""
    return " ".join(f"{name}=1" for name in VARIABLE_ORDER if name in set(variables))


class DockerError(Exception):
    """A Docker call that did not work, as one line for a person to read."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def denied(self) -> bool:
        return self.status == 403

    @property
    def not_found(self) -> bool:
        return self.status == 404


def docker_host(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("DOCKER_HOST") or DEFAULT_HOST


def describe_host(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    if environ.get("DOCKER_HOST"):
        return f"DOCKER_HOST={environ['DOCKER_HOST']}"
    return f"{DEFAULT_HOST} (the default socket; DOCKER_HOST is not set)"


def _timeout() -> float:
    from django.conf import settings

    return float(getattr(settings, "BORGUI_DOCKER_TIMEOUT", DEFAULT_TIMEOUT))


def _causes(exc: BaseException):
    """The exception, its causes and the exceptions wrapped in its args (requests/urllib3 nest them)."""
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args):
            if isinstance(inner, BaseException):
                todo.append(inner)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def explain(exc: BaseException, host: str) -> DockerError:
    """Turn whatever docker/requests raised into one readable line."""
    # Imported here, not at the top: the run steps load this module in every command.
    from requests import exceptions as requests_errors

    from docker import errors as docker_errors

    if isinstance(exc, DockerError):
        return exc
    # The API version request at connect wraps its error in a plain DockerException.
    api_error = next((c for c in _causes(exc) if isinstance(c, docker_errors.APIError)), None)
    if api_error is not None and api_error.response is not None:
        exc = api_error
        status = exc.response.status_code
        explanation = _first_line(exc.explanation or "")
        if status == 403:
            return DockerError(f"denied by the Docker socket proxy at {host} (HTTP 403)", status)
        if status == 404:
            return DockerError(explanation or "not found", status)
        return DockerError(f"Docker at {host} answered HTTP {status}: {explanation or exc.response.reason}", status)
    path = host.removeprefix("unix://")
    for cause in _causes(exc):
        if isinstance(cause, FileNotFoundError):
            return DockerError(f"no Docker socket at {path} (mount the socket or set DOCKER_HOST)")
        if isinstance(cause, PermissionError):
            return DockerError(f"permission denied on {path} (this user is not in the socket's group)")
        if isinstance(cause, ConnectionRefusedError):
            return DockerError(f"nothing answers at {host} (connection refused: is the daemon or proxy running?)")
        if isinstance(cause, requests_errors.Timeout | TimeoutError):
            return DockerError(f"Docker at {host} did not answer within {_timeout():g}s")
        if type(cause).__name__ == "NameResolutionError" or "Name or service not known" in str(cause):
            return DockerError(f"cannot resolve the host of {host}")
    if isinstance(exc, docker_errors.TLSParameterError):
        return DockerError(f"TLS settings for {host}: {_first_line(str(exc))}")
    message = _first_line(str(exc)).removeprefix("Error while fetching server API version: ")
    return DockerError(f"Docker at {host}: {message or type(exc).__name__}")


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    running: bool


@dataclass(frozen=True)
class Probe:
    section: str
    allowed: bool
    detail: str
    passed: tuple[str, ...] = ()  # probe requests that reached the daemon (404)
    denied: tuple[str, ...] = ()  # probe requests a socket proxy refused (403)


class Docker:
    """A connected client; use as a context manager (closes its connection pool)."""

    def __init__(self, client, host: str):
        self.client = client
        self.api = client.api
        self.host = host

    @classmethod
    def connect(cls, timeout: float | None = None, environ: Mapping[str, str] | None = None) -> "Docker":
        """Connect as the CLI would (raises DockerError; asks the daemon for its API version)."""
        import docker

        environ = os.environ if environ is None else environ
        host = docker_host(environ)
        try:
            client = docker.DockerClient.from_env(
                timeout=timeout or _timeout(), environment=dict(environ), version="auto"
            )
        except Exception as e:  # any failure to connect is a readable line, never a traceback
            error = explain(e, host)
            if error.denied:  # the first request asks for the daemon's API version
                raise DockerError(f"{error}: enable VERSION=1 on the proxy", error.status) from e
            raise error from e
        return cls(client, host)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a broken connection pool is nothing to report
            pass

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # see explain: every error becomes one line
            raise explain(e, self.host) from e

    # --- what the daemon is -----------------------------------------------------------

    def version(self) -> str:
        info = self._call(self.api.version)
        return f"Docker Engine {info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

    # --- containers -------------------------------------------------------------------

    def container(self, name_or_id: str) -> Container | None:
        """The container, or None when there is none by that name or id."""
        try:
            info = self._call(self.api.inspect_container, name_or_id)
        except DockerError as e:
            if e.not_found:
                return None
            raise
        return Container(info["Id"], info["Name"].lstrip("/"), bool(info["State"].get("Running")))

    def with_label(self, label: str) -> list[Container]:
        """Containers (running or not) carrying ``KEY=VALUE``, by name."""
        found = self._call(self.api.containers, all=True, filters={"label": label})
        containers = [
            Container(c["Id"], (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/"), c.get("State") == "running")
            for c in found
        ]
        return sorted(containers, key=lambda c: c.name)

    def stop(self, container_id: str, timeout: int) -> None:
        """``docker stop -t TIMEOUT``: SIGTERM, SIGKILL after ``timeout`` seconds."""
        self._call(self.api.stop, container_id, timeout=timeout)

    def start(self, container_id: str) -> None:
        self._call(self.api.start, container_id)

    # --- which API sections are open ----------------------------------------------------

    def probe_sections(self) -> dict[str, Probe]:
        """Harmless requests, one (or two) per section; 404 = allowed, 403 = denied."""
        api = self.api
        requests = {
            LIST: [("list", api.containers, (), {"limit": 1})],
            START: [("start", api.start, (PROBE_NAME,), {})],
            STOP: [("stop", api.stop, (PROBE_NAME,), {"timeout": 0})],
            RESTART: [("restart", api.restart, (PROBE_NAME,), {"timeout": 0})],
            EXEC: [
                ("exec-create", api.exec_create, (PROBE_NAME, ["true"]), {}),
                ("exec-start", api.exec_start, (PROBE_NAME,), {"detach": True}),
            ],
        }
        probes = {}
        for section, calls in requests.items():
            passed, denied, problems = [], [], []
            for kind, fn, args, kwargs in calls:
                try:
                    self._call(fn, *args, **kwargs)
                    passed.append(kind)  # only listing succeeds: the others name no container
                except DockerError as e:
                    if e.denied:
                        denied.append(kind)
                    elif e.not_found:
                        passed.append(kind)
                    else:
                        problems.append(str(e))
            if denied:
                detail = "denied by the socket proxy (403)"
            elif problems:
                detail = problems[0]
            else:
                detail = "allowed"
            probes[section] = Probe(section, not denied and not problems, detail, tuple(passed), tuple(denied))
        return probes


_POST_PROBES = {"start", "stop", "restart", "exec-create", "exec-start"}


def missing_proxy_variables(probes: dict[str, Probe]) -> dict[str, tuple[str, ...]]:
    """For each section a proxy denied, the variables to enable, minus those evidently on.

    On the Tecnativa proxy every POST is refused unless POST=1; then ALLOW_START /
    ALLOW_STOP / ALLOW_RESTARTS open their endpoint, CONTAINERS=1 opens all of
    ``/containers`` (``POST /containers/ID/exec`` included), and EXEC=1 opens
    ``POST /exec/ID/start``. CONTAINERS is evidently on when listing got through, POST when
    any POST probe did.
    """
    passed = {kind for probe in probes.values() for kind in probe.passed}
    containers_on = bool(passed & {"list", "exec-create"})
    post_on = bool(passed & _POST_PROBES)
    missing = {}
    for section, probe in probes.items():
        if not probe.denied:
            continue
        needed = set()
        for kind in probe.denied:
            if kind == "list":
                needed.add("CONTAINERS")
            elif kind == "exec-create":
                needed |= {"CONTAINERS", "POST"} - ({"CONTAINERS"} if containers_on else set())
            elif kind == "exec-start":
                needed.add("EXEC")
            else:
                needed.add(PROXY_VARIABLES[section][-1])
            if kind in _POST_PROBES and not post_on:
                needed.add("POST")
        if post_on:
            needed.discard("POST")
        missing[section] = tuple(name for name in VARIABLE_ORDER if name in (needed or set(PROXY_VARIABLES[section])))
    return missing
