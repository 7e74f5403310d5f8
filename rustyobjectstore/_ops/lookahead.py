"""What a reader of a Parquet file will ask for next, told by the file's own footer.

A columnar reader reads the footer, then the chunks of the columns it wants, row group by row
group, one call at a time (pyarrow reads a Python file under a lock, even the ranges its
``pre_buffer`` pass asks for all at once). At a cloud's latency each chunk is a round trip waited
for. Once chunks of two row groups have been read the file is being scanned: the chunks of every
column read so far (and of each column read from then on) in the other row groups are what comes
next, and they can be on their way, in parallel, before they are asked for. A read of one row
group (a Dask task's) fetches nothing ahead. (pyarrow's ``pre_buffer`` threads take their turns
at the lock in no set order, so the second read is most often in another row group; waiting for a
column's second row group instead cost a round trip more, at 20 ms about 10% of a two-column
read.)

A reader that goes through a row group chunk after chunk (pyarrow without pre-buffering reads
every column of a row group so) reads next what follows in the row group: once a chunk follows the
one read before it, the chunks after it in its row group are fetched ahead too, up to the reader's
read-ahead budget, as a sequential reader's blocks are.

This module only plans; ``blocks`` fetches the spans it names, within the reader's read-ahead
budget, pinned to the version opened. It also keeps the last bytes of the files whose open read
them (``FOOTER_READ``, what Arrow reads of a footer first), so that the footer read which follows
is served without a request.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from typing import TypeVar

from typing_extensions import Buffer

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.parquet import FOOTER_TAIL, ColumnChunk, column_chunks, metadata_length

_T = TypeVar("_T")

# Chunks at most this far apart are fetched by one request: Arrow's own hole limit when it
# coalesces a pre-buffer pass, so a span is what one of its reads would have been.
HOLE = 8 * 1024
# Scanning starts once whole chunks of this many row groups have been read.
SCAN_ROW_GROUPS = 2
# A footer longer than this (some 2,000 chunks) is not read for a layout: decoding one costs
# about 30 us a chunk (a footer of 10,000 chunks, 1.2 MB: 0.3 s), which a reader of a wide file
# that reads one row group would pay for nothing. (pyarrow's own reader, 15 times faster, is no
# way out: a corrupt footer can abort the process in it.)
MAX_FOOTER = 256 * 1024
# What Arrow's Parquet reader reads of a file first, from its end: the footer, if it is shorter.
FOOTER_READ = 64 * 1024
# Layouts and tails of this many files are kept, by version: pyarrow reads a footer through one
# open file and the columns through another, which never reads the footer again.
KEPT = 64
_layouts: dict[Hashable, list[ColumnChunk]] = {}
_tails: dict[Hashable, tuple[int, bytes]] = {}  # version -> (first byte, the bytes to the end)


def version_of(conf: StoreConfig, path: str, meta: ObjectMeta) -> Hashable:
    """What names this version of this object in this store: the spec by its hash, so that the
    process-wide tables keep no credentials alive."""
    return (hash(conf.spec()), path, meta.size, meta.e_tag, meta.last_modified)


def _remember(table: dict[Hashable, _T], key: Hashable, value: _T) -> None:
    table[key] = value
    while len(table) > KEPT:
        try:
            del table[next(iter(table))]  # the oldest; no lock: threads and forks share it
        except (StopIteration, RuntimeError, KeyError):
            break


def remember_tail(version: Hashable, start: int, data: bytes) -> None:
    """The bytes of ``version`` from ``start`` to its end, read by an open (or an ``info``) that
    fetched them instead of a head."""
    _remember(_tails, version, (start, data))


def tail_of(version: Hashable) -> tuple[int, bytes] | None:
    """The last bytes of ``version`` an earlier open read, and where they start."""
    return _tails.get(version)


class Lookahead:
    """One open file's layout, once its footer has been read, and the chunks already read or on
    their way."""

    def __init__(self, size: int, version: Hashable) -> None:
        """``version``: what names this version of this object (a layout learned through another
        open of it serves this one)."""
        self.size = size
        self.version = version
        self._use(_layouts.get(version, []))
        self.known = bool(self.chunks)  # the footer has been read (or the file is not Parquet)
        self.tail = b""  # the file's last bytes, read so far, while the footer is incomplete
        self.seen: dict[int, set[int]] = {}  # column -> row groups read
        self.scanning = False  # chunks of two row groups have been read
        self.fetched: set[int] = set()  # columns whose chunks have been planned ahead
        self.taken: set[int] = set()  # chunks read or planned, by index
        self.done: set[int] = set()  # chunks read, by index

    def learn(self, at: int, data: Buffer) -> None:
        """Bytes ``at`` to ``at + len(data)`` were read: if they end at the file's end, or reach
        the tail read so far, the footer may now be whole. (Arrow reads a footer longer than its
        first read whole, from its start to just before the last 8 bytes, over that read.)"""
        if self.known:
            return
        view = memoryview(data)
        n = view.nbytes
        start = self.size - len(self.tail)  # where the tail read so far starts
        if at + n == self.size and at < start:
            self.tail = bytes(view)
        elif self.tail and at < start <= at + n:
            self.tail = bytes(view[: start - at]) + self.tail
        else:
            return
        if len(self.tail) < FOOTER_TAIL:
            return
        length = metadata_length(self.tail[-FOOTER_TAIL:])
        if length is None or length > MAX_FOOTER:
            self.known, self.tail = True, b""  # not Parquet (or not worth it): no looking ahead
            return
        if len(self.tail) < length + FOOTER_TAIL:
            return  # the reader reads the rest of the footer next
        metadata = self.tail[-FOOTER_TAIL - length : -FOOTER_TAIL]
        self._use(sorted(column_chunks(metadata, self.size) or [], key=lambda c: c.start))
        self.known, self.tail = True, b""
        if self.chunks:
            _remember(_layouts, self.version, self.chunks)

    def _use(self, chunks: list[ColumnChunk]) -> None:
        self.chunks = chunks
        self.starts = [c.start for c in chunks]
        self.of_column: dict[int, list[int]] = {}  # column -> its chunks, by index, in file order
        for i, chunk in enumerate(chunks):
            self.of_column.setdefault(chunk.column, []).append(i)

    def columnar(self, at: int, end: int) -> bool:
        """Whether a read of ``at`` to ``end`` is of whole chunks, from a chunk's first byte to a
        chunk's end: a columnar reader's, which goes by the layout, not on in file order."""
        i = bisect.bisect_left(self.starts, at)
        if i == len(self.starts) or self.starts[i] != at:
            return False
        j = bisect.bisect_left(self.starts, end, lo=i) - 1
        return j >= i and self.chunks[j].end == end

    def expect(self, at: int, end: int, window: int = 0) -> list[tuple[int, int]]:
        """A read of ``at`` to ``end`` is about to be made: the spans to fetch ahead of the reads
        to come (each chunk named once, ever), in file order. ``window``: how far ahead of a
        reader going through a row group chunk after chunk its next chunks may be fetched."""
        if not self.chunks or at >= end:
            return []
        first = max(bisect.bisect_right(self.starts, at) - 1, 0)
        touched: set[int] = set()
        read: list[int] = []
        for i in range(first, len(self.chunks)):
            chunk = self.chunks[i]
            if chunk.start >= end:
                break
            if chunk.start < at or chunk.end > end:
                continue  # a chunk read in part (the footer's read ends in one) is not a column read
            read.append(i)
            self.taken.add(i)
            touched.add(chunk.column)
            self.seen.setdefault(chunk.column, set()).add(chunk.row_group)
        ahead = self._following(read, window)
        self.done.update(read)
        return self._spans(sorted(ahead + self._scanned(touched)))

    def _following(self, read: list[int], window: int) -> list[int]:
        """The chunks after those ``read`` in their row group, within ``window`` bytes, when the
        chunk just before them was read before: the reader goes through the row group chunk
        after chunk, as pyarrow without pre-buffering reads every column of a row group, and
        what follows is what it reads next (at most ``window`` for nothing if it stops, as a
        sequential reader's blocks ahead). Named in batches of at least half the window (or to
        the row group's end), so that small chunks come a request for many."""
        if not read or not window:
            return []
        i, j = read[0], read[-1]
        group = self.chunks[j].row_group
        if i == 0 or i - 1 not in self.done or self.chunks[i - 1].row_group != group:
            return []
        ahead: list[int] = []
        k, total, new = j + 1, 0, 0
        while k < len(self.chunks) and self.chunks[k].row_group == group:
            size = self.chunks[k].end - self.chunks[k].start
            if total and total + size > window:
                break
            total += size
            if k not in self.taken:
                ahead.append(k)
                new += size
            k += 1
        to_the_end = k == len(self.chunks) or self.chunks[k].row_group != group
        if new * 2 < window and not to_the_end:
            return []  # later, with more
        self.taken.update(ahead)
        return ahead

    def _scanned(self, touched: set[int]) -> list[int]:
        """Once chunks of two row groups have been read, the file is being scanned: the chunks in
        the other row groups of each column read (``touched`` by this read) not yet named."""
        if not self.scanning:
            if len(set().union(*self.seen.values())) < SCAN_ROW_GROUPS:
                return []
            # The file is being scanned: every column read so far is one the reader wants.
            self.scanning, touched = True, set(self.seen)
        new = touched - self.fetched
        if not new:
            return []
        self.fetched |= new
        # By column, not over every chunk: a wide file read column by column plans thousands.
        ahead = [i for c in new for i in self.of_column[c] if i not in self.taken]
        self.taken.update(ahead)
        return ahead

    def _spans(self, ahead: list[int]) -> list[tuple[int, int]]:
        """The chunks ``ahead`` (in file order) as spans, those at most ``HOLE`` apart as one."""
        spans: list[tuple[int, int]] = []
        for i in ahead:
            chunk = self.chunks[i]
            if spans and chunk.start - spans[-1][1] <= HOLE:
                spans[-1] = (spans[-1][0], chunk.end)
            else:
                spans.append((chunk.start, chunk.end))
        return spans
