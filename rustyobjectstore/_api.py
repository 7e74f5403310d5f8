"""The public API: the pool's life, and every operation with its ``_async`` twin.

Both twins drive the same step generator from ``_ops``; sync calls are safe from many threads at once.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from typing_extensions import Buffer

from rustyobjectstore import _ops
from rustyobjectstore._config import StaticConfig, StoreConfig
from rustyobjectstore._connection import Connection
from rustyobjectstore._errors import ConfigurationError
from rustyobjectstore._objectmeta import ObjectMeta
from rustyobjectstore._pool import Pool
from rustyobjectstore._steps import run_async, run_sync

LIST_PAGE = 1000

_lock = threading.Lock()
_pool: Pool | None = None


def init_object_store(config: StaticConfig | None = None) -> None:
    """Starts the worker pool. Calling it again with the same (or no) configuration does nothing;
    with another one it is an error until ``shutdown_object_store()``."""
    global _pool
    with _lock:
        if _pool is not None and _pool.pid == os.getpid():
            if config is None or config == _pool.settings:
                return
            raise ConfigurationError(
                "the object store is already running with another StaticConfig; "
                "call shutdown_object_store() first"
            )
        _pool = Pool(config or StaticConfig())


def shutdown_object_store() -> None:
    """Stops every worker. Calls made afterwards start a fresh default pool."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


atexit.register(shutdown_object_store)


def current_pool() -> Pool:
    """The running pool, started with defaults on first use (and anew in a forked child)."""
    global _pool
    pool = _pool
    if pool is not None and pool.pid == os.getpid():
        return pool
    with _lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = Pool(StaticConfig())
        return _pool


def _check_range(start: int, end: int) -> None:
    if not (0 <= start <= end):
        raise ValueError(f"the range must satisfy 0 <= start <= end, got [{start}, {end})")


def get_object_into(path: str, buffer: Buffer, conf: StoreConfig) -> int:
    """Reads the object into ``buffer`` (any writable buffer) and returns its size. A buffer too small
    raises ``BufferTooSmallError`` with the object's size; nothing is written beyond the buffer."""
    view = _ops.writable_view(buffer)
    return run_sync(_ops.read(current_pool(), conf, path, into=view))[0]


async def get_object_into_async(path: str, buffer: Buffer, conf: StoreConfig) -> int:
    view = _ops.writable_view(buffer)
    return (await run_async(_ops.read(current_pool(), conf, path, into=view)))[0]


def get_object(path: str, conf: StoreConfig) -> bytes:
    data = run_sync(_ops.read(current_pool(), conf, path))[1]
    assert data is not None
    return data


async def get_object_async(path: str, conf: StoreConfig) -> bytes:
    data = (await run_async(_ops.read(current_pool(), conf, path)))[1]
    assert data is not None
    return data


def get_object_range(path: str, start: int, end: int, conf: StoreConfig) -> bytes:
    """Bytes ``start`` (inclusive) to ``end`` (exclusive); a range past the end is cut at the end."""
    _check_range(start, end)
    if start == end:
        head_object(path, conf)  # an empty range still needs the object to exist
        return b""
    data = run_sync(_ops.read(current_pool(), conf, path, byte_range=(start, end)))[1]
    assert data is not None
    return data


async def get_object_range_async(path: str, start: int, end: int, conf: StoreConfig) -> bytes:
    _check_range(start, end)
    if start == end:
        await head_object_async(path, conf)
        return b""
    data = (await run_async(_ops.read(current_pool(), conf, path, byte_range=(start, end))))[1]
    assert data is not None
    return data


def put_object(path: str, data: Buffer, conf: StoreConfig) -> int:
    """Stores ``data`` (any bytes-like) atomically and returns its size."""
    return run_sync(_ops.write(current_pool(), conf, path, _ops.readable_view(data)))


async def put_object_async(path: str, data: Buffer, conf: StoreConfig) -> int:
    return await run_async(_ops.write(current_pool(), conf, path, _ops.readable_view(data)))


def delete_object(path: str, conf: StoreConfig) -> None:
    run_sync(_ops.delete(current_pool(), conf, path))


async def delete_object_async(path: str, conf: StoreConfig) -> None:
    await run_async(_ops.delete(current_pool(), conf, path))


def head_object(path: str, conf: StoreConfig) -> ObjectMeta:
    return run_sync(_ops.head(current_pool(), conf, path))


async def head_object_async(path: str, conf: StoreConfig) -> ObjectMeta:
    return await run_async(_ops.head(current_pool(), conf, path))


class _Listing:
    """One listing on one worker: the first page is asked for on first use, the rest on demand."""

    def __init__(self, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self.prefix = prefix
        self.offset = offset
        connection, store = current_pool().route(conf.spec())
        self.connection: Connection = connection
        self.store = store
        self.started = False
        self.cursor: int | None = None
        self.buffered: list[ObjectMeta] = []

    def next_page(self) -> Any:
        if not self.started:
            self.started = True
            return _ops.list_first(self.connection, self.store, self.prefix, LIST_PAGE, self.offset)
        assert self.cursor is not None
        return _ops.list_next(self.connection, self.cursor, self.prefix)

    @property
    def exhausted(self) -> bool:
        return self.started and self.cursor is None and not self.buffered

    def close(self) -> None:
        if self.cursor is not None and self.connection.alive:
            from rustyobjectstore import _codec

            self.connection.request(
                _codec.cursor_op("list_close", self.cursor), "list", self.prefix
            )
        self.cursor = None
        self.buffered = []
        self.started = True


class ListIterator(Iterator[ObjectMeta]):
    """Yields ``ObjectMeta`` as pages arrive; ``close()`` stops early and frees the worker's side."""

    def __init__(self, prefix: str, conf: StoreConfig, offset: str | None = None) -> None:
        self._listing = _Listing(prefix, conf, offset)

    def __iter__(self) -> ListIterator:
        return self

    def __next__(self) -> ObjectMeta:
        listing = self._listing
        while not listing.buffered:
            if listing.started and listing.cursor is None:
                raise StopIteration
            listing.buffered, listing.cursor = run_sync(listing.next_page())
            listing.buffered.reverse()
        return listing.buffered.pop()

    def close(self) -> None:
        self._listing.close()

    def __del__(self) -> None:
        self._listing.close()


class AsyncListIterator(AsyncIterator[ObjectMeta]):
    def __init__(self, prefix: str, conf: StoreConfig, offset: str | None = None) -> None:
        self._listing = _Listing(prefix, conf, offset)

    def __aiter__(self) -> AsyncListIterator:
        return self

    async def __anext__(self) -> ObjectMeta:
        listing = self._listing
        while not listing.buffered:
            if listing.started and listing.cursor is None:
                raise StopAsyncIteration
            listing.buffered, listing.cursor = await run_async(listing.next_page())
            listing.buffered.reverse()
        return listing.buffered.pop()

    async def aclose(self) -> None:
        self._listing.close()


def list_objects(prefix: str, conf: StoreConfig) -> ListIterator:
    """Every object whose key starts with ``prefix`` (a plain string prefix), as pages arrive."""
    return ListIterator(prefix, conf)


def list_objects_async(prefix: str, conf: StoreConfig) -> AsyncListIterator:
    return AsyncListIterator(prefix, conf)
