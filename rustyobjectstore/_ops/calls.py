"""The operations, each written once as a step generator (see ``_steps``) and driven by both the sync
and the async API.

Region rule: a region is released right after its response has been read, or, when the step is
abandoned with the request still in flight (cancelled, past its deadline, interrupted, or failed
elsewhere), the request is cancelled and its region released only once the worker has answered it
(``Connection.give_up``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

from rustyobjectstore._config import StoreConfig, _StoreConfig
from rustyobjectstore._errors import (
    BufferTooSmallError,
    DeadlineExceededError,
    EarlyEOFError,
    NotSupportedError,
    ObjectStoreError,
    PermissionDeniedError,
    ProtocolError,
    WorkerCrashedError,
    error_from_wire,
)
from rustyobjectstore._ops.attributes import NOTHING, Attached
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.objectmeta import ObjectMeta, UpdateVersion
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.arena import Arena
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Call, Connection, response_field
from rustyobjectstore._worker.metrics import Metrics, add_up, latencies, snapshot
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step, T


def allocate(arena: Arena, length: int) -> Step[Region]:
    region_now = arena.take(length)  # the common case, without a future's cost
    if region_now is not None:
        return region_now
    future = arena.allocate(length)
    try:
        region: Region = yield future
    except BaseException:
        # Abandoned while waiting for room: give the region back whenever it is granted.
        future.add_done_callback(lambda f: arena.release(f.result()))
        raise
    return region


def route(pool: Pool, conf: StoreConfig, *keys: str) -> tuple[Connection, int]:
    """The worker for a call on ``conf``, and the store's number on it. Arguments of the wrong type
    are a ``TypeError`` that says what was expected, before anything is sent (``get_object(conf,
    "key")`` has them the wrong way round)."""
    if not isinstance(conf, _StoreConfig):
        raise TypeError(
            "expected a store configuration (Config, AWSConfig, AzureConfig or GCSConfig) after "
            f"the key, got {type(conf).__name__}; the key comes first: get_object(path, conf)"
        )
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"an object key must be a str, got {type(key).__name__}")
    return pool.route(conf.spec())


def call(
    conn: Connection, message: Message, op: str, path: str | None, region: Region | None = None
) -> Step[Message]:
    try:
        future = conn.request(message, op, path, awaited=True)
    except BaseException:
        if region is not None:
            conn.arena.release(region)  # never sent (a frame over the limit): nothing writes it
        raise
    try:
        response: Message = yield future
    except BaseException as exc:
        conn.give_up(future, region)
        if isinstance(exc, DeadlineExceededError) and exc.op is None:
            exc.op, exc.path = op, path
        raise
    return response


def retry_on_crash(pool: Pool, make: Callable[[], Step[T]], *, write: bool) -> Step[T]:
    """Runs the step ``make()`` builds, again on a fresh worker if its worker died under it, as many
    times as the pool's settings allow for reads or for writes; and once more if a credential
    provider's credentials were refused (the provider is asked for new ones first)."""
    settings = pool.settings
    retries = settings.crash_retries_for_writes if write else settings.crash_retries_for_reads
    crashes, refreshed = 0, False
    while True:
        try:
            return (yield from make())
        except WorkerCrashedError:
            if crashes == retries:
                raise
            crashes += 1
        except PermissionDeniedError as exc:
            # Refused with a provider's credentials: once more with fresh ones (a refused request
            # changed nothing, so a write may be tried again too).
            if refreshed or not exc.stale_credentials:
                raise
            refreshed = True


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


Progress = Callable[[int, int | None], None]
"""Called with (bytes done, bytes in all or None when not known yet) as parts complete, on the
caller's thread or event loop."""


class Destination:
    """Where a read's bytes go. ``open`` learns the size first and may refuse it; ``put`` writes bytes
    at an offset from the start; ``region_for`` may lend arena memory to write into directly."""

    def open(self, size: int) -> None:
        pass

    def put(self, at: int, data: memoryview) -> None:
        raise NotImplementedError

    def region_for(self, at: int, length: int) -> Region | None:
        return None

    def abandon(self, unfinished: list[Future[Message]]) -> None:
        """The read stopped early with these requests, which write into memory ``region_for`` lent,
        still in flight: that memory must stay reserved until they resolve."""


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


class IntoBytes(Destination):
    """New bytes; an object that arrives in one piece is copied once."""

    def __init__(self) -> None:
        self.size = 0
        self.whole: bytes | None = None
        self.buffer: bytearray | None = None

    def open(self, size: int) -> None:
        self.size = size

    def put(self, at: int, data: memoryview) -> None:
        if at == 0 and len(data) == self.size:
            self.whole = bytes(data)
            return
        if self.buffer is None:
            self.buffer = bytearray(self.size)
        self.buffer[at : at + len(data)] = data

    def result(self) -> bytes:
        if self.whole is not None:
            return self.whole
        return bytes(self.buffer) if self.buffer is not None else b""


def fetch_ranges(
    pool: Pool,
    conn: Connection,
    store: int,
    path: str,
    pin: Message,
    ranges: list[tuple[int, int]],
    dest: Destination,
    base: int,
    progress: Callable[[int], None],
) -> Step[None]:
    """Ranged gets of one object, a window of them in flight. ``pin`` (``Conditions.pinned``: the
    first answer's e_tag, and the version asked for) keeps them on one version, so a changed
    object fails instead of being spliced."""
    window = pool.settings.max_parallel_parts
    in_flight: deque[tuple[Call, Region, int, int, bool]] = deque()
    try:
        for start, end in ranges:
            lent = dest.region_for(start - base, end - start)
            region = lent if lent is not None else (yield from allocate(conn.arena, end - start))
            message = codec.get(store, path, region, whole=True, range=(start, end), when=pin)
            future = conn.request(message, "get", path)
            in_flight.append((future, region, start - base, end - start, lent is None))
            while len(in_flight) >= window or (in_flight and start == ranges[-1][0]):
                future, region, at, length, owned = in_flight[0]
                response: Message = yield future
                in_flight.popleft()
                try:
                    written = response_field(response, "written")
                    if written != length:
                        raise EarlyEOFError(
                            f"range at {at} returned {written} of {length} bytes",
                            op="get", path=path,
                        )  # fmt: skip
                    if owned:
                        dest.put(at, conn.arena.read(region, length))
                finally:
                    if owned:
                        conn.arena.release(region)
                progress(length)
    except BaseException:
        for future, region, _, _, owned in in_flight:
            conn.give_up(future, region if owned else None)
        dest.abandon([future for future, _, _, _, owned in in_flight if not owned])
        raise


def read(
    pool: Pool,
    conf: StoreConfig,
    path: str,
    dest: Destination,
    *,
    capacity: int | None = None,
    byte_range: tuple[int, int | None] | None = None,
    suffix: int | None = None,
    progress: Progress | None = None,
    when: Conditions = NONE,
) -> Step[int]:
    def once() -> Step[int]:
        return _read_once(pool, conf, path, dest, capacity=capacity, byte_range=byte_range,
                          suffix=suffix, progress=progress, when=when)  # fmt: skip

    return (yield from retry_on_crash(pool, once, write=False))


def _read_once(
    pool: Pool,
    conf: StoreConfig,
    path: str,
    dest: Destination,
    *,
    capacity: int | None = None,
    byte_range: tuple[int, int | None] | None = None,
    suffix: int | None = None,
    progress: Progress | None = None,
    when: Conditions = NONE,
) -> Step[int]:
    """The object (or ``byte_range`` of it, to the end when its end is None, or its last ``suffix``
    bytes) into ``dest``; returns the size read. ``capacity`` is how much the destination can hold,
    if it is bounded."""
    settings = pool.settings
    conn, store = route(pool, conf, path)
    first = settings.multipart_get_threshold
    if capacity is not None:
        first = min(first, capacity)
    if byte_range is not None and byte_range[1] is not None:
        first = min(first, byte_range[1] - byte_range[0])
    if suffix is not None:
        first = min(first, suffix)
    # A destination that the first region covers must hold the whole object, so the worker need not
    # read a body that cannot fit.
    whole = capacity is not None and capacity <= settings.multipart_get_threshold
    region = yield from allocate(conn.arena, first)
    message = codec.get(store, path, region, whole=whole, range=byte_range, suffix=suffix,
                        when=when.first())  # fmt: skip
    response = yield from call(conn, message, "get", path, region)
    try:
        size = int(response_field(response, "size"))
        base = int(response_field(response, "start"))
        written = int(response_field(response, "written"))
        dest.open(size)
        dest.put(0, conn.arena.read(region, written))
    finally:
        conn.arena.release(region)
    done = written

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, size)

    advance(0)
    if written < size:
        e_tag = ObjectMeta.from_wire(response_field(response, "meta")).e_tag
        part = settings.multipart_get_part_size
        ranges = [(base + s, base + min(s + part, size)) for s in range(written, size, part)]
        pin = when.pinned(e_tag)
        yield from fetch_ranges(pool, conn, store, path, pin, ranges, dest, base, advance)
    return size


PutMode = Literal["overwrite", "create"] | UpdateVersion


def _mode_fields(mode: PutMode) -> dict[str, str | None]:
    if isinstance(mode, UpdateVersion):
        return {"mode": "update", "e_tag": mode.e_tag, "version": mode.version}
    if mode in ("overwrite", "create"):
        return {"mode": None if mode == "overwrite" else mode}
    raise ValueError(f'mode must be "overwrite", "create" or UpdateVersion(...), not {mode!r}')


Fill = Callable[[memoryview, int], None]
"""Fills a lent arena view with the source's bytes from an offset."""


def fill_from(data: memoryview) -> Fill:
    def fill(view: memoryview, at: int) -> None:
        view[:] = data[at : at + len(view)]

    return fill


def write(
    pool: Pool,
    conf: StoreConfig,
    path: str,
    size: int,
    fill: Fill,
    mode: PutMode = "overwrite",
    progress: Progress | None = None,
    attached: Attached = NOTHING,
) -> Step[int]:
    return (
        yield from retry_on_crash(
            pool,
            lambda: _write_once(pool, conf, path, size, fill, mode, progress, attached),
            write=True,
        )
    )


def _write_once(
    pool: Pool,
    conf: StoreConfig,
    path: str,
    size: int,
    fill: Fill,
    mode: PutMode = "overwrite",
    progress: Progress | None = None,
    attached: Attached = NOTHING,
) -> Step[int]:
    """Stores ``size`` bytes that ``fill`` provides, atomically: one put below the threshold, a
    multipart upload above it. A conditional put is always one put (multipart uploads cannot be
    conditional)."""
    settings = pool.settings
    fields = _mode_fields(mode)
    conn, store = route(pool, conf, path)
    single = size <= settings.multipart_put_threshold
    if fields["mode"] is not None and not single:
        if size > settings.arena_size // 2:
            raise NotSupportedError(
                f"a conditional put of {size} bytes exceeds half the arena "
                f"({settings.arena_size} bytes); raise StaticConfig.arena_size",
                op="put", path=path,
            )  # fmt: skip
        single = True
    if single:
        region = yield from allocate(conn.arena, size)
        try:
            _fill_region(conn.arena, region, fill, 0)
        except BaseException:
            conn.arena.release(region)
            raise
        message = codec.put(store, path, region, **fields, attached=attached.fields())
        yield from call(conn, message, "put", path, region)
        conn.arena.release(region)
        if progress is not None:
            progress(size, size)
        return size
    started = yield from call(
        conn, codec.path_op("multipart_start", store, path, attached.fields()), "put", path
    )
    upload = int(response_field(started, "upload"))
    try:
        yield from _upload_parts(pool, conn, upload, path, size, fill, progress)
        yield from call(conn, codec.upload_op("multipart_complete", upload), "put", path)
    except BaseException:
        # Fire and forget: the caller's error matters more than the abort's.
        conn.request(codec.upload_op("multipart_abort", upload), "put", path)
        raise
    return size


def _fill_region(arena: Arena, region: Region, fill: Fill, at: int) -> None:
    view = arena.read(region, region[1])
    try:
        fill(view, at)
    finally:
        view.release()


def _upload_parts(
    pool: Pool,
    conn: Connection,
    upload: int,
    path: str,
    size: int,
    fill: Fill,
    progress: Progress | None,
) -> Step[None]:
    part = pool.settings.multipart_put_part_size
    window = pool.settings.max_parallel_parts
    in_flight: deque[tuple[Call, Region]] = deque()
    done = 0
    try:
        starts = range(0, size, part)
        for start in starts:
            region = yield from allocate(conn.arena, min(part, size - start))
            _fill_region(conn.arena, region, fill, start)
            future = conn.request(codec.multipart_part(upload, region), "put", path)
            in_flight.append((future, region))
            while len(in_flight) >= window or (in_flight and start == starts[-1]):
                future, region = in_flight[0]
                yield future
                in_flight.popleft()
                conn.arena.release(region)
                done += region[1]
                if progress is not None:
                    progress(done, size)
    except BaseException:
        for future, region in in_flight:
            conn.give_up(future, region)
        raise


def head(pool: Pool, conf: StoreConfig, path: str, when: Conditions = NONE) -> Step[ObjectMeta]:
    return (
        yield from retry_on_crash(pool, lambda: _head_once(pool, conf, path, when), write=False)
    )


def _head_once(pool: Pool, conf: StoreConfig, path: str, when: Conditions) -> Step[ObjectMeta]:
    conn, store = route(pool, conf, path)
    message = codec.path_op("head", store, path, when.first())
    response = yield from call(conn, message, "head", path)
    return ObjectMeta.from_wire(response_field(response, "meta"))


def delete(pool: Pool, conf: StoreConfig, path: str) -> Step[None]:
    return (yield from retry_on_crash(pool, lambda: _delete_once(pool, conf, path), write=True))


def _delete_once(pool: Pool, conf: StoreConfig, path: str) -> Step[None]:
    conn, store = route(pool, conf, path)
    yield from call(conn, codec.path_op("delete", store, path), "delete", path)


def list_cursor(response: Message) -> int | None:
    """Where a list answer's listing goes on (None: it is done)."""
    cursor = response_field(response, "cursor")
    if cursor is not None and (type(cursor) is not int or cursor < 0):
        raise ProtocolError(f"bad list cursor {cursor!r}")
    return cursor


def list_objects_of(response: Message) -> list[ObjectMeta]:
    return ObjectMeta.from_columns(response_field(response, "objects"))


def copy(pool: Pool, conf: StoreConfig, op: str, src: str, dst: str, overwrite: bool) -> Step[None]:
    return (
        yield from retry_on_crash(
            pool, lambda: _copy_once(pool, conf, op, src, dst, overwrite), write=True
        )
    )


def _copy_once(
    pool: Pool, conf: StoreConfig, op: str, src: str, dst: str, overwrite: bool
) -> Step[None]:
    """``copy`` or ``rename`` within one store."""
    conn, store = route(pool, conf, src, dst)
    yield from call(conn, codec.copy(op, store, src, dst, overwrite), op, src)


@dataclass(frozen=True)
class BulkDeleteFailure:
    """A key that ``bulk_delete_objects`` could not delete (``path``), and why (``error``, an
    ``ObjectStoreError``): ``for f in bulk_delete_objects(keys, conf): print(f.path, f.error)``."""

    path: str
    error: ObjectStoreError


BULK_DELETE_BATCH = 1000  # keeps a frame far below the frame limit


def bulk_delete(pool: Pool, conf: StoreConfig, paths: list[str]) -> Step[list[BulkDeleteFailure]]:
    return (
        yield from retry_on_crash(pool, lambda: _bulk_delete_once(pool, conf, paths), write=True)
    )


def _bulk_delete_once(
    pool: Pool, conf: StoreConfig, paths: list[str]
) -> Step[list[BulkDeleteFailure]]:
    conn, store = route(pool, conf, *paths)
    batches = [paths[i : i + BULK_DELETE_BATCH] for i in range(0, len(paths), BULK_DELETE_BATCH)]
    calls = [
        conn.request(codec.bulk_delete(store, batch), "bulk_delete", None) for batch in batches
    ]
    try:
        responses: list[Message] = yield list[Future[Any]](calls)
    except BaseException:
        for call_ in calls:
            conn.give_up(call_)
        raise
    failures = []
    for response in responses:
        for entry in response_field(response, "failed"):
            path = str(entry.get("path"))
            failures.append(
                BulkDeleteFailure(path, error_from_wire(entry.get("error"), "delete", path))
            )
    return failures


def metrics(pool: Pool) -> Step[Metrics]:
    """Every slot's counters, with the HTTP counters of each live worker."""
    slots = pool.slots()
    asked = [
        conn.request(codec.metrics(), "metrics", None) if conn is not None and conn.alive else None
        for _, conn in slots
    ]
    workers = []
    for (counters, conn), future in zip(slots, asked, strict=True):
        http: Message = {}
        if future is not None:
            try:
                http = yield future
            except ObjectStoreError:
                pass  # a worker that died just now has no counters to give
        workers.append(
            snapshot(
                counters,
                in_flight=conn.in_flight if conn is not None else 0,
                pid=conn.pid if conn is not None else None,
                http_requests=int(http.get("http_requests", 0)),
                retries=int(http.get("retries", 0)),
                latency=latencies(http.get("latency")),
                http_latency=latencies(http.get("http_latency")),
                heap_bytes=int(http.get("heap_bytes") or 0),
                rss_bytes=None if http.get("rss_bytes") is None else int(http["rss_bytes"]),
            )
        )
    return Metrics(total=add_up(workers), workers=workers)
