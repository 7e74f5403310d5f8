"""Range reads: one range (to the end, or the last n bytes), and many ranges of one object, merged
into few requests that run in parallel.

Ranges are cut at the object's end as slicing cuts them: a range past the end yields fewer bytes, one
that starts at or past the end yields none. The worker answers the latter with
``range_not_satisfiable``, which these steps turn into "no bytes" (the answer proves the object
exists).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import Buffer

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import (
    BufferTooSmallError,
    PreconditionFailedError,
    RangeNotSatisfiableError,
)
from rustyobjectstore._ops.calls import crash_retried, room_for, route
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.get import read
from rustyobjectstore._ops.meta import head
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.sinks import IntoBytes, writable_view
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Call, Connection, response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step

Range = tuple[int, int]

COALESCE = 1024 * 1024
"""Ranges at most this far apart share one request (object_store's default)."""

REQUESTS_IN_FLIGHT = 32
"""At most this many of one call's range requests wait for an answer at once. Their bytes are
bounded apart (``max_parallel_parts`` parts' worth): small ranges are many round trips, each
worth overlapping when a round trip costs tens of milliseconds; big ones are few."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_range(start: int, end: int | None) -> None:
    """``(start, end)``: ``0 <= start <= end``; ``(start, None)``: to the end, or with a negative
    ``start`` the last ``-start`` bytes."""
    if not _is_int(start) or not (end is None or _is_int(end)):
        raise TypeError(f"a range is two ints (end may be None), got ({start!r}, {end!r})")
    if end is None:
        return
    if not 0 <= start <= end:
        raise ValueError(
            f"the range must satisfy 0 <= start <= end, got [{start}, {end}); for the last n "
            "bytes pass start=-n and end=None"
        )


def check_ranges(ranges: Sequence[Range]) -> list[Range]:
    checked = []
    for i, pair in enumerate(ranges):
        try:
            start, end = pair
        except (TypeError, ValueError):
            raise TypeError(f"range {i} is not a (start, end) pair: {pair!r}") from None
        if not (_is_int(start) and _is_int(end)):
            raise TypeError(f"range {i} is not two ints: {pair!r}")
        if not 0 <= start <= end:
            raise ValueError(f"range {i} must satisfy 0 <= start <= end, got [{start}, {end})")
        checked.append((start, end))
    return checked


def plan(ranges: Sequence[Range], coalesce: int, part: int) -> list[Range]:
    """The spans that cover every non-empty range, in order and disjoint: ranges sorted by start and
    merged when they overlap or lie at most ``coalesce`` bytes apart, as long as a merged span stays
    within ``part`` bytes. A span longer than ``part`` (one long range) is read in parts."""
    merged: list[Range] = []
    current: Range | None = None
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if current is None:
            current = (start, end)
            continue
        first, last = current
        if end <= last:
            continue  # inside the current span already
        if start <= last + coalesce and end - first <= part:
            current = (first, end)
            continue
        merged.append(current)
        current = (max(start, last), end)  # an overlap is not asked for twice
    if current is not None:
        merged.append(current)
    return merged


@dataclass
class _Gathered:
    """What the requests brought back for the ranges: the object's size and e_tag (from the first
    answer) and each range's bytes, whole where one request held the range, else in pieces."""

    ranges: list[Range]
    size: int | None = None
    e_tag: str | None = None
    whole: dict[int, bytes] = field(default_factory=dict)
    pieces: dict[int, bytearray] = field(default_factory=dict)

    def learn(self, meta: ObjectMeta, path: str) -> None:
        if self.size is None:
            self.size, self.e_tag = meta.size, meta.e_tag
        elif (meta.size, meta.e_tag) != (self.size, self.e_tag):
            raise PreconditionFailedError(
                f"the object changed while its ranges were read (e_tag {self.e_tag} then "
                f"{meta.e_tag})",
                op="get", path=path,
            )  # fmt: skip

    def length(self, i: int) -> int:
        """Range ``i``'s length, cut at the object's end (nothing known of the size: every request
        started past the end)."""
        start, end = self.ranges[i]
        return 0 if self.size is None else max(0, min(end, self.size) - start)

    def take(self, asked: Range, got: memoryview, members: list[int]) -> None:
        """Copies the bytes of request ``asked`` (``got``: as many as the object had) into the
        ranges that overlap it."""
        for i in members:
            start, end = self.ranges[i]
            lo, hi = max(start, asked[0]), min(end, asked[0] + len(got))
            if asked[0] <= start and end <= asked[1]:
                self.whole[i] = bytes(got[lo - asked[0] : hi - asked[0]]) if lo < hi else b""
            elif lo < hi:
                # Sized by the object's end, known by now: an end far past it allocates nothing.
                buffer = self.pieces.setdefault(i, bytearray(self.length(i)))
                buffer[lo - start : hi - start] = got[lo - asked[0] : hi - asked[0]]

    def result(self, i: int) -> memoryview:
        if i in self.whole:
            return memoryview(self.whole[i])
        buffer = self.pieces.get(i)
        return memoryview(buffer)[: self.length(i)] if buffer is not None else memoryview(b"")


def _members(ranges: list[Range], spans: list[Range]) -> list[list[int]]:
    """For each span, the ranges that overlap it."""
    order = sorted((r for r in range(len(ranges)) if ranges[r][0] < ranges[r][1]),
                   key=lambda r: ranges[r])  # fmt: skip
    members: list[list[int]] = [[] for _ in spans]
    first = 0  # the first range that may still overlap a later span
    for k, (lo, hi) in enumerate(spans):
        while first < len(order) and ranges[order[first]][1] <= lo:
            first += 1
        for i in order[first:]:
            if ranges[i][0] >= hi:
                break
            if ranges[i][1] > lo:
                members[k].append(i)
    return members


@crash_retried(write=False)
def gather(
    pool: Pool, conf: StoreConfig, path: str, ranges: list[Range], coalesce: int, when: Conditions
) -> Step[_Gathered]:
    settings = pool.settings
    conn, store = yield from route(pool, conf, path)
    spans = plan(ranges, coalesce, settings.multipart_get_part_size)
    members = _members(ranges, spans)
    gathered = _Gathered(ranges)
    if not spans:
        yield from head(pool, conf, path, when)  # only empty ranges: the object must still exist
        return gathered
    budget = settings.max_parallel_parts * settings.multipart_get_part_size
    in_flight: deque[tuple[Call, Region, Range, list[int]]] = deque()
    try:
        for asked, overlapping in _requests(spans, members, settings.multipart_get_part_size,
                                            gathered):  # fmt: skip
            size = asked[1] - asked[0]
            while in_flight and (
                len(in_flight) >= REQUESTS_IN_FLIGHT
                or sum(a[1] - a[0] for _, _, a, _ in in_flight) + size > budget
            ):
                yield from _answer(conn, gathered, in_flight, path)
            region = yield from room_for(
                conn.arena, size, in_flight, lambda: _answer(conn, gathered, in_flight, path)
            )
            if gathered.size is not None and asked[0] >= gathered.size:
                conn.arena.release(region)
                break  # learned while waiting: this and every later request start past the end
            # The conditions decide on the first answer; once it is in, the rest are pinned to
            # its version.
            fields = when.first() if gathered.size is None else when.pinned(gathered.e_tag)
            message = codec.get(store, path, region, whole=True, range=asked, when=fields)
            in_flight.append((conn.request(message, "get", path), region, asked, overlapping))
        while in_flight:
            yield from _answer(conn, gathered, in_flight, path)
    except BaseException:
        for future, region, _, _ in in_flight:
            conn.give_up(future, region)
        raise
    return gathered


def _requests(
    spans: list[Range], members: list[list[int]], part: int, gathered: _Gathered
) -> Iterator[tuple[Range, list[int]]]:
    """Each span in requests of at most ``part`` bytes, with the ranges that overlap it; made one at
    a time so that once the object's size is known none is made past its end (a range may name an
    end far beyond it)."""
    for (first, last), overlapping in zip(spans, members, strict=True):
        for start in range(first, last, part):
            if gathered.size is not None and start >= gathered.size:
                return  # the spans are in order: every later one starts past the end too
            yield (start, min(start + part, last)), overlapping


def _answer(
    conn: Connection,
    gathered: _Gathered,
    in_flight: deque[tuple[Call, Region, Range, list[int]]],
    path: str,
) -> Step[None]:
    """Waits for the oldest request and takes its bytes."""
    future, region, asked, overlapping = in_flight[0]
    try:
        response: Message = yield future
    except RangeNotSatisfiableError:
        response = {}  # the request started at or past the end: no bytes
    in_flight.popleft()
    try:
        if response:
            _take(conn, gathered, response, region, asked, overlapping, path)
    finally:
        conn.arena.release(region)


def _take(
    conn: Connection,
    gathered: _Gathered,
    response: Message,
    region: Region,
    asked: Range,
    members: list[int],
    path: str,
) -> None:
    gathered.learn(ObjectMeta.from_wire(response_field(response, "meta")), path)
    written = int(response_field(response, "written"))
    view = conn.arena.read(region, written)
    try:
        gathered.take(asked, view, members)
    finally:
        view.release()


def ranges_bytes(
    pool: Pool, conf: StoreConfig, path: str, ranges: Sequence[Range], coalesce: int,
    when: Conditions = NONE,
) -> Step[list[bytes]]:  # fmt: skip
    checked = check_ranges(ranges)
    _check_coalesce(coalesce)
    gathered = yield from gather(pool, conf, path, checked, coalesce, when)
    return [
        gathered.whole[i] if i in gathered.whole else bytes(gathered.result(i))
        for i in range(len(checked))
    ]


def ranges_into(
    pool: Pool,
    conf: StoreConfig,
    path: str,
    ranges: Sequence[Range],
    buffers: Sequence[Buffer],
    coalesce: int,
    when: Conditions = NONE,
) -> Step[list[int]]:
    checked = check_ranges(ranges)
    views = [writable_view(b) for b in buffers]
    _check_coalesce(coalesce)
    if len(views) != len(checked):
        raise ValueError(f"{len(checked)} ranges but {len(views)} buffers")
    for i, ((start, end), view) in enumerate(zip(checked, views, strict=True)):
        if len(view) < end - start:
            raise BufferTooSmallError(
                f"buffer {i} holds {len(view)} bytes but range {i} asks for {end - start}",
                op="get", path=path,
            )  # fmt: skip
    gathered = yield from gather(pool, conf, path, checked, coalesce, when)
    sizes = []
    for i, view in enumerate(views):
        data = gathered.result(i)
        view[: len(data)] = data
        sizes.append(len(data))
    return sizes


def _check_coalesce(coalesce: Any) -> None:
    if not _is_int(coalesce) or coalesce < 0:
        raise ValueError(f"coalesce must be a number of bytes >= 0, got {coalesce!r}")


def one_range(
    pool: Pool, conf: StoreConfig, path: str, start: int, end: int | None, when: Conditions = NONE
) -> Step[bytes]:
    """``data[start:end]`` of the object; ``end=None`` to the end, a negative ``start`` then the last
    ``-start`` bytes, in one request."""
    check_range(start, end)
    if start == end:
        yield from head(pool, conf, path, when)  # an empty range still needs the object to exist
        return b""
    dest = IntoBytes()
    try:
        if start < 0:
            yield from read(pool, conf, path, dest, suffix=-start, when=when)
        else:
            yield from read(pool, conf, path, dest, byte_range=(start, end), when=when)
    except RangeNotSatisfiableError:
        return b""
    return dest.result()
