"""Where a read's bytes go: one family of destinations. A read that knows its size puts pieces at
offsets (``put``), possibly into arena memory the destination lends (``region_for``); a reader
hands pieces over in order (``take``), where a destination may stop early (a line) or keep views
of the reader's blocks until the read ends (``keeps_views``, ``harden``, ``finish``).
"""

from __future__ import annotations

import io
import re
from concurrent.futures import Future
from typing import Any

from rustyobjectstore._errors import BufferTooSmallError
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Connection


def writable_view(buffer: Any) -> memoryview:
    view = memoryview(buffer)
    if view.readonly:
        raise TypeError(f"the buffer ({type(buffer).__name__}) is read-only")
    if not view.c_contiguous:
        raise TypeError("the buffer must be C-contiguous")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def readable_view(data: Any) -> memoryview:
    view = memoryview(data)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


class Destination:
    """Where a read's bytes go. A read that knows the object's size calls ``open`` first (which may
    refuse the size), then ``put``s pieces at offsets from the start, into arena memory that
    ``region_for`` lends where it can; a reader ``take``s pieces in order instead."""

    keeps_views = False  # holds the pieces (views of a reader's held blocks) until the read ends
    full = False  # wants no more: a line that has found its newline
    open_ended = False  # where it will be full is not known: a line's end
    at = 0  # where the next piece taken in order goes

    def open(self, size: int) -> None:
        pass

    def put(self, at: int, data: memoryview) -> None:
        raise NotImplementedError

    def take(self, piece: memoryview) -> int:
        """The next piece in order; returns how much of it was used."""
        self.put(self.at, piece)
        self.at += len(piece)
        return len(piece)

    def region_for(self, at: int, length: int) -> Region | None:
        return None

    def abandon(self, unfinished: list[Future[Message]]) -> None:
        """The read stopped early with these requests, which write into memory ``region_for`` lent,
        still in flight: that memory must stay reserved until they resolve."""

    def harden(self) -> None:
        """Copies any pieces it keeps, so that the blocks they view can be let go."""

    def finish(self) -> None:
        """The read is over: the pieces it keeps are used now, while their blocks are held."""


class IntoBuffer(Destination):
    def __init__(self, view: memoryview, path: str) -> None:
        self.view = view
        self.path = path

    def open(self, size: int) -> None:
        if size > len(self.view):
            raise BufferTooSmallError(
                f"the object has {size} bytes but the buffer holds only {len(self.view)}",
                op="get", path=self.path, object_size=size,
            )  # fmt: skip

    def put(self, at: int, data: memoryview) -> None:
        self.view[at : at + len(data)] = data


class NewBytes:
    """``size`` new bytes, written in place through ``view``, then handed over as ``bytes``
    without another copy. A ``BytesIO``'s buffer is a bytes object, which ``getvalue`` returns as
    it is once no view of it is left (CPython does; elsewhere it copies, which is still right):
    a big read's bytes are copied once, where a ``bytearray`` made into ``bytes`` copied them twice
    (at a cloud's bandwidth, the second copy was a third of a 256 MiB get)."""

    def __init__(self, size: int) -> None:
        self._file = io.BytesIO()
        if size:
            self._file.seek(size - 1)
            self._file.write(b"\0")
        self.view = self._file.getbuffer()

    def value(self, length: int) -> bytes:
        """The first ``length`` bytes; the view is released."""
        self.view.release()
        self._file.truncate(length)
        return self._file.getvalue()


class IntoBytes(Destination):
    """New bytes; an object that arrives in one piece is copied once, and so is one in parts."""

    def __init__(self) -> None:
        self.size = 0
        self.whole: bytes | None = None
        self.buffer: NewBytes | None = None

    def open(self, size: int) -> None:
        self.size = size

    def put(self, at: int, data: memoryview) -> None:
        if at == 0 and len(data) == self.size:
            self.whole = bytes(data)
            return
        if self.buffer is None:
            self.buffer = NewBytes(self.size)
        self.buffer.view[at : at + len(data)] = data

    def result(self) -> bytes:
        if self.whole is not None:
            return self.whole
        return self.buffer.value(self.size) if self.buffer is not None else b""


class IntoRegion(Destination):
    """Straight into one arena region: ranged gets are lent slices of it, so nothing is copied."""

    def __init__(self, conn: Connection, region: Region) -> None:
        self.conn = conn
        self.region = region
        self.unfinished: list[Future[Message]] = []

    def put(self, at: int, data: memoryview) -> None:
        view = self.conn.arena.read(self.region, self.region[1])
        try:
            view[at : at + len(data)] = data
        finally:
            view.release()

    def region_for(self, at: int, length: int) -> Region:
        return (self.region[0] + at, length)

    def abandon(self, unfinished: list[Future[Message]]) -> None:
        self.unfinished = unfinished


NEWLINE = re.compile(b"\n")  # searches a memoryview where it is, which bytes.find cannot


class Collect(Destination):
    """The bytes read, as one ``bytes``, copied once: a read of ``size`` bytes that comes in
    several pieces is copied into its bytes as they come; else the pieces are kept (as views while
    the read's blocks stay held) and joined at the end. With ``line``, up to and including the
    first newline."""

    keeps_views = True

    def __init__(self, size: int | None = None, line: bool = False) -> None:
        self.size = size
        self.line = self.open_ended = line
        self.pieces: list[bytes | memoryview] = []
        self.into: NewBytes | None = None
        self.data = b""

    def take(self, piece: memoryview) -> int:
        if self.line:
            found = NEWLINE.search(piece)
            if found is not None:
                piece = piece[: found.end()]
                self.full = True
        elif self.size is not None and (self.into is not None or len(piece) < self.size):
            if self.into is None:
                self.into = NewBytes(self.size)
            self.into.view[self.at : self.at + len(piece)] = piece
            self.at += len(piece)
            return len(piece)
        self.pieces.append(piece)
        return len(piece)

    def harden(self) -> None:
        self.pieces = [bytes(piece) for piece in self.pieces]  # bytes(bytes) is the same object

    def finish(self) -> None:
        if self.into is not None:
            self.data = self.into.value(self.at)
            return
        pieces, self.pieces = self.pieces, []
        self.data = bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)
