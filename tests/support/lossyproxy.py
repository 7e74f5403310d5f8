"""A loopback HTTP proxy in front of a real server (Azurite) that forwards every request and, for
the first request ``lose`` picks, lets the server act on it but loses its answer (the connection is
reset before a byte of it): a commit that succeeded while its response was lost on the network,
which no real server can be made to do on cue. Every forwarded request is recorded with the
status the server answered."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from faultserver import end_connections

# Headers that belong to one connection, not to the message (RFC 9110, section 7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class LossyProxy:
    def __init__(self, upstream: str, lose: Callable[[str, str], bool]) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.lose = lose
        self.lost = 0
        self.answered: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LossyProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        with self._lock:
            open_now = list(self._connections)
        end_connections(open_now)
        self._server.server_close()  # joins the connection threads
        self._thread.join()

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def to_lose(self, method: str, path: str) -> bool:
        with self._lock:
            if self.lost == 0 and self.lose(method, path):
                self.lost += 1
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    proxy: LossyProxy
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.proxy.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.proxy.track(self.connection, False)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        with self.proxy._lock:
            self.proxy.answered.append((self.command, self.path, answer.status))
        if self.proxy.to_lose(self.command, self.path):
            # The server has acted; the client hears a reset instead of its answer.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(answer.status, answer.reason)
        for k, v in answer.getheaders():
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward
