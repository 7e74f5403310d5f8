"""``get``: an object, a range or its last bytes into a destination, the first part saying the size
and the rest fetched as ranged gets pinned to the first answer's version; as new bytes, or into
one arena region for a zero-copy view."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import (
    EarlyEOFError,
    NotSupportedError,
)
from rustyobjectstore._ops.calls import (
    Progress,
    allocate,
    allocate_first,
    call,
    crash_retried,
    room_for,
    route,
    windowed,
)
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.sinks import Destination, IntoBytes, IntoRegion
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Call, Connection, response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step


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

    def take_oldest() -> Step[None]:
        future, region, at, length, owned = in_flight[0]
        response: Message = yield future
        in_flight.popleft()
        try:
            written = response_field(response, "written")
            if written != length:
                raise EarlyEOFError(
                    f"range at {at} returned {written} of {length} bytes", op="get", path=path
                )
            if owned:
                dest.put(at, conn.arena.read(region, length))
        finally:
            if owned:
                conn.arena.release(region)
        progress(length)

    def send(i: int) -> Step[None]:
        start, end = ranges[i]
        lent = dest.region_for(start - base, end - start)
        region = lent
        if region is None:
            region = yield from room_for(conn.arena, end - start, in_flight, take_oldest)
        message = codec.get(store, path, region, whole=True, range=(start, end), when=pin)
        future = conn.request(message, "get", path)
        in_flight.append((future, region, start - base, end - start, lent is None))

    try:
        yield from windowed(len(ranges), window, in_flight, send, take_oldest)
    except BaseException:
        for future, region, _, _, owned in in_flight:
            conn.give_up(future, region if owned else None)
        dest.abandon([future for future, _, _, _, owned in in_flight if not owned])
        raise


@crash_retried(write=False)
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
    """The object (or ``byte_range`` of it, to the end when its end is None, or its last ``suffix``
    bytes) into ``dest``; returns the size read. ``capacity`` is how much the destination can hold,
    if it is bounded."""
    settings = pool.settings
    conn, store = yield from route(pool, conf, path)
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
    if whole:
        region = yield from allocate(conn.arena, first)
    else:
        region = yield from allocate_first(conn.arena, first)
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


@crash_retried(write=False)
def view(
    pool: Pool, conf: StoreConfig, path: str, when: Conditions
) -> Step[tuple[Connection, Region, int]]:
    """The first part says the size; the rest is fetched straight into a region of that size."""
    whole = yield from _whole(pool, conf, path, when, None)
    assert not isinstance(whole, IntoBytes)
    return whole


@crash_retried(write=False)
def as_bytes(pool: Pool, conf: StoreConfig, path: str, when: Conditions = NONE) -> Step[bytes]:
    """The object as new bytes, copied once: the parts land in one arena region (as for a view) and
    leave it in one copy. An object too large for that goes part by part into its bytes instead,
    after the same first part (not asked for again)."""
    whole = yield from _whole(pool, conf, path, when, IntoBytes())
    if isinstance(whole, IntoBytes):
        return whole.result()
    conn, region, size = whole
    try:
        return bytes(conn.arena.read(region, size))
    finally:
        conn.arena.release(region)


def _whole(
    pool: Pool, conf: StoreConfig, path: str, when: Conditions, fallback: IntoBytes | None
) -> Step[tuple[Connection, Region, int] | IntoBytes]:
    """The object in one arena region; one larger than half the arena into ``fallback``, part by
    part, or, without one, an error that says what to use instead."""
    settings = pool.settings
    conn, store = yield from route(pool, conf, path)
    first = yield from allocate_first(conn.arena, settings.multipart_get_threshold)
    message = codec.get(store, path, first, whole=False, when=when.first())
    response = yield from call(conn, message, "get", path, first)
    size = int(response_field(response, "size"))
    written = int(response_field(response, "written"))
    if written == size:
        return conn, first, size
    target: IntoRegion | IntoBytes | None = None
    early = b""  # the first part's bytes, when they wait outside the arena
    try:
        limit = settings.arena_size // 2
        if size <= limit:
            region = conn.arena.take(size)
            if region is not None:
                target = IntoRegion(conn, region)
            else:
                # Waiting for room while holding the first part could wait forever: other gets
                # may hold the rest, waiting the same way.
                early = bytes(conn.arena.read(first, written))
        elif fallback is not None:
            target = fallback
            target.open(size)
        else:
            raise NotSupportedError(
                f"a {size}-byte object is too large for a view (at most half the arena, {limit} "
                "bytes); use get_object_to_file or get_object_stream",
                op="get", path=path,
            )  # fmt: skip
        if target is not None:
            target.put(0, conn.arena.read(first, written))
    finally:
        conn.arena.release(first)
    if target is None:
        target = IntoRegion(conn, (yield from allocate(conn.arena, size)))
        target.put(0, memoryview(early))
    e_tag = ObjectMeta.from_wire(response_field(response, "meta")).e_tag
    part = settings.multipart_get_part_size
    ranges = [(s, min(s + part, size)) for s in range(written, size, part)]
    pin = when.pinned(e_tag)
    try:
        yield from fetch_ranges(pool, conn, store, path, pin, ranges, target, 0, lambda n: None)
    except BaseException:
        if isinstance(target, IntoRegion):
            conn.arena.release_after(target.unfinished, target.region)
        raise
    return target if isinstance(target, IntoBytes) else (conn, target.region, size)
