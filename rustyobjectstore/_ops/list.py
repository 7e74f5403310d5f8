"""Listings: a chunk stream (``next_chunk()`` / ``finish()``, the seed's list stream) and per-object
iterators built on it, each with an asyncio twin. A listing stays on the worker that started it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import ProtocolError
from rustyobjectstore._ops.calls import call, checked, crash_retried, route
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message
from rustyobjectstore._worker.connection import Call, Connection, response_field
from rustyobjectstore._worker.finalizers import later
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step, run_async, run_sync

CHUNK_ENTRIES = 1000


class _Listing:
    """The state both twins share: where the listing is, and whether it is over. One abandoned
    unfinished is let go of through the finalizer queue.

    The next page is asked for as soon as a page arrives, before this one's metas are built: the
    worker reads it while Python builds (one page ahead, never more)."""

    done = True  # until __init__ has checked it: a listing it failed to make has nothing to let go

    connection: Connection  # the worker's, and the store's number there, once started
    store: int

    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self.pool, self.conf = pool, conf
        self.prefix = prefix
        self.offset = offset
        self.keys = (prefix,) if offset is None else (prefix, offset)
        checked(conf, *self.keys)  # wrong arguments fail here, not at the first page
        self.started = False
        self.done = False
        self.ahead: Call | None = None  # the list_next sent for the page after the last one
        self.broken: BaseException | None = None

    def __del__(self) -> None:
        if not self.done:
            later(self.finish)

    def next_chunk(self) -> Step[list[ObjectMeta] | None]:
        if self.broken is not None:
            raise self.broken  # the page it failed on is lost: the listing cannot go on
        if self.done:
            return None
        try:
            response = yield from self._next_response()
            cursor = list_cursor(response)
        except BaseException as exc:
            self.broken, self.done = exc, True
            raise
        if cursor is None:
            self.done = True
        else:
            message = codec.cursor_op("list_next", cursor)
            self.ahead = self.connection.request(message, "list", self.prefix)
        try:
            return list_objects_of(response) or None
        except BaseException as exc:
            # A page that cannot be read is lost: going on from the next would drop it silently.
            self.broken = exc
            self.finish()
            raise

    def _next_response(self) -> Step[Message]:
        if not self.started:
            self.connection, self.store = yield from route(self.pool, self.conf, *self.keys)
            self.started = True
            message = codec.list_start(self.store, self.prefix, CHUNK_ENTRIES, self.offset)
            return (yield from call(self.connection, message, "list", self.prefix))
        ahead, self.ahead = self.ahead, None
        assert ahead is not None
        try:
            response: Message = yield ahead
        except BaseException:
            self.connection.give_up(ahead)
            raise
        return response

    def finish(self) -> bool:
        """Stops the listing; True the first time, False after. The worker's side is dropped
        without waiting for its answer."""
        if self.done:
            return False
        self.done = True
        ahead, self.ahead = self.ahead, None
        if ahead is not None:
            # Its answer opens the page after it: close that once it is known (on the thread that
            # delivers answers, which must not send; the finalizer queue does).
            ahead.add_done_callback(lambda answered: later(lambda: self._close(answered)))
        return True

    def _close(self, answered: Future[Message]) -> None:
        if answered.cancelled() or answered.exception() is not None:
            return
        cursor = answered.result().get("cursor")
        if isinstance(cursor, int) and self.connection.alive:
            message = codec.cursor_op("list_close", cursor)
            self.connection.request(message, "list", self.prefix)


def max_entries_per_chunk() -> int:
    """How many entries a chunk of ``list_objects_stream`` holds at most (the last one may hold
    fewer): ``len(chunk) < max_entries_per_chunk()`` never means the listing ended early."""
    return CHUNK_ENTRIES


class ListStream:
    """What ``list_objects_stream`` returns: chunks (lists) of at most ``max_entries_per_chunk()``
    metas, in key order, by ``next_chunk()`` or iteration:
    ``for chunk in list_objects_stream("logs/", conf): print(len(chunk))``."""

    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self._listing = _Listing(pool, prefix, conf, offset)

    max_entries_per_chunk = staticmethod(max_entries_per_chunk)

    def next_chunk(self) -> list[ObjectMeta] | None:
        """The next chunk, or None at the end."""
        return run_sync(self._listing.next_chunk())

    def finish(self) -> bool:
        """Stops the listing early; True the first time, False after (or at the end)."""
        return self._listing.finish()

    def __iter__(self) -> Iterator[list[ObjectMeta]]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk


class AsyncListStream:
    """What ``list_objects_stream_async`` returns: ``await next_chunk()``, ``finish()``, or
    ``async for chunk in list_objects_stream_async("logs/", conf): print(len(chunk))``."""

    def __init__(self, pool: Pool, prefix: str, conf: StoreConfig, offset: str | None) -> None:
        self._listing = _Listing(pool, prefix, conf, offset)

    max_entries_per_chunk = staticmethod(max_entries_per_chunk)

    async def next_chunk(self) -> list[ObjectMeta] | None:
        """The next chunk, or None at the end."""
        return await run_async(self._listing.next_chunk())

    def finish(self) -> bool:
        """Stops the listing early; True the first time, False after (or at the end)."""
        return self._listing.finish()

    async def __aiter__(self) -> AsyncIterator[list[ObjectMeta]]:
        while (chunk := await self.next_chunk()) is not None:
            yield chunk


class ListIterator(Iterator[ObjectMeta]):
    """What ``list_objects`` returns: each ``ObjectMeta`` in key order, as pages arrive;
    ``close()`` stops early: ``sizes = {m.path: m.size for m in list_objects("logs/", conf)}``."""

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
        """Stops the listing early: the iterator is exhausted from here on."""
        self._buffered = []
        self._stream.finish()


class AsyncListIterator(AsyncIterator[ObjectMeta]):
    """What ``list_objects_async`` returns: each ``ObjectMeta`` in key order, as pages arrive;
    ``await aclose()`` stops early:
    ``paths = [m.path async for m in list_objects_async("logs/", conf)]``."""

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
        """Stops the listing early: the iterator is exhausted from here on."""
        self._buffered = []
        self._stream.finish()


def list_cursor(response: Message) -> int | None:
    """Where a list answer's listing goes on (None: it is done)."""
    cursor = response_field(response, "cursor")
    if cursor is not None and (type(cursor) is not int or cursor < 0):
        raise ProtocolError(f"bad list cursor {cursor!r}")
    return cursor


def list_objects_of(response: Message) -> list[ObjectMeta]:
    return ObjectMeta.from_columns(response_field(response, "objects"))


PAGE_ENTRIES = 5000  # objects and prefixes per answer: far below the frame limit


@dataclass(frozen=True)
class ListResult:
    """``objects``: the objects directly under the prefix's "directory" whose keys start with the
    prefix; ``common_prefixes``: the "subdirectories" there, as keys without the trailing ``/``
    (``"data/year=2026"``). Each in key order:
    ``for sub in list_with_delimiter("data/", conf).common_prefixes: print(sub)``."""

    objects: list[ObjectMeta]
    common_prefixes: list[str]


@crash_retried(write=False)
def one_level(pool: Pool, conf: StoreConfig, prefix: str) -> Step[ListResult]:
    conn, store = yield from route(pool, conf, prefix)
    message = codec.list_start(store, prefix, PAGE_ENTRIES, delimiter=True)
    response = yield from call(conn, message, "list", prefix)
    objects: list[ObjectMeta] = []
    prefixes: list[str] = []
    while True:
        cursor = list_cursor(response)
        objects += list_objects_of(response)
        found = response.get("prefixes", [])
        if not isinstance(found, list) or not all(isinstance(p, str) for p in found):
            raise ProtocolError(f"bad list prefixes {found!r}")
        prefixes += found
        if cursor is None:
            return ListResult(objects, prefixes)
        response = yield from call(conn, codec.cursor_op("list_next", cursor), "list", prefix)
