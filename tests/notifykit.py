"""A local HTTP receiver standing in for every notification service and ping endpoint
(Apprise's json:// and plain HTTP), on 127.0.0.1 and a free port."""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from notifications.models import Channel
from tests.harness.net import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    at: float  # time.monotonic()
    wall: float  # time.time(), to compare with times stored in the database

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Receiver:
    def __init__(self, status: int = 200):
        self.status = status
        self.port = free_port()
        self.received: list[Received] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.received.append(
                        Received(self.command, self.path, dict(self.headers), body, time.monotonic(), time.time())
                    )
                    receiver._lock.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"received {len(self.received)} of {count} requests in {timeout:.0f}s")
                self._lock.wait(left)
            return list(self.received)


def json_channel(receiver: Receiver, name: str = "ops", events=("success", "failure"), **fields) -> Channel:
    return Channel.objects.create(name=name, url=receiver.url("/notify", scheme="json"), events=list(events), **fields)


def closed_port_url(scheme: str = "json") -> str:
    return f"{scheme}://127.0.0.1:{free_port()}/notify"


FAST_RETRIES = {"BORGUI_NOTIFY_RETRY_SECONDS": "0"}  # a worker's environment: no wait between tries
