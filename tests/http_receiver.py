"""A tiny real HTTP receiver on a loopback port, for what escrow POSTs to platforms (issue 19): webhooks
and back-channel logout tokens. It records each request's path, headers and exact body bytes, and
answers with the statuses it is given in turn (the last one repeats): [500, 200] fails once, then
accepts."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    statuses: list[int]
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Returns the first ``count`` requests once they arrived. Raises AssertionError on timeout."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout):
                raise AssertionError(f"the receiver got {len(self.requests)} request(s), expected {count}")
            return list(self.requests[:count])


@contextmanager
def http_receiver(statuses: Sequence[int] = (200,), path: str = "/hook") -> Iterator[Receiver]:
    """Starts a receiver on 127.0.0.1 (a free port); yields it, then stops it."""
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            receiver = state[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.arrived:
                index = len(receiver.requests)
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                receiver.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.append(Receiver(f"http://127.0.0.1:{server.server_port}{path}", list(statuses)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
