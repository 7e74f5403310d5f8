"""A scriptable loopback HTTP/1.1 server that answers S3-style GET / HEAD / PUT / DELETE requests and
multi-object deletes (``POST ?delete``).

It is the only fake in the tests, and only for faults a real server cannot be made to produce on cue:
a storm of 5xx or 429 answers, a connection reset, a response slower than the client's timeout, a
body cut short. Each request takes the next behaviour of the script; once the script is used up,
``default`` answers. ``Serve()`` answers like a real S3 server would (ETag, Last-Modified, Range,
If-Match). Every request is recorded in ``requests``.

    with FaultServer() as server:
        server.objects["/bucket/k"] = b"data"
        server.script(Status(503), Reset(), CutShort(2))
        ...  # s3_at(server.endpoint, ...) aims a store at it
        assert [r.range for r in server.requests] == [...]
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = [
    "Behaviour",
    "Canned",
    "CutShort",
    "FaultServer",
    "end_connections",
    "Hold",
    "Request",
    "Reset",
    "Serve",
    "Stall",
    "Status",
    "e_tag_of",
    "paths",
]

LAST_MODIFIED = "Tue, 01 Apr 2025 12:00:00 GMT"
HOLD_GUARD = (
    30.0  # seconds a Hold waits for release() at most: a forgotten release fails, not hangs
)


@dataclass(frozen=True)
class Serve:
    """Answer correctly: the object's bytes (or the asked range, 206), a stored PUT, a DELETE (204,
    present or not), a multi-object delete; 404 for an absent object."""


@dataclass(frozen=True)
class Status:
    """Answer with this status and an S3-style XML error body, optionally with Retry-After; ``s3_code``
    is the body's ``<Code>`` (by default one that fits the status)."""

    code: int
    retry_after: str | None = None
    s3_code: str | None = None


@dataclass(frozen=True)
class Canned:
    """Answer with exactly this status and body (XML), whatever was asked: an answer a real server
    would never give, to see that the client survives it."""

    code: int
    body: bytes


@dataclass(frozen=True)
class Hold:
    """Answer like ``Serve``, but only once ``FaultServer.release()`` is called: a call that stays
    in flight for as long as a test needs, then completes normally."""


@dataclass(frozen=True)
class Reset:
    """Close the connection with a TCP reset (SO_LINGER 0) before any byte of the response."""


@dataclass(frozen=True)
class Stall:
    """Send nothing for ``seconds`` (cut short when the server stops), then close the connection."""

    seconds: float


@dataclass(frozen=True)
class CutShort:
    """The right status and headers (Content-Length of the whole answer), then only the first
    ``sent`` bytes of the body, then close: with a FIN, or a reset if ``reset``. With
    ``replace_with``, the object is then overwritten (a new ETag), as if by another writer."""

    sent: int
    reset: bool = False
    replace_with: bytes | None = None


Behaviour = Serve | Status | Reset | Stall | CutShort | Hold | Canned


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    if_match: str | None
    body_size: int
    content_sha256: str | None = None  # what a signed S3 request says its body hashes to


def e_tag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` (end exclusive) for a Range header, ``None`` for the whole object, or
    ``"unsatisfiable"``."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # not a form this server knows: answer with the whole object, as S3 does
    first, last = match.group(1), match.group(2)
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        return "unsatisfiable"
    return start, end


class FaultServer:
    """Threaded, on an ephemeral loopback port; ``close()`` (or leaving the ``with`` block) stops it,
    ends every connection and joins every thread."""

    def __init__(self, default: Behaviour = Serve()) -> None:
        self.default: Behaviour = default
        self.objects: dict[str, bytes] = {}
        self._script: deque[Behaviour] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._released = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, *behaviours: Behaviour) -> None:
        """Appends behaviours for the next requests, one each, in order."""
        with self._lock:
            self._script.extend(behaviours)

    def release(self) -> None:
        """Lets every ``Hold`` answer go, now and from now on."""
        self._released.set()

    def storm(self, behaviour: Behaviour, times: int) -> None:
        self.script(*([behaviour] * times))

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def unused(self) -> int:
        """How many scripted behaviours no request has taken yet."""
        with self._lock:
            return len(self._script)

    def close(self) -> None:
        self._stopping.set()
        self._released.set()
        self._httpd.shutdown()
        with self._lock:
            open_now = list(self._connections)
        end_connections(open_now)
        self._httpd.server_close()  # joins the connection threads
        self._thread.join()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Called from the connection threads.

    def _take(self, request: Request) -> Behaviour:
        with self._lock:
            self._requests.append(request)
            return self._script.popleft() if self._script else self.default

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if not alive:
                self._connections.discard(conn)
            elif not self._stopping.is_set():
                self._connections.add(conn)
                return
        if alive:  # accepted while close() was ending the others: end it too
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def end_connections(connections: Iterable[socket.socket]) -> None:
    """Shuts down a server's open connections: idle keep-alive ones would otherwise keep their
    threads, and their sockets, past the server's close."""
    for conn in connections:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins them
    block_on_close = True
    # socketserver's 5 makes a burst of new connections wait a second each for a SYN resent.
    request_queue_size = 128

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 30  # a hang guard: an idle connection is dropped after this long

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        request = Request(
            self.command,
            path,
            self.headers.get("Range"),
            self.headers.get("If-Match"),
            len(body),
            self.headers.get("x-amz-content-sha256"),
        )
        behaviour = owner._take(request)
        if isinstance(behaviour, Hold):
            owner._released.wait(HOLD_GUARD)
        try:
            if isinstance(behaviour, Status):
                self._status(behaviour)
            elif isinstance(behaviour, Canned):
                self._send(behaviour.code, {"Content-Type": "application/xml"}, behaviour.body)
            elif isinstance(behaviour, Reset):
                self._reset()
            elif isinstance(behaviour, Stall):
                owner._stopping.wait(behaviour.seconds)
                self.close_connection = True
            elif isinstance(behaviour, CutShort):
                self._cut_short(path, behaviour)
            elif self.command == "PUT":
                with owner._lock:
                    owner.objects[path] = body
                self._send(200, {"ETag": e_tag_of(body)}, b"")
            elif self.command == "DELETE":
                with owner._lock:
                    owner.objects.pop(path, None)
                self._send(204, {}, b"")
            elif self.command == "POST":
                self._delete_many(path, body)
            else:
                self._serve(path)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped reading (it had the bytes it wanted, or gave up): not a fault here.
            self.close_connection = True

    def _object(self, path: str) -> bytes | None:
        with self.server.owner._lock:
            return self.server.owner.objects.get(path)

    def _response(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """What a real S3 server would answer: status, headers, body."""
        data = self._object(path)
        if data is None:
            return _error(404, "NoSuchKey")
        e_tag = e_tag_of(data)
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match not in ("*", e_tag):
            return _error(412, "PreconditionFailed")
        headers = {"ETag": e_tag, "Last-Modified": LAST_MODIFIED, "Accept-Ranges": "bytes"}
        wanted = _byte_range(self.headers.get("Range"), len(data))
        if wanted == "unsatisfiable":
            status, headers, body = _error(416, "InvalidRange")
            return status, {**headers, "Content-Range": f"bytes */{len(data)}"}, body
        if isinstance(wanted, tuple):
            start, end = wanted
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
            return 206, headers, data[start:end]
        return 200, headers, data

    def _serve(self, path: str) -> None:
        status, headers, body = self._response(path)
        self._send(status, headers, body)

    def _send(
        self, status: int, headers: dict[str, str], body: bytes, sent: int | None = None
    ) -> None:
        """Headers for the whole ``body``, then its first ``sent`` bytes (all by default)."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body if sent is None else body[:sent])

    def _status(self, status: Status) -> None:
        code = status.code
        s3_code = status.s3_code or ("SlowDown" if code in (429, 503) else "InternalError")
        _, headers, body = _error(code, s3_code)
        if status.retry_after is not None:
            headers["Retry-After"] = status.retry_after
        self._send(code, headers, body)

    def _delete_many(self, bucket: str, body: bytes) -> None:
        """S3's DeleteObjects: every listed key is deleted (present or not) and reported so."""
        keys = [html.unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", body.decode())]
        with self.server.owner._lock:
            for key in keys:
                self.server.owner.objects.pop(f"{bucket}/{key}", None)
        deleted = "".join(f"<Deleted><Key>{html.escape(key)}</Key></Deleted>" for key in keys)
        answer = f'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult>{deleted}</DeleteResult>'
        self._send(200, {"Content-Type": "application/xml"}, answer.encode())

    def _cut_short(self, path: str, cut: CutShort) -> None:
        status, headers, body = self._response(path)
        self._send(status, headers, body, sent=min(cut.sent, max(0, len(body) - 1)))
        if cut.replace_with is not None:
            with self.server.owner._lock:
                self.server.owner.objects[path] = cut.replace_with
        if cut.reset:
            self._reset()
        else:
            self.close_connection = True

    def _reset(self) -> None:
        """An RST instead of a FIN: SO_LINGER with a zero timeout, then close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.rfile.close()  # drops the makefile's hold on the socket, so close() is the real one
        self.connection.close()


def _error(code: int, s3_code: str) -> tuple[int, dict[str, str], bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{s3_code}</Code>'
        f"<Message>injected by the fault server</Message></Error>"
    ).encode()
    return code, {"Content-Type": "application/xml"}, body


def paths(requests: Iterable[Request]) -> list[tuple[str, str, str | None]]:
    """``(method, path, range)`` of each request: the shape most assertions need."""
    return [(r.method, r.path, r.range) for r in requests]
