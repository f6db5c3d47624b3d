"""A real HTTP webhook receiver for alert tests: records every JSON POST it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    """Where to POST, and what arrived (path, JSON body) in order."""

    url: str
    received: list[tuple[str, dict]] = field(default_factory=list)


@contextmanager
def webhook_receiver(path: str = "/alerts") -> Iterator[Receiver]:
    """An http.server on 127.0.0.1 and a free port, answering 200 to each POST, in a thread."""
    posts: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            length = int(self.headers.get("Content-Length", 0))
            posts.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Quiet: the test asserts on what arrived, not on access lines."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}", posts)
    finally:
        server.shutdown()
        server.server_close()
