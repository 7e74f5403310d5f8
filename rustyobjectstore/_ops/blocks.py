"""The blocks behind ``open_reader``: one version of an object, read in fixed-size blocks by ranged
gets pinned to the e_tag of the first answer, written once as steps for both reader twins.

Where a block's bytes live:

- ``held``: in shared memory, its request in flight or answered: the block being read and those
  requested ahead of it, at most ``read_ahead + 1`` in all. Reads copy straight out of them.
- ``cache``: copied into process memory, at most ``cache_blocks``, least recently used out first.
  A held block goes there when reads move away from it; one read through in order from its start
  (a sequential pass) is let go instead, so a scan does not flush the cache.
- nowhere: a read of ``DIRECT_READ`` bytes or more that jumps where no block is at hand (a
  columnar reader's column chunk) fetches just its bytes, in parts of at most a block, and lets
  them go once the read has them.
- ``pieces``: in shared memory, spans that a Parquet file's layout says its reader reads next
  (``lookahead``), fetched ahead in file order in parts, at most ``ahead_budget`` bytes not yet
  read and ``MAX_PIECES`` requests, and served to reads in whatever order they come (a span
  shorter than ``DIRECT_READ`` is not worth a request ahead: blocks serve it, as any short
  read). While there are any, they are the read-ahead: no block is fetched ahead of a read, and
  what a read needs beyond them is fetched as it is (nowhere, below).
- ``tail``: the object's last bytes, when the open read them (``fetch_tail``) or an earlier open
  of the same version did: what a footer-first reader (Parquet) reads first, served from there.

Unlike ``fetch_ranges``' window, held blocks outlive the step that asked for them (read-ahead is in
flight between reads), so the reader owns them and ``discard`` gives them up. Shared memory is
shared with every other call on the worker: blocks ahead are asked for only while the arena stays
at least half free, and after each operation a reader gives back what it holds if the arena has
run short, so readers left idle cannot starve other calls.
"""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict, deque

from typing_extensions import Buffer

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import (
    EarlyEOFError,
    ObjectStoreError,
    PreconditionFailedError,
    RangeNotSatisfiableError,
    WorkerCrashedError,
)
from rustyobjectstore._ops.calls import allocate, call, crash_retried, route, route_now
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.lookahead import Lookahead, remember_tail, tail_of, version_of
from rustyobjectstore._ops.meta import head
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.sinks import NEWLINE, Collect, Destination, IntoBuffer
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Call, Connection, response_field
from rustyobjectstore._worker.finalizers import later
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step

_LINES = re.compile(b"[^\n]*\n")
_LINES_TO_THE_END = re.compile(b"[^\n]*\n|[^\n]+")
LINE_CHUNK = 16 * 1024  # lines are split ahead from this much of the block at hand
# A read that jumps at least this far ahead of blocks at hand fetches just its bytes: what a
# columnar reader asks for, where neighbouring bytes are other columns it skips.
DIRECT_READ = 64 * 1024
# The most pieces fetched ahead and not yet read: each read looks through them, and a file of
# thousands of chunks planned ahead must not cost each read thousands of steps.
MAX_PIECES = 64


class _Fetch:
    """One block's request and the shared memory it lands in."""

    __slots__ = (
        "call", "checked", "conn", "keep", "length", "read_to", "region", "tries", "unread"
    )  # fmt: skip

    def __init__(
        self, conn: Connection, region: Region, call: Call, length: int, tries: int
    ) -> None:
        self.conn = conn
        self.region = region
        self.call = call
        self.length = length
        self.tries = tries  # crash retries spent on this block
        self.checked = False  # answered, and the answer is of the version opened
        self.read_to = 0  # read in order from its start up to here; -1 once read out of order
        self.keep = False  # worth caching when reads move away: it has been read from
        self.unread = length  # a piece's bytes not read yet, in whatever order they are read

    def view(self) -> memoryview:
        return self.conn.arena.read(self.region, self.length)

    def consumed(self, at: int, n: int) -> bool:
        """Notes that bytes ``at`` to ``at + n`` were read; True once the block has been read
        through in order from its start."""
        self.keep = True
        self.read_to = at + n if at == self.read_to else -1
        return self.read_to == self.length

    def landed(self) -> bool:
        return self.checked or self.call.done()

    def idle_in_short_arena(self) -> bool:
        """Answered, in an arena less than half free: memory other calls may be waiting for."""
        arena = self.conn.arena
        return self.landed() and arena.free_bytes < arena.size // 2

    def drop(self) -> None:
        """Gives the request up (the worker is told to stop it, if it still runs) and its memory
        back once it is answered (at once, if it is)."""
        self.conn.give_up(self.call, self.region)


class Blocks:
    """The reader's state: its version of the object, its position, and its blocks."""

    def __init__(
        self, pool: Pool, conf: StoreConfig, path: str, meta: ObjectMeta, block_size: int,
        cache_blocks: int, read_ahead: int, when: Conditions,
    ) -> None:  # fmt: skip
        self.pool = pool
        self.conf = conf
        self.path = path
        self.meta = meta
        self.size = meta.size
        self.block_size = block_size
        self.cache_blocks = cache_blocks
        self.read_ahead = read_ahead
        self.count = -(-meta.size // block_size)  # blocks in the object
        self.pos = 0
        self.expected = 0  # where a sequential read starts: where the last one ended
        self.ahead_of = -1  # the block whose read-ahead was sent last
        self.worker: tuple[Connection, int] | None = None
        self.held: dict[int, _Fetch] = {}
        self.spent: list[_Fetch] = []  # read through during this read, viewed by its sink
        self.cache: OrderedDict[int, bytes] = OrderedDict()
        self.lines: deque[bytes] = deque()  # split ahead, the first at ``lines_at``
        self.lines_at = -1
        self.closed = False
        self.when = when  # the version asked for, which every block request names
        # A columnar file's chunks fetched ahead of its reader (``lookahead``), by first byte,
        # and those still to send once the read-ahead budget has room.
        version = version_of(conf, path, meta)
        self.lookahead = Lookahead(meta.size, version) if read_ahead else None
        self.pieces: dict[int, _Fetch] = {}
        self.wanted: list[tuple[int, int]] = []  # in file order, each at most a part long
        self.tail_at, self.tail = tail_of(version) or (self.size, b"")
        if self.tail:
            self.learn(self.tail_at, self.tail)

    def span(self, k: int) -> tuple[int, int]:
        start = k * self.block_size
        return start, min(start + self.block_size, self.size)

    # Reading

    def read(self, n: int, sink: Destination) -> Step[None]:
        """Up to ``n`` bytes from the position (``n < 0``: to the end) into ``sink``; the position
        moves past what it took."""
        end = self.size if n < 0 else min(self.size, self.pos + n)
        at = self.pos
        if self.wanted:  # what this read fetches itself is not fetched again ahead of it
            # Each is at most a part long, so only those starting a part before ``at`` can reach it.
            lo = bisect.bisect_left(self.wanted, (at - self.part_size(),))
            hi = bisect.bisect_left(self.wanted, (end,), lo)
            self.wanted[lo:hi] = [w for w in self.wanted[lo:hi] if w[1] <= at]
        sequential = at == self.expected
        if self.lookahead is not None:
            self._plan(self.lookahead.expect(at, end, self.budget()))
            # While a layout's chunks are fetched ahead, they are the read-ahead; and a reader of
            # whole chunks reads by the layout (pyarrow without pre-buffering reads each column's
            # chunks of two row groups at once), not on in file order: blocks are fetched only
            # for what such a read needs.
            sequential = sequential and not (self.planned() or self.lookahead.columnar(at, end))
        try:
            while at < end and not sink.full:
                if at >= self.tail_at:
                    at += sink.take(memoryview(self.tail)[at - self.tail_at : end - self.tail_at])
                elif (piece := self._piece_at(at)) is not None:
                    at += yield from self._read_piece(piece, at, end, sink)
                else:
                    at = yield from self._read_span(at, self._next_piece(at, end), sequential, sink)
            sink.finish()
        finally:
            self._let_go_spent()
        self.pos = self.expected = at
        self._settle(sequential)

    def _read_span(self, at: int, end: int, sequential: bool, sink: Destination) -> Step[int]:
        """Bytes ``at`` to ``end``, none of them in a piece fetched ahead, from blocks or by a
        direct read; returns where the read got to."""
        if self._direct(at, end, sequential, sink):
            at += yield from self._read_direct(at, end, sink)
        while at < end and not sink.full:
            k = at // self.block_size
            if k not in self.cache and k not in self.held:
                self._make_room(k, sink)
                yield from self._fetch_now(k, sink=sink)
            # Before waiting: while sequential, the blocks ahead; else those this read needs.
            last = k + self.read_ahead
            if not sequential:
                last = min(last, k if sink.open_ended else (end - 1) // self.block_size)
            self._ask(k + 1, last)
            self._send_wanted()
            first = k * self.block_size
            data = self.cache.get(k)
            if data is not None:
                self.cache.move_to_end(k)
                view, fetch = memoryview(data), None
            else:
                fetch = yield from self._landed(k)
                view = fetch.view()
            taken = sink.take(view[at - first : min(len(view), end - first)])
            # The last block stays: nothing comes after it to make room for.
            if fetch is not None and fetch.consumed(at - first, taken) and k < self.count - 1:
                self._spend(k, sink)
            at += taken
        return at

    # Pieces fetched ahead: a columnar reader's chunks, named by ``lookahead``.

    def learn(self, at: int, data: Buffer) -> None:
        """A read at ``at`` returned ``data``: the footer of a Parquet file, maybe."""
        if self.lookahead is not None and not self.lookahead.known:
            self.lookahead.learn(at, data)

    def _plan(self, spans: list[tuple[int, int]]) -> None:
        """Queues ``spans`` in requests of at most ``part_size``, sent behind the read's own
        requests as the budget allows; what the tail or a held block holds is not asked for
        again."""
        spans = [(start, stop) for start, stop in spans if stop - start >= DIRECT_READ]
        if not spans:
            return
        part = self.part_size()
        for start, stop in _without(spans, [self.span(k) for k in self.held], self.tail_at):
            self.wanted.extend((s, min(s + part, stop)) for s in range(start, stop, part))
        # In file order, the order a scan reads in: a column first read late has its chunks in
        # the next row groups sent before those of earlier columns in the last ones.
        self.wanted.sort()

    def planned(self) -> bool:
        """Whether a layout's chunks are being fetched ahead (and so no block is)."""
        return bool(self.wanted or self.pieces)

    def _send_wanted(self) -> None:
        """Sends the queued pieces, without waiting, while those fetched and not yet read stay
        within ``ahead_budget`` and the arena stays half free."""
        if not self.wanted:
            return  # most calls: no layout, or all of it sent
        room = self.ahead_budget() - sum(f.length for f in self.pieces.values())
        while self.wanted and len(self.pieces) < MAX_PIECES:
            start, stop = self.wanted[0]
            if stop - start > room:
                return
            try:
                fetch = self._fetch_part_now(start, stop)
            except ObjectStoreError:
                return  # no worker to be had: the read that needs these bytes will say why
            if fetch is None:
                return
            del self.wanted[0]
            self.pieces[start] = fetch
            room -= stop - start

    def _piece_at(self, at: int) -> int | None:
        """The first byte of the piece that holds byte ``at``, if one does."""
        for start, fetch in self.pieces.items():
            if start <= at < start + fetch.length:
                return start
        return None

    def _next_piece(self, at: int, end: int) -> int:
        """Where the first piece (or the tail) after ``at`` starts, if before ``end``; else
        ``end``."""
        return min((s for s in (*self.pieces, self.tail_at) if at < s < end), default=end)

    def _read_piece(self, start: int, at: int, end: int, sink: Destination) -> Step[int]:
        """Bytes from ``at`` of the piece at ``start`` into ``sink``; a piece read whole goes."""
        fetch = self.pieces.pop(start)
        fetch = yield from self._part_landed(start, start + fetch.length, fetch)
        off = at - start
        taken = sink.take(fetch.view()[off : min(fetch.length, end - start)])
        fetch.unread -= taken
        if fetch.unread > 0:
            # The rest is still to be read, before or after these bytes: a reader's ranges need
            # not start where a piece does (pyarrow's out of order, a row group's end).
            self.pieces[start] = fetch
        else:
            self._spend_fetch(fetch, sink)
            self._send_wanted()  # its room goes to the next piece at once, mid-read
        return taken

    def _direct(self, at: int, end: int, sequential: bool, sink: Destination) -> bool:
        """Whether the read jumped to a big span that no block at hand touches: a Parquet or
        other columnar reader asking for a column chunk. Its bytes are fetched as they are,
        rather than the blocks around them (four times the bytes for a 2 MiB chunk in 8 MiB
        blocks), and kept by nobody. While chunks come ahead, so does any span between them,
        however short: a block would fetch bytes of chunks on their way."""
        if sequential or sink.open_ended or (end - at < DIRECT_READ and not self.planned()):
            return False
        span = range(at // self.block_size, (end - 1) // self.block_size + 1)
        return not any(k in self.held or k in self.cache for k in span)

    def part_size(self) -> int:
        """The most a direct read's or a piece's request asks for: a ranged get's sweet spot
        (``multipart_get_part_size``) however small the blocks, so that a column chunk is one
        request, not one per block."""
        settings = self.pool.settings
        return max(self.block_size, min(settings.multipart_get_part_size, settings.arena_size // 2))

    def budget(self) -> int:
        """The most bytes a direct read keeps in flight: ``read_ahead + 1`` blocks' worth, or as
        much as a whole get keeps in flight (``max_parallel_parts`` parts), whichever is more.
        At a cloud's latency what is not in flight is waited for, one round trip at a time."""
        parallel = self.pool.settings.max_parallel_parts * self.part_size()
        return max((self.read_ahead + 1) * self.block_size, parallel)

    def ahead_budget(self) -> int:
        """The most bytes that pieces fetched ahead and not yet read may hold: twice ``budget``,
        so that a range the reader puts off (pyarrow's pre-buffer threads take their turns in no
        set order) holds its bytes while the next ones still come a whole budget ahead."""
        return 2 * self.budget()

    def _read_direct(self, at: int, end: int, sink: Destination) -> Step[int]:
        """Bytes ``at`` to ``end`` into ``sink`` by ranged gets of at most ``part_size`` each, as
        many in flight as the budget holds (at least one, and past the first only while the
        arena stays half free), in order."""
        part = self.part_size()
        parts = deque((s, min(s + part, end)) for s in range(at, end, part))
        budget = self.budget()
        flying: deque[tuple[int, int, _Fetch]] = deque()
        taken = 0
        try:
            while parts or flying:
                while parts and (
                    not flying
                    or sum(b - a for a, b, _ in flying) + parts[0][1] - parts[0][0] <= budget
                ):
                    start, stop = parts[0]
                    fetch = yield from self._fetch_part(start, stop, 0, not flying, sink)
                    if fetch is None:
                        break  # the arena is short: these first
                    flying.append((start, stop, fetch))
                    parts.popleft()
                self._send_wanted()
                start, stop, fetch = flying.popleft()
                fetch = yield from self._part_landed(start, stop, fetch)
                taken += sink.take(fetch.view())
                self._spend_fetch(fetch, sink)
        finally:
            for _, _, fetch in flying:
                fetch.drop()
        return taken

    def _fetch_part(
        self, start: int, stop: int, tries: int, wait: bool, sink: Destination | None = None
    ) -> Step[_Fetch | None]:
        if not wait:
            return self._fetch_part_now(start, stop)
        conn, store = self._worker()
        region = yield from self._region_for(conn, stop - start, sink)
        return self._request(start, stop, conn, store, region, tries, awaited=True)

    def _fetch_part_now(self, start: int, stop: int) -> _Fetch | None:
        """Requests bytes ``start`` to ``stop`` if the arena, left at least half free, has room."""
        conn, store = self._worker()
        arena = conn.arena
        if arena.free_bytes - (stop - start) < arena.size // 2:
            return None
        region = arena.take(stop - start)
        if region is None:
            return None
        return self._request(start, stop, conn, store, region, 0, awaited=False)

    def _part_landed(self, start: int, stop: int, fetch: _Fetch) -> Step[_Fetch]:
        """``_landed`` for a part of a direct read."""
        while not fetch.checked:
            try:
                response: Message = yield fetch.call
                self._check(fetch, response)
            except WorkerCrashedError:
                fetch.drop()
                if fetch.tries >= self.pool.settings.crash_retries_for_reads:
                    raise
                again = yield from self._fetch_part(start, stop, fetch.tries + 1, True)
                assert again is not None  # a part waited for is always had
                fetch = again
            except RangeNotSatisfiableError as exc:
                fetch.drop()
                raise self._changed("it is shorter now") from exc
            except BaseException:
                fetch.drop()
                raise
        return fetch

    def at_hand(self, n: int) -> memoryview | None:
        """What a read of ``n`` bytes at the position wants, if a block at hand (cached, or held and
        checked) holds all of it and the read ends inside that block (or in the last one): such a
        read needs no request and changes no block, so it can skip the step and its driver. None
        otherwise, the position not at a byte, or ``n`` 0."""
        if not 0 <= self.pos < self.size or n == 0:
            return None
        if self.pos >= self.tail_at:
            off = self.pos - self.tail_at
            return memoryview(self.tail)[off : None if n < 0 else off + n]
        k, off = divmod(self.pos, self.block_size)
        data = self.cache.get(k)
        if data is not None:
            view = memoryview(data)
        else:
            fetch = self.held.get(k)
            if fetch is None or not fetch.checked:
                return None
            view = fetch.view()
        end = len(view) if n < 0 else min(len(view), off + n)
        if end == len(view) and k < self.count - 1:
            return None  # reads the block through: the step lets it go
        return view[off:end]

    def took(self, n: int) -> None:
        """A read served ``at_hand`` took ``n`` bytes; a sequential one sends the read-ahead (which
        never waits) once per block, so that the step which reaches the block's end finds the next
        one on its way."""
        if self.pos >= self.tail_at:
            self.pos = self.expected = self.pos + n
            return
        k, off = divmod(self.pos, self.block_size)
        fetch = self.held.get(k)
        if fetch is not None:
            fetch.consumed(off, n)
        else:
            self.cache.move_to_end(k)
        sequential = self.pos == self.expected and not self.planned()
        self.pos = self.expected = self.pos + n
        if sequential and self.ahead_of != k:
            self.ahead_of = k
            self._ask(k + 1, k + self.read_ahead)

    def _settle(self, sequential: bool) -> None:
        """After a read: blocks outside the window at the position go (at or past the end, the
        window at the last block), read-ahead goes out."""
        k = max(0, min(self.pos, self.size - 1)) // self.block_size
        for j in [j for j in self.held if not k <= j <= k + self.read_ahead]:
            self._evict(j)
        if sequential and self.pos < self.size:
            self.ahead_of = k
            self._ask(k, k + self.read_ahead)
        self._send_wanted()
        self.relieve()

    def relieve(self) -> None:
        """Gives back the answered blocks held in an arena that has run short (less than half free):
        an idle reader must not keep memory that other calls wait for."""
        # Asked again after each one goes: what it gave back may be enough.
        for j, fetch in list(self.held.items()):
            if fetch.idle_in_short_arena():
                self._evict(j)
        for start, fetch in list(self.pieces.items()):
            if fetch.idle_in_short_arena():
                self.pieces.pop(start).drop()  # a later read fetches its bytes itself

    def _room(self) -> int:
        return self.read_ahead + 1 - len(self.held) - len(self.spent)

    def _make_room(self, k: int, sink: Destination) -> None:
        """Room for block ``k`` within ``read_ahead + 1`` held blocks: the farthest ahead go first,
        then, the sink's pieces copied, those behind ``k``."""
        while self._room() <= 0:
            ahead = [j for j in self.held if j > k]
            if not ahead:
                sink.harden()
                self._let_go_spent()
                for j in [j for j in self.held if j < k]:
                    self._evict(j)
                return
            self._drop(max(ahead))

    def _spend(self, k: int, sink: Destination) -> None:
        """Block ``k`` has been read through: let go now, or once the read is over if the sink
        still views it (one such block at most: a longer read copies what it has)."""
        self._spend_fetch(self.held.pop(k), sink)

    def _spend_fetch(self, fetch: _Fetch, sink: Destination) -> None:
        if sink.keeps_views and not self.spent:
            self.spent.append(fetch)
            return
        sink.harden()
        self._let_go_spent()
        fetch.drop()

    def _let_go_spent(self) -> None:
        spent, self.spent = self.spent, []
        for fetch in spent:
            fetch.drop()

    def _evict(self, k: int) -> None:
        """Block ``k`` leaves shared memory, copied into the cache if it has been read from."""
        fetch = self.held.pop(k)
        try:
            if self.cache_blocks and fetch.keep and fetch.read_to != fetch.length:
                if self._ready(fetch):
                    self._remember(k, bytes(fetch.view()))
        finally:
            fetch.drop()

    def _remember(self, k: int, data: bytes) -> None:
        self.cache[k] = data
        self.cache.move_to_end(k)
        while len(self.cache) > self.cache_blocks:
            self.cache.popitem(last=False)

    def _drop(self, k: int) -> None:
        self.held.pop(k).drop()

    # Requests

    def _send(
        self, k: int, conn: Connection, store: int, region: Region, tries: int, awaited: bool
    ) -> _Fetch:
        start, end = self.span(k)
        fetch = self.held[k] = self._request(start, end, conn, store, region, tries, awaited)
        return fetch

    def _request(
        self, start: int, end: int, conn: Connection, store: int, region: Region, tries: int,
        awaited: bool,
    ) -> _Fetch:  # fmt: skip
        message = codec.get(store, self.path, region, whole=True, range=(start, end),
                            when=self.when.pinned(self.meta.e_tag))  # fmt: skip
        try:
            call = conn.request(message, "get", self.path, awaited=awaited)
        except BaseException:
            conn.arena.release(region)  # never sent: nothing writes it
            raise
        return _Fetch(conn, region, call, end - start, tries)

    def _worker(self) -> tuple[Connection, int]:
        """The worker of the open, while it lives: one worker's blocks come from one process, as
        a whole get's parts do (spread over several, sequential reads were slower)."""
        if self.worker is None or not self.worker[0].alive:
            self.worker = route_now(self.pool, self.conf, self.path)
        return self.worker

    def _fetch_now(self, k: int, tries: int = 0, sink: Destination | None = None) -> Step[_Fetch]:
        """Requests block ``k``, waiting for shared memory if need be: a read needs it next."""
        conn, store = self._worker()
        start, end = self.span(k)
        region = yield from self._region_for(conn, end - start, sink)
        return self._send(k, conn, store, region, tries, awaited=True)

    def _region_for(self, conn: Connection, length: int, sink: Destination | None) -> Step[Region]:
        """Shared memory for a request the read waits on. Where the arena has no room now, what
        the reader itself holds goes first (its blocks, the pieces fetched ahead, the block its
        ``sink`` still views): waiting with them could wait forever, for room that is its own (a
        20 MiB arena holds two blocks of 9 MiB, not three)."""
        region = conn.arena.take(length)
        if region is not None:
            return region
        if sink is not None:
            sink.harden()
            self._let_go_spent()
        for j in list(self.held):
            self._evict(j)
        pieces, self.pieces = self.pieces, {}
        for fetch in pieces.values():
            fetch.drop()
        return (yield from allocate(conn.arena, length))

    def _ask(self, first: int, last: int) -> None:
        """Requests blocks ``first`` to ``last`` that are neither held nor cached, as far as there is
        room, without waiting."""
        for j in range(first, min(last + 1, self.count)):
            if j in self.held or j in self.cache:
                continue
            if self._room() <= 0 or not self._fetch_ahead(j):
                return

    def _fetch_ahead(self, k: int) -> bool:
        try:
            fetch = self._fetch_part_now(*self.span(k))
        except ObjectStoreError:
            return False  # no worker to be had: a read that needs the block will say why
        if fetch is None:
            return False
        self.held[k] = fetch
        return True

    def _landed(self, k: int) -> Step[_Fetch]:
        """Held block ``k``, answered and checked; a worker that died under it costs a retry."""
        fetch = self.held[k]
        while not fetch.checked:
            try:
                response: Message = yield fetch.call
                self._check(fetch, response)
            except WorkerCrashedError:
                self._drop(k)
                if fetch.tries >= self.pool.settings.crash_retries_for_reads:
                    raise
                fetch = yield from self._fetch_now(k, fetch.tries + 1)
            except RangeNotSatisfiableError as exc:
                self._drop(k)
                raise self._changed("it is shorter now") from exc
            except BaseException:
                # An error answer, or the caller stopped waiting (cancelled, a deadline, Ctrl-C):
                # the request is given up, as every call's is.
                self._drop(k)
                raise
        return fetch

    def _check(self, fetch: _Fetch, response: Message) -> None:
        """The answer is of the version opened (what ``if_match`` asks of the server, checked again
        here, and all there is where the backend gives no e_tag) and complete."""
        meta = ObjectMeta.from_wire(response_field(response, "meta"))
        opened = self.meta
        if (meta.size, meta.e_tag) != (opened.size, opened.e_tag) or (
            opened.e_tag is None and meta.last_modified != opened.last_modified
        ):
            raise self._changed(f"e_tag {opened.e_tag} then {meta.e_tag}")
        written = int(response_field(response, "written"))
        if written != fetch.length:
            raise EarlyEOFError(
                f"a block returned {written} of {fetch.length} bytes", op="get", path=self.path
            )
        fetch.checked = True

    def _ready(self, fetch: _Fetch) -> bool:
        """Answered with the bytes of this version, without waiting."""
        if fetch.checked:
            return True
        if not fetch.call.done() or fetch.call.exception() is not None:
            return False
        try:
            self._check(fetch, fetch.call.result())
        except ObjectStoreError:
            return False
        return True

    def _changed(self, how: str) -> PreconditionFailedError:
        return PreconditionFailedError(
            f"the object changed since it was opened ({how})", op="get", path=self.path
        )

    # Ending

    def discard(self) -> None:
        """Lets go of every block without waiting; the reader is closed."""
        self.closed = True
        held, self.held = self.held, {}
        pieces, self.pieces = self.pieces, {}
        self.wanted.clear()
        for fetch in [*held.values(), *pieces.values()]:
            fetch.drop()
        self._let_go_spent()
        self.cache.clear()

    def abandoned(self) -> None:
        """For the finalizer of the reader: queues ``discard`` if it is still open."""
        if not self.closed:
            later(self.discard)


def _without(
    spans: list[tuple[int, int]], holes: list[tuple[int, int]], end: int
) -> list[tuple[int, int]]:
    """``spans`` (in order, apart) cut short at ``end`` and without the bytes of ``holes``."""
    holes = sorted(holes)
    left: list[tuple[int, int]] = []
    for start, stop in spans:
        stop = min(stop, end)
        for a, b in holes:
            if b <= start or a >= stop:
                continue
            if a > start:
                left.append((start, a))
            start = max(start, b)
        if start < stop:
            left.append((start, stop))
    return left


def open_blocks(
    pool: Pool, conf: StoreConfig, path: str, block_size: int, cache_blocks: int,
    read_ahead: int, when: Conditions = NONE, fetch_first: bool = True,
    meta: ObjectMeta | None = None, fetch_tail: int = 0,
) -> Step[Blocks]:  # fmt: skip
    """One request: the first block, whose answer tells the size and the e_tag that every later
    request is pinned to; with ``fetch_tail``, the last bytes instead, for a footer-first reader;
    without ``fetch_first``, a head, for readers that start elsewhere; with ``meta`` (a head's or
    a listing's answer), none: every request is pinned to it."""
    arena_size = pool.settings.arena_size
    if block_size > arena_size // 2:
        raise ValueError(
            f"block_size ({block_size}) must be at most half of StaticConfig.arena_size "
            f"({arena_size})"
        )
    if meta is not None:
        return Blocks(pool, conf, path, meta, block_size, cache_blocks, read_ahead, when)
    if fetch_tail:
        meta = yield from read_tail(pool, conf, path, fetch_tail, when)
        return Blocks(pool, conf, path, meta, block_size, cache_blocks, read_ahead, when)
    if not fetch_first:
        meta = yield from head(pool, conf, path, when)
        return Blocks(pool, conf, path, meta, block_size, cache_blocks, read_ahead, when)
    try:
        meta, first = yield from _first_block(pool, conf, path, block_size, when)
    except RangeNotSatisfiableError:
        # Only an empty object has no byte at 0; the answer says nothing more, a head does.
        meta = yield from head(pool, conf, path, when)
        first = None
    blocks = Blocks(pool, conf, path, meta, block_size, cache_blocks, read_ahead, when)
    if first is not None:
        blocks.held[0] = first
        blocks.worker = first.conn, first.conn.store_id(conf.spec())
        blocks.relieve()
    return blocks


def read_tail(
    pool: Pool, conf: StoreConfig, path: str, n: int, when: Conditions = NONE
) -> Step[ObjectMeta]:
    """What a head tells, and the object's last ``n`` bytes (all of it, if it is shorter), in one
    request where the store takes a suffix range (S3, GCS; Azure makes it two); the bytes are kept
    for the opens of this version that follow (``lookahead.tail_of``)."""
    try:
        meta, start, data = yield from _suffix(pool, conf, path, n, when)
    except RangeNotSatisfiableError:
        return (yield from head(pool, conf, path, when))  # an empty object has no last byte
    remember_tail(version_of(conf, path, meta), start, data)
    return meta


@crash_retried(write=False)
def _suffix(
    pool: Pool, conf: StoreConfig, path: str, n: int, when: Conditions
) -> Step[tuple[ObjectMeta, int, bytes]]:
    conn, store = yield from route(pool, conf, path)
    region = yield from allocate(conn.arena, n)
    message = codec.get(store, path, region, whole=True, suffix=n, when=when.first())
    response = yield from call(conn, message, "get", path, region)
    try:
        meta = ObjectMeta.from_wire(response_field(response, "meta"))
        start = int(response_field(response, "start"))
        written = int(response_field(response, "written"))
        if start + written != meta.size:
            raise EarlyEOFError(
                f"the last {n} bytes of a {meta.size}-byte object came as {written} bytes at "
                f"{start}", op="get", path=path,
            )  # fmt: skip
        return meta, start, bytes(conn.arena.read(region, written))
    finally:
        conn.arena.release(region)


@crash_retried(write=False)
def _first_block(
    pool: Pool, conf: StoreConfig, path: str, block_size: int, when: Conditions
) -> Step[tuple[ObjectMeta, _Fetch | None]]:
    conn, store = yield from route(pool, conf, path)
    region = yield from allocate(conn.arena, block_size)
    message = codec.get(store, path, region, whole=True, range=(0, block_size), when=when.first())
    try:
        call = conn.request(message, "get", path, awaited=True)
    except BaseException:
        conn.arena.release(region)
        raise
    fetch = _Fetch(conn, region, call, block_size, 0)
    try:
        response: Message = yield call
        meta = ObjectMeta.from_wire(response_field(response, "meta"))
        fetch.length = min(block_size, meta.size)
        if int(response_field(response, "written")) != fetch.length:
            raise EarlyEOFError(
                f"the first block returned {response.get('written')} of {fetch.length} bytes",
                op="get", path=path,
            )  # fmt: skip
    except BaseException:
        fetch.drop()
        raise
    if fetch.length == 0:
        fetch.drop()  # an empty object, read whole (S3 servers answer a range of one so)
        return meta, None
    fetch.checked = True
    # Kept if reads go elsewhere first: a Parquet reader reads the footer, then comes back.
    fetch.keep = True
    return meta, fetch


# Reads without a step, when the block at hand serves them (None: it does not).


def bytes_at_hand(blocks: Blocks, n: int) -> bytes | None:
    piece = blocks.at_hand(n)
    if piece is None:
        return None
    blocks.learn(blocks.pos, piece)
    blocks.took(len(piece))
    return bytes(piece)


def into_at_hand(blocks: Blocks, view: memoryview) -> int | None:
    piece = blocks.at_hand(len(view))
    if piece is None:
        return None
    view[: len(piece)] = piece
    blocks.learn(blocks.pos, piece)
    blocks.took(len(piece))
    return len(piece)


def line_at_hand(blocks: Blocks, limit: int) -> bytes | None:
    if limit < 0:
        return next_line(blocks)
    piece = blocks.at_hand(limit)
    if piece is None:
        return None
    found = NEWLINE.search(piece)
    if found is not None:
        piece = piece[: found.end()]
    elif len(piece) != limit and blocks.pos + len(piece) != blocks.size:
        return None  # the line goes on in the next block
    blocks.took(len(piece))
    return bytes(piece)


def next_line(blocks: Blocks) -> bytes | None:
    """A whole line, from those split ahead while the position is where they start (any read or
    seek elsewhere moves it, and they are split anew)."""
    lines = blocks.lines
    if not lines or blocks.lines_at != blocks.pos:
        lines = _split_lines(blocks)
        if not lines:
            return None
    line = lines.popleft()
    blocks.pos = blocks.expected = blocks.lines_at = blocks.pos + len(line)
    return line


def _split_lines(blocks: Blocks) -> deque[bytes]:
    """The whole lines in the next ``LINE_CHUNK`` bytes of the block at hand, noted as read at once
    (what is noted read only steers what the cache keeps)."""
    piece = blocks.at_hand(LINE_CHUNK)
    if piece is None:
        return deque()
    to_the_end = blocks.pos + len(piece) == blocks.size
    lines = deque((_LINES_TO_THE_END if to_the_end else _LINES).findall(piece))
    if lines:
        start = blocks.pos
        blocks.took(sum(map(len, lines)))
        blocks.pos = blocks.expected = start
    blocks.lines, blocks.lines_at = lines, blocks.pos
    return lines


# The steps, for every read.


def read_bytes(blocks: Blocks, n: int) -> Step[bytes]:
    at = blocks.pos
    sink = Collect(size=max(0, (blocks.size if n < 0 else min(blocks.size, at + n)) - at))
    yield from blocks.read(n, sink)
    blocks.learn(at, sink.data)
    return sink.data


def read_into(blocks: Blocks, view: memoryview) -> Step[int]:
    sink, at = IntoBuffer(view, blocks.path), blocks.pos
    yield from blocks.read(len(view), sink)
    blocks.learn(at, view[: sink.at])
    return sink.at


def read_line(blocks: Blocks, limit: int) -> Step[bytes]:
    sink = Collect(line=True)
    yield from blocks.read(limit, sink)
    return sink.data
