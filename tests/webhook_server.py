"""A real HTTP server on 127.0.0.1 for the alert webhook tests: it records every request and
answers what the test tells it (fail the next N requests, then succeed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int  # what the server answered


class WebhookServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._failures: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with server._lock:
                    status = server._failures.pop(0) if server._failures else 200
                    server.requests.append(
                        Received(self.path, dict(self.headers.items()), json.loads(raw), status)
                    )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"try later")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test reads .requests

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (then 200 again)."""
        with self._lock:
            self._failures.extend(statuses)

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.status < 300]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
