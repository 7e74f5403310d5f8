"""``put``: bytes a fill function provides, stored atomically: one put up to the multipart
threshold (on ``memory://`` and ``file://``, up to half the arena), a multipart upload of parts in
parallel above it."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Literal

from rustyobjectstore._auth.schemes import LOCAL_SCHEMES
from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import NotSupportedError
from rustyobjectstore._ops.attributes import NOTHING, Attached
from rustyobjectstore._ops.calls import (
    Progress,
    allocate,
    call,
    crash_retried,
    room_for,
    route,
    windowed,
)
from rustyobjectstore._ops.objectmeta import UpdateVersion
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.arena import Arena
from rustyobjectstore._worker.codec import Region
from rustyobjectstore._worker.connection import Call, Connection, response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step

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


def fill_from_file(fd: int) -> Fill:
    def fill(view: memoryview, at: int) -> None:
        while view:
            got = os.preadv(fd, [view], at)
            if got == 0:
                raise EOFError(f"the file ended at byte {at} while it was being uploaded")
            view, at = view[got:], at + got

    return fill


@crash_retried(write=True)
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
    """Stores ``size`` bytes that ``fill`` provides, atomically: one put below the threshold, a
    multipart upload above it. A conditional put is always one put (multipart uploads cannot be
    conditional)."""
    settings = pool.settings
    fields = _mode_fields(mode)
    conn, store = yield from route(pool, conf, path)
    single = size <= settings.multipart_put_threshold or (
        _is_local(conf) and size <= settings.arena_size // 2
    )
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
        conn, codec.multipart_start(store, path, size, attached.fields()), "put", path
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


def _is_local(conf: StoreConfig) -> bool:
    """A store in the worker's memory or on its disk: there a part costs the same trip through
    the worker as the whole object, and the parts are copied once more to be joined, so an object
    that fits in half the arena is one put."""
    return conf.spec().url.partition("://")[0].lower() in LOCAL_SCHEMES


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

    def take_oldest() -> Step[None]:
        nonlocal done
        future, region = in_flight[0]
        yield future
        in_flight.popleft()
        conn.arena.release(region)
        done += region[1]
        if progress is not None:
            progress(done, size)

    def send(i: int) -> Step[None]:
        start = i * part
        length = min(part, size - start)
        region = yield from room_for(conn.arena, length, in_flight, take_oldest)
        _fill_region(conn.arena, region, fill, start)
        future = conn.request(codec.multipart_part(upload, region), "put", path)
        in_flight.append((future, region))

    try:
        yield from windowed(-(-size // part), window, in_flight, send, take_oldest)
    except BaseException:
        for future, region in in_flight:
            conn.give_up(future, region)
        raise
