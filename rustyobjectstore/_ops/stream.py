"""Object streams: a readable and a writable file object (and their asyncio twins), with optional
compression done in the worker. The protocol steps are written once and driven by both twins.
"""

from __future__ import annotations

import contextlib
import io
from collections import deque
from concurrent.futures import Future
from typing import Any

from typing_extensions import Buffer

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import ConfigurationError
from rustyobjectstore._ops.attributes import NOTHING, Attached
from rustyobjectstore._ops.calls import Progress, allocate, call, room_for, route
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.sinks import readable_view, writable_view
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Connection, response_field
from rustyobjectstore._worker.finalizers import later
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step, run_async, run_sync

CODECS = ("gzip", "deflate", "zlib", "zstd")
READ_CHUNK = 1024 * 1024


def check_codec(name: str | None) -> str | None:
    if name is not None and name not in CODECS:
        raise ConfigurationError(f"unknown compression {name!r}: use one of {', '.join(CODECS)}")
    return name


class _Stream:
    """One open stream on one worker, and how far it has come."""

    def __init__(self, conn: Connection, stream: int, path: str) -> None:
        self.conn = conn
        self.stream = stream
        self.path = path
        self.closed = False
        self.done = 0
        self.total: int | None = None
        self.progress: Progress | None = None

    def advance(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)

    close_op = ""  # what ends the stream without storing anything: read_close, write_abort

    def discard(self) -> None:
        """Ends the stream without waiting for the answer, for a stream nobody holds any more (see
        ``_worker.finalizers``): the worker takes it after every command already sent on the stream."""
        if self.closed:
            return
        self.closed = True
        if self.conn.alive:
            self.conn.request(codec.stream_op(self.close_op, self.stream), self.close_op, self.path)

    def abandoned(self) -> None:
        """For the finalizer of the file object over the stream: queues ``discard`` if unclosed."""
        if not self.closed:
            later(self.discard)


def open_stream(
    pool: Pool, conf: StoreConfig, path: str, op: str, codec_name: str | None,
    fields: Message | None = None,
) -> Step[tuple[_Stream, Message]]:  # fmt: skip
    """``fields``: a read's conditions, or a write's attributes and tags."""
    conn, store = yield from route(pool, conf, path)
    message = codec.stream_open(op, store, path, codec_name, fields)
    response = yield from call(conn, message, "get" if op == "read_open" else "put", path)
    return _Stream(conn, int(response_field(response, "stream")), path), response


# Reading


class _Reader(_Stream):
    eof = False
    close_op = "read_close"


def read_into(reader: _Reader, view: memoryview) -> Step[int]:
    """Up to ``len(view)`` bytes of the stream into ``view``; 0 at the end."""
    if reader.eof or not view:
        return 0
    conn = reader.conn
    region = yield from allocate(conn.arena, len(view))
    message = codec.stream_chunk("read_next", reader.stream, region)
    response = yield from call(conn, message, "get", reader.path, region)
    try:
        written = int(response_field(response, "written"))
        view[:written] = conn.arena.read(region, written)
    finally:
        conn.arena.release(region)
    reader.eof = bool(response_field(response, "eof"))
    reader.advance(written)
    return written


def close_stream(stream: _Stream, op: str) -> Step[Any]:
    if stream.closed:
        return None
    stream.closed = True
    return (yield from call(stream.conn, codec.stream_op(op, stream.stream), op, stream.path))


class ObjectReader(io.RawIOBase):
    """The raw side of ``get_object_stream``; users get it wrapped in an ``io.BufferedReader``."""

    def __init__(self, reader: _Reader, meta: ObjectMeta) -> None:
        super().__init__()
        self._reader = reader
        self.meta = meta

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        return run_sync(read_into(self._reader, writable_view(buffer)))

    def readall(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            chunk = bytearray(READ_CHUNK)
            n = self.readinto(chunk)
            if n == 0:
                return b"".join(chunks)
            chunks.append(bytes(memoryview(chunk)[:n]))

    def close(self) -> None:
        if not self.closed:
            try:
                if self._reader.conn.alive:
                    run_sync(close_stream(self._reader, "read_close"))
            finally:
                super().close()

    def __del__(self) -> None:
        # Not IOBase's close(), which would wait for the worker inside a finalizer.
        self._reader.abandoned()


class ObjectStreamReader(io.BufferedReader):
    """What ``get_object_stream`` returns: a buffered ``ObjectReader`` that, garbage-collected
    unclosed, lets go of its stream without waiting in the finalizer (IOBase's would close it)."""

    def __del__(self) -> None:
        pass  # the ObjectReader beneath lets go of the stream in its own finalizer

    @property
    def meta(self) -> ObjectMeta:
        """The object's metadata and attributes, as the read's first answer gave them."""
        raw: ObjectReader = self.raw  # type: ignore[assignment]  # get_object_stream made it so
        return raw.meta


def get_stream(
    pool: Pool, conf: StoreConfig, path: str, decompress: str | None, progress: Progress | None,
    when: Conditions = NONE,
) -> Step[tuple[_Reader, ObjectMeta]]:  # fmt: skip
    stream, response = yield from open_stream(
        pool, conf, path, "read_open", decompress, when.first()
    )
    reader = _Reader(stream.conn, stream.stream, path)
    meta = ObjectMeta.from_wire(response_field(response, "meta"))
    # Decompressed, the total is not known in advance.
    reader.total = meta.size if decompress is None else None
    reader.progress = progress
    return reader, meta


class AsyncObjectReader:
    """What ``get_object_stream_async`` returns: ``await read()``, ``await close()``, ``meta``,
    ``async with``: ``async with await get_object_stream_async("a.csv", conf) as f: data = await
    f.read()``."""

    def __init__(self, reader: _Reader, meta: ObjectMeta) -> None:
        self._reader = reader
        self.meta = meta

    async def readinto(self, buffer: Buffer) -> int:
        """Reads up to ``len(buffer)`` bytes into ``buffer`` (any writable buffer); returns how
        many, 0 at the end."""
        return await run_async(read_into(self._reader, writable_view(buffer)))

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, or everything left when ``size`` is negative; ``b""`` at the
        end."""
        if size >= 0:
            chunk = bytearray(size)
            return bytes(memoryview(chunk)[: await self.readinto(chunk)])
        parts = []
        while part := await self.read(READ_CHUNK):
            parts.append(part)
        return b"".join(parts)

    async def close(self) -> None:
        """Closes the stream; the worker lets go of it. Closing twice does nothing."""
        if self._reader.conn.alive:
            await run_async(close_stream(self._reader, "read_close"))
        self._reader.closed = True

    def __del__(self) -> None:
        self._reader.abandoned()

    async def __aenter__(self) -> AsyncObjectReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# Writing


class _Writer(_Stream):
    close_op = "write_abort"

    def __init__(self, conn: Connection, stream: int, path: str, chunk: int, window: int) -> None:
        super().__init__(conn, stream, path)
        self.chunk = chunk
        self.window = window
        self.buffer = bytearray()
        self.written = 0  # bytes given to write(): what tell() answers
        self.in_flight: deque[tuple[Future[Message], Region]] = deque()

    def discard(self) -> None:
        """``abort`` without waiting: the chunks still in flight give their memory back when
        answered, and the worker aborts after storing them."""
        self.buffer.clear()
        while self.in_flight:
            future, region = self.in_flight.popleft()
            self.conn.arena.release_after(future, region)
        super().discard()


def _send_chunk(writer: _Writer, data: memoryview) -> Step[None]:
    conn = writer.conn
    while len(writer.in_flight) >= writer.window:
        yield from _wait_oldest(writer)
    region = yield from room_for(
        conn.arena, len(data), writer.in_flight, lambda: _wait_oldest(writer)
    )
    conn.arena.write(region, data)
    future = conn.request(
        codec.stream_chunk("write_chunk", writer.stream, region), "put", writer.path
    )
    writer.in_flight.append((future, region))


def _wait_oldest(writer: _Writer) -> Step[None]:
    future, region = writer.in_flight[0]
    try:
        yield future
    finally:
        writer.in_flight.popleft()
        writer.conn.arena.release_after(future, region)
    writer.advance(region[1])


def write_data(writer: _Writer, data: memoryview) -> Step[int]:
    """Buffers small writes into chunks; whole chunks go out pipelined, ``window`` at a time."""
    writer.buffer += data
    writer.written += len(data)
    while len(writer.buffer) >= writer.chunk:
        chunk = memoryview(writer.buffer)[: writer.chunk]
        try:
            yield from _send_chunk(writer, chunk)
        finally:
            chunk.release()
        del writer.buffer[: writer.chunk]
    return len(data)


def finish(writer: _Writer) -> Step[None]:
    """Sends what is buffered, waits for every chunk, and completes the upload."""
    if writer.buffer:
        yield from _send_chunk(writer, memoryview(bytes(writer.buffer)))
        writer.buffer.clear()
    while writer.in_flight:
        yield from _wait_oldest(writer)
    yield from close_stream(writer, "write_finish")


def abort(writer: _Writer) -> Step[None]:
    """Drops the upload: nothing is stored."""
    writer.buffer.clear()
    while writer.in_flight:
        try:
            yield from _wait_oldest(writer)
        except Exception:
            pass  # the upload is being dropped anyway
    if writer.conn.alive:
        yield from close_stream(writer, "write_abort")
    writer.closed = True


def put_stream(
    pool: Pool, conf: StoreConfig, path: str, compress: str | None, progress: Progress | None,
    attached: Attached = NOTHING,
) -> Step[_Writer]:  # fmt: skip
    stream, _ = yield from open_stream(pool, conf, path, "write_open", compress, attached.fields())
    settings = pool.settings
    writer = _Writer(
        stream.conn, stream.stream, path, settings.multipart_put_part_size,
        settings.max_parallel_parts,
    )  # fmt: skip
    writer.progress = progress
    return writer


class ObjectWriter(io.RawIOBase):
    """``put_object_stream``: ``write()`` as often as you like; ``close()`` (or ``shutdown()``)
    stores the object atomically, ``cancel()`` drops it. Leaving a ``with`` block by an exception
    cancels; a writer that is garbage-collected unclosed is cancelled, never completed:
    ``with put_object_stream("a.csv", conf) as f: f.write(b"1,2")``."""

    def __init__(self, writer: _Writer) -> None:
        super().__init__()
        self._writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        """Takes ``data`` (any bytes-like) and returns ``len(data)``; whole parts go to the worker
        as they fill, the rest on ``close()``. ``ValueError`` once the writer is closed."""
        if self.closed:
            raise ValueError("write to a closed object stream")
        return run_sync(write_data(self._writer, readable_view(data)))

    def tell(self) -> int:
        """How many bytes have been written (Parquet writers ask, to place their footers)."""
        return self._writer.written

    def close(self) -> None:
        """Sends what is buffered, waits for every part and stores the object atomically; if that
        fails, the upload is dropped and the error raised. Closing twice does nothing."""
        if self.closed:
            return
        try:
            run_sync(finish(self._writer))
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                run_sync(abort(self._writer))
            raise
        finally:
            super().close()

    shutdown = close

    def cancel(self) -> None:
        """Drops the upload and closes the writer: nothing is stored."""
        if not self.closed:
            try:
                run_sync(abort(self._writer))
            finally:
                super().close()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def __del__(self) -> None:
        # Not IOBase's close(), which would complete the upload: it is dropped.
        self._writer.abandoned()


class AsyncObjectWriter:
    """``put_object_stream_async``: ``await write()``, ``await close()`` / ``shutdown()``,
    ``await cancel()``; ``async with`` completes on success and cancels on an exception:
    ``async with await put_object_stream_async("a.csv", conf) as f: await f.write(b"1,2")``."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer
        self.closed = False

    async def write(self, data: Buffer) -> int:
        """Takes ``data`` (any bytes-like) and returns ``len(data)``; whole parts go to the worker
        as they fill, the rest on ``close()``. ``ValueError`` once the writer is closed."""
        if self.closed:
            raise ValueError("write to a closed object stream")
        return await run_async(write_data(self._writer, readable_view(data)))

    async def tell(self) -> int:
        """How many bytes have been written."""
        return self._writer.written

    async def close(self) -> None:
        """Sends what is buffered, waits for every part and stores the object atomically; if that
        fails, the upload is dropped and the error raised. Closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            await run_async(finish(self._writer))
        except BaseException:
            with contextlib.suppress(Exception):
                await run_async(abort(self._writer))
            raise

    shutdown = close

    async def cancel(self) -> None:
        """Drops the upload and closes the writer: nothing is stored."""
        if not self.closed:
            self.closed = True
            await run_async(abort(self._writer))

    async def __aenter__(self) -> AsyncObjectWriter:
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.cancel()

    def __del__(self) -> None:
        # Unclosed and collected: dropped, never completed, as for the sync writer.
        self._writer.abandoned()
