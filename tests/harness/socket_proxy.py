"""Debian haproxy in front of the suite's dockerd, on a free loopback port.

Two shapes:

- ``mode="http"``: a restricted proxy with the rules of Tecnativa's docker-socket-proxy
  (0.4.x): GETs pass, any other method is refused unless POST=1; start / stop / restart
  have their ALLOW_* switches; each API section (``/containers``, ``/exec``, ``/version``…)
  is open only when its variable is 1; everything else is a 403. The variables come from a
  dict and are written into the generated config with ``setenv``.
- ``mode="tcp"``: a plain TCP forwarder to the unix socket, so the daemon is reached through
  a ``tcp://`` DOCKER_HOST exactly as through the socket.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.harness.net import free_port, port_open, wait_for
from tests.harness.processes import terminate

# The image's defaults: only events, ping and version are open.
DEFAULTS = {
    "ALLOW_RESTARTS": 0, "ALLOW_START": 0, "ALLOW_STOP": 0, "AUTH": 0, "BUILD": 0, "COMMIT": 0,
    "CONFIGS": 0, "CONTAINERS": 0, "DISTRIBUTION": 0, "EVENTS": 1, "EXEC": 0, "GRPC": 0,
    "IMAGES": 0, "INFO": 0, "NETWORKS": 0, "NODES": 0, "PING": 1, "PLUGINS": 0, "POST": 0,
    "SECRETS": 0, "SERVICES": 0, "SESSION": 0, "SWARM": 0, "SYSTEM": 0, "TASKS": 0,
    "VERSION": 1, "VOLUMES": 0,
}  # fmt: skip

# Sections with a plain prefix rule, as in the proxy's haproxy.cfg.
_SECTIONS = {
    "auth": "AUTH", "build": "BUILD", "commit": "COMMIT", "configs": "CONFIGS", "containers": "CONTAINERS",
    "distribution": "DISTRIBUTION", "events": "EVENTS", "exec": "EXEC", "grpc": "GRPC", "images": "IMAGES",
    "info": "INFO", "networks": "NETWORKS", "nodes": "NODES", "_ping": "PING", "plugins": "PLUGINS",
    "secrets": "SECRETS", "services": "SERVICES", "session": "SESSION", "swarm": "SWARM", "system": "SYSTEM",
    "tasks": "TASKS", "version": "VERSION", "volumes": "VOLUMES",
}  # fmt: skip
_PREFIX = r"^(/v[\d\.]+)?(/\w+)?"
_CONTAINER = r"/containers/[a-zA-Z0-9_.-]+"


def http_config(socket_path: str, port: int, variables: dict) -> str:
    values = {**DEFAULTS, **variables}
    lines = ["global", "    maxconn 200"]
    lines += [f"    setenv {name} {int(bool(value))}" for name, value in sorted(values.items())]
    lines += [
        "",
        "defaults",
        "    mode http",
        "    option http-server-close",
        "    timeout connect 10s",
        "    timeout client 10m",
        "    timeout server 10m",
        "    timeout tunnel 10m",
        "",
        "backend dockerbackend",
        f"    server dockersocket unix@{socket_path}",
        "",
        "frontend dockerfrontend",
        f"    bind 127.0.0.1:{port}",
        "    http-request deny unless METH_GET || { env(POST) -m bool }",
        rf"    http-request allow if {{ path,url_dec -m reg -i {_PREFIX}{_CONTAINER}/((stop)|(restart)|(kill)) }}"
        " { env(ALLOW_RESTARTS) -m bool }",
        rf"    http-request allow if {{ path,url_dec -m reg -i {_PREFIX}{_CONTAINER}/start }}"
        " { env(ALLOW_START) -m bool }",
        rf"    http-request allow if {{ path,url_dec -m reg -i {_PREFIX}{_CONTAINER}/stop }}"
        " { env(ALLOW_STOP) -m bool }",
    ]
    for section, variable in _SECTIONS.items():
        lines.append(
            f"    http-request allow if {{ path,url_dec -m reg -i {_PREFIX}/{section} }} {{ env({variable}) -m bool }}"
        )
    lines += ["    http-request deny", "    default_backend dockerbackend", ""]
    return "\n".join(lines)


def tcp_config(socket_path: str, port: int) -> str:
    return "\n".join(
        [
            "global",
            "    maxconn 200",
            "",
            "defaults",
            "    mode tcp",
            "    timeout connect 10s",
            "    timeout client 10m",
            "    timeout server 10m",
            "",
            "listen docker",
            f"    bind 127.0.0.1:{port}",
            f"    server dockersocket unix@{socket_path}",
            "",
        ]
    )


class SocketProxy:
    def __init__(self, socket_path: str | Path, variables: dict | None = None, mode: str = "http"):
        self.socket_path = str(socket_path)
        self.variables = dict(variables or {})
        self.mode = mode
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="borgui-haproxy-"))
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> "SocketProxy":
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        config = self.root / "haproxy.cfg"
        if self.mode == "http":
            config.write_text(http_config(self.socket_path, self.port, self.variables))
        else:
            config.write_text(tcp_config(self.socket_path, self.port))
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy config refused: {check.stdout}{check.stderr}\n{config.read_text()}")
        log = open(self.root / "haproxy.log", "wb")
        self.process = subprocess.Popen(
            [haproxy, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

        def listening():
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {(self.root / 'haproxy.log').read_text()[-2000:]}")
            return port_open(self.port)

        wait_for(listening, 15, "haproxy to listen")
        return self

    def stop(self) -> None:
        if self.process:
            terminate(self.process, 10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
