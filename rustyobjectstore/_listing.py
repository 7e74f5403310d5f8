"""Listings: a chunk stream (``next_chunk()`` / ``finish()``, the seed's list stream) and per-object
iterators built on it, each with an asyncio twin. A listing stays on the worker that started it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from rustyobjectstore import _codec as codec
from rustyobjectstore import _ops
from rustyobjectstore._config import StoreConfig
from rustyobjectstore._finalizers import later
from rustyobjectstore._objectmeta import ObjectMeta
from rustyobjectstore._pool import Pool
from rustyobjectstore._steps import Step, run_async, run_sync

CHUNK_ENTRIES = 1000


class _Listing:
    """The state both twins share: where the listing is, and whether it is over. One abandoned
    unfinished is let go of through the finalizer queue."""

    done = True  # until __init__ has routed it: a listing it failed to make has nothing to let go

    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self.prefix = prefix
        self.offset = offset
        keys = (prefix,) if offset is None else (prefix, offset)
        self.connection, self.store = _ops.route(pool, conf, *keys)
        self.started = False
        self.done = False
        self.cursor: int | None = None

    def __del__(self) -> None:
        if not self.done:
            later(self.finish)

    def next_chunk(self) -> Step[list[ObjectMeta] | None]:
        if self.done:
            return None
        if not self.started:
            self.started = True
            page = yield from _ops.list_first(
                self.connection, self.store, self.prefix, CHUNK_ENTRIES, self.offset
            )
        else:
            assert self.cursor is not None
            page = yield from _ops.list_next(self.connection, self.cursor, self.prefix)
        entries, self.cursor = page
        if self.cursor is None:
            self.done = True
        return entries or None

    def finish(self) -> bool:
        """Stops the listing; True the first time, False after. The worker's side is dropped
        without waiting for its answer."""
        if self.done:
            return False
        self.done = True
        if self.cursor is not None and self.connection.alive:
            message = codec.cursor_op("list_close", self.cursor)
            self.connection.request(message, "list", self.prefix)
        self.cursor = None
        return True


class ListStream:
    """``list_objects_stream``: chunks of at most ``max_entries_per_chunk()`` metas, in key order."""

    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self._listing = _Listing(pool, prefix, conf, offset)

    @staticmethod
    def max_entries_per_chunk() -> int:
        return CHUNK_ENTRIES

    def next_chunk(self) -> list[ObjectMeta] | None:
        """The next chunk, or None at the end."""
        return run_sync(self._listing.next_chunk())

    def finish(self) -> bool:
        return self._listing.finish()

    def __iter__(self) -> Iterator[list[ObjectMeta]]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk


class AsyncListStream:
    """``list_objects_stream_async``: ``await next_chunk()``, ``finish()``, ``async for chunk``."""

    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self._listing = _Listing(pool, prefix, conf, offset)

    @staticmethod
    def max_entries_per_chunk() -> int:
        return CHUNK_ENTRIES

    async def next_chunk(self) -> list[ObjectMeta] | None:
        return await run_async(self._listing.next_chunk())

    def finish(self) -> bool:
        return self._listing.finish()

    async def __aiter__(self) -> AsyncIterator[list[ObjectMeta]]:
        while (chunk := await self.next_chunk()) is not None:
            yield chunk


class ListIterator(Iterator[ObjectMeta]):
    """``list_objects``: each ``ObjectMeta`` in key order, as pages arrive; ``close()`` stops."""

    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self._stream = ListStream(pool, prefix, conf, offset)
        self._buffered: list[ObjectMeta] = []

    def __iter__(self) -> ListIterator:
        return self

    def __next__(self) -> ObjectMeta:
        while not self._buffered:
            chunk = self._stream.next_chunk()
            if chunk is None:
                raise StopIteration
            self._buffered = chunk[::-1]
        return self._buffered.pop()

    def close(self) -> None:
        self._buffered = []
        self._stream.finish()


class AsyncListIterator(AsyncIterator[ObjectMeta]):
    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self._stream = AsyncListStream(pool, prefix, conf, offset)
        self._buffered: list[ObjectMeta] = []

    def __aiter__(self) -> AsyncListIterator:
        return self

    async def __anext__(self) -> ObjectMeta:
        while not self._buffered:
            chunk = await self._stream.next_chunk()
            if chunk is None:
                raise StopAsyncIteration
            self._buffered = chunk[::-1]
        return self._buffered.pop()

    async def aclose(self) -> None:
        self._buffered = []
        self._stream.finish()
