"""A Parquet file's column chunks fetched ahead of its reader (``rustyobjectstore/_ops/lookahead.py``):
once chunks of two row groups have been read, the other chunks of the columns read come in parallel, within the
read-ahead budget, pinned to the version opened; and no other read pattern sends one request or
byte more than without it. Requests and bytes are counted by a loopback S3 server."""

from __future__ import annotations

import io
import itertools
import random
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import own_pool, s3_at
from emulators import AZURITE_ACCOUNT, AZURITE_KEY, RunningServer
from faultserver import FaultServer, Request, e_tag_of
from parquet_layout import column_spans, layout_of, row_group_spans

import rustyobjectstore as ros
from rustyobjectstore import fsspec as rosfs
from rustyobjectstore._ops import blocks as blocks_module
from rustyobjectstore._ops import lookahead
from rustyobjectstore._ops.blocks import DIRECT_READ, Blocks, _without
from rustyobjectstore._ops.lookahead import HOLE
from rustyobjectstore._ops.parquet import metadata_length
from rustyobjectstore._worker import lifetime

KiB = 1024
ROW_GROUPS, ROWS = 8, 20_000
BLOCK = 256 * KiB


@pytest.fixture(scope="module")
def table() -> pa.Table:
    rng = random.Random(5)
    # Random floats do not compress: each chunk is 156 KiB, more than a direct read's least.
    return pa.table(
        {name: pa.array([rng.random() for _ in range(ROWS * ROW_GROUPS)]) for name in "abcd"}
    )


@pytest.fixture(scope="module")
def raw(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROWS, compression="none")
    return sink.getvalue()


@pytest.fixture
def server(raw: bytes) -> Iterator[FaultServer]:
    with FaultServer() as server:
        server.objects["/bucket/t.parquet"] = raw
        yield server


def gets(server: FaultServer) -> list[Request]:
    return [r for r in server.requests if r.method == "GET"]


def fetched(server: FaultServer) -> int:
    total = 0
    for r in gets(server):
        found = re.fullmatch(r"bytes=(\d*)-(\d+)", r.range or "")
        assert found, r.range
        if found[1]:
            total += int(found[2]) - int(found[1]) + 1
        else:  # a suffix: the last bytes, or all of a shorter object
            total += min(int(found[2]), len(server.objects[r.path]))
    return total


def blocks_of(reader: ros.RangeReader) -> Blocks:
    blocks: Blocks = reader._blocks
    return blocks


@pytest.fixture(autouse=True)
def no_layouts_kept() -> Iterator[None]:
    """Each test learns the footer itself."""
    lookahead._layouts.clear()
    lookahead._tails.clear()
    yield
    lookahead._layouts.clear()
    lookahead._tails.clear()


@contextmanager
def budgeted_reader(
    server: FaultServer, read_ahead: int, block: int = BLOCK
) -> Iterator[ros.RangeReader]:
    """A reader of t.parquet in parts of 256 KiB, one part in flight: its budget is
    ``read_ahead + 1`` blocks or a part, whichever is more, and what it fetches ahead of a
    Parquet reader twice that, which a few chunks fill."""
    conf = s3_at(server.endpoint)
    with (
        own_pool(multipart_get_part_size=BLOCK, max_parallel_parts=1),
        ros.open_reader("t.parquet", conf, block_size=block, read_ahead=read_ahead,
                        fetch_first=False) as reader,
    ):  # fmt: skip
        yield reader


def test_a_column_read_in_two_row_groups_has_its_other_chunks_fetched_ahead(
    server: FaultServer, raw: bytes, table: pa.Table
) -> None:
    # Room ahead for twice a part of 256 KiB (two blocks of 128 KiB): three chunks.
    with budgeted_reader(server, read_ahead=1, block=BLOCK // 2) as reader:
        parquet = pq.ParquetFile(reader, pre_buffer=False)
        spans = column_spans(raw, 1)
        assert parquet.read_row_group(0, columns=["b"]).equals(table.select(["b"]).slice(0, ROWS))
        assert blocks_of(reader).pieces == {}  # one row group: nothing guessed
        before = len(gets(server))
        assert parquet.read_row_group(1, columns=["b"]).equals(
            table.select(["b"]).slice(ROWS, ROWS)
        )
        # Column b of the six other row groups is on its way before it is asked for: within
        # the budget at a time, the rest sent as the reads take what came.
        blocks = blocks_of(reader)
        assert blocks.ahead_budget() == 2 * BLOCK
        ahead = sorted(blocks.pieces)
        assert 0 < len(ahead) < ROW_GROUPS - 2
        assert ahead == [s for s, _ in spans[2 : 2 + len(ahead)]]
        assert sum(f.length for f in blocks.pieces.values()) <= blocks.ahead_budget()
        assert len(gets(server)) == before + 1 + len(ahead)
        for i in range(2, ROW_GROUPS):
            got = parquet.read_row_group(i, columns=["b"])
            assert got.equals(table.select(["b"]).slice(i * ROWS, ROWS))
            assert sum(f.length for f in blocks.pieces.values()) <= blocks.ahead_budget()
        assert blocks.pieces == {} and not blocks.wanted
    # Every chunk of b fetched once, and nothing else but the footer.
    asked = sorted(r.range or "" for r in gets(server))
    assert asked == sorted([f"bytes={s}-{e - 1}" for s, e in spans] + [asked_footer(raw, server)])
    first, *rest = [r for r in server.requests if r.method in ("GET", "HEAD")]
    assert first.method == "HEAD"
    assert all(r.if_match == e_tag_of(raw) for r in rest)  # every byte of the version opened


def test_chunks_of_two_row_groups_start_the_scan_of_every_column_read(
    server: FaultServer, raw: bytes, table: pa.Table
) -> None:
    """As pyarrow's pre-buffer threads read: b in one row group, then d in another. Neither
    column has been read twice, yet the file is being scanned: both come ahead, once each."""
    with budgeted_reader(server, read_ahead=64) as reader:
        parquet = pq.ParquetFile(reader, pre_buffer=False)
        assert parquet.read_row_group(5, columns=["b"]).equals(
            table.select(["b"]).slice(5 * ROWS, ROWS)
        )
        assert blocks_of(reader).pieces == {}  # one row group: nothing guessed
        assert parquet.read_row_group(2, columns=["d"]).equals(
            table.select(["d"]).slice(2 * ROWS, ROWS)
        )
        b, d = column_spans(raw, 1), column_spans(raw, 3)
        ahead = [s for s, _ in b if s != b[5][0]] + [s for s, _ in d if s != d[2][0]]
        assert sorted(blocks_of(reader).pieces) == sorted(ahead)
        for i in range(ROW_GROUPS):
            columns = [c for c in "bd" if (i, c) not in ((5, "b"), (2, "d"))]
            got = parquet.read_row_group(i, columns=columns)
            assert got.equals(table.select(columns).slice(i * ROWS, ROWS))
        assert blocks_of(reader).pieces == {} and not blocks_of(reader).wanted
    # Every chunk of b and d fetched once, and nothing else but the footer.
    asked = sorted(r.range or "" for r in gets(server))
    assert asked == sorted([f"bytes={s}-{e - 1}" for s, e in b + d] + [asked_footer(raw, server)])


def test_a_column_read_late_has_its_next_chunks_sent_before_earlier_columns_last_ones(
    server: FaultServer, raw: bytes, table: pa.Table
) -> None:
    """A reader of a and c, row group after row group: the chunks of a column first read late
    are needed before those of the columns read earlier in the last row groups. The room ahead
    goes to them first, in file order."""
    with budgeted_reader(server, read_ahead=1, block=BLOCK // 2) as reader:
        parquet = pq.ParquetFile(reader, pre_buffer=False)
        blocks = blocks_of(reader)
        a, c = column_spans(raw, 0), column_spans(raw, 2)
        room = blocks.ahead_budget() // (a[0][1] - a[0][0])  # chunks
        assert 2 <= room < ROW_GROUPS - 3
        for i, column in [(0, "a"), (1, "a"), (0, "c")]:
            got = parquet.read_row_group(i, columns=[column])
            assert got.equals(table.select([column]).slice(i * ROWS, ROWS))
        assert sorted(blocks.pieces) == [s for s, _ in a[2 : 2 + room]]  # the room is taken
        assert parquet.read_row_group(2, columns=["a"]).equals(
            table.select(["a"]).slice(2 * ROWS, ROWS)
        )
        # Its room goes to c's chunk in row group 1, not to a's in the next row group.
        assert sorted(blocks.pieces) == sorted([s for s, _ in a[3 : 2 + room]] + [c[1][0]])
        for i in range(ROW_GROUPS):
            done = ((0, "a"), (1, "a"), (0, "c"), (2, "a"))
            columns = [name for name in "ac" if (i, name) not in done]
            got = parquet.read_row_group(i, columns=columns)
            assert got.equals(table.select(columns).slice(i * ROWS, ROWS))
        assert blocks.pieces == {} and not blocks.wanted
    asked = sorted(r.range or "" for r in gets(server))
    assert asked == sorted([f"bytes={s}-{e - 1}" for s, e in a + c] + [asked_footer(raw, server)])


def _read_chunks(reader: ros.RangeReader, raw: bytes, spans: list[tuple[int, int]]) -> None:
    for start, end in spans:
        reader.seek(start)
        assert reader.read(end - start) == raw[start:end]


def _covered(blocks: Blocks) -> list[tuple[int, int]]:
    """The bytes the pieces ahead hold, as spans, those that touch as one."""
    spans: list[tuple[int, int]] = []
    for start in sorted(blocks.pieces):
        end = start + blocks.pieces[start].length
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def test_a_reader_going_through_a_row_group_chunk_after_chunk_has_the_next_fetched_ahead(
    server: FaultServer, raw: bytes
) -> None:
    """pyarrow without pre-buffering reads every column of a row group, one chunk after the
    next: once a chunk follows the one read before it, the rest of the row group comes ahead,
    within the budget, in requests of a part, and is read with no request."""
    a, b, c, d = (column_spans(raw, column)[0] for column in range(4))
    with budgeted_reader(server, read_ahead=4) as reader:  # a budget of five blocks: the rest
        blocks = blocks_of(reader)
        _read_chunks(reader, raw, [(len(raw) - lookahead.FOOTER_READ, len(raw)), a])
        assert blocks.pieces == {}  # one chunk: no telling yet
        _read_chunks(reader, raw, [b])
        assert _covered(blocks) == [(c[0], d[1])]  # as far as the row group goes, not past it
        before = len(gets(server))
        _read_chunks(reader, raw, [c, d])
        assert len(gets(server)) == before and blocks.pieces == {} and not blocks.wanted
    asked = sorted(_span_asked(r) for r in gets(server)[1:])
    assert asked[:2] == [a, b]
    assert all(x[1] == y[0] for x, y in itertools.pairwise(asked[1:]))  # once each
    assert asked[-1][1] == d[1] and all(e - s <= BLOCK for s, e in asked[2:])


def test_a_row_group_read_chunk_after_chunk_has_at_most_the_budget_ahead(
    server: FaultServer, raw: bytes
) -> None:
    """What a reader that stops reading a row group leaves unread is at most the budget: here
    one chunk, ahead of each read."""
    a, b, c, d = (column_spans(raw, column)[0] for column in range(4))
    with budgeted_reader(server, read_ahead=1, block=BLOCK // 2) as reader:  # a 256 KiB budget
        blocks = blocks_of(reader)
        assert blocks.budget() < (c[1] - c[0]) + (d[1] - d[0])
        _read_chunks(reader, raw, [(len(raw) - lookahead.FOOTER_READ, len(raw)), a, b])
        assert _covered(blocks) == [c]
        _read_chunks(reader, raw, [c])
        assert _covered(blocks) == [d]
        _read_chunks(reader, raw, [d])
        assert blocks.pieces == {}
    assert sorted(_span_asked(r) for r in gets(server)[1:]) == [a, b, c, d]


def test_pieces_ahead_are_at_most_max_pieces_requests(
    server: FaultServer, raw: bytes, table: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many chunks a budget has room for, at most ``MAX_PIECES`` are ahead at a time (a
    read looks through them all), and each chunk is still fetched once."""
    monkeypatch.setattr(blocks_module, "MAX_PIECES", 2)
    with budgeted_reader(server, read_ahead=64) as reader:  # room for every chunk of b
        parquet = pq.ParquetFile(reader, pre_buffer=False)
        blocks = blocks_of(reader)
        for i in range(ROW_GROUPS):
            got = parquet.read_row_group(i, columns=["b"])
            assert got.equals(table.select(["b"]).slice(i * ROWS, ROWS))
            assert len(blocks.pieces) <= 2
            if i == 1:  # the scan has started: two ahead, the rest waiting their turn
                assert len(blocks.pieces) == 2 and len(blocks.wanted) == ROW_GROUPS - 4
        assert blocks.pieces == {} and not blocks.wanted
    asked = sorted(r.range or "" for r in gets(server))
    spans = column_spans(raw, 1)
    assert asked == sorted([f"bytes={s}-{e - 1}" for s, e in spans] + [asked_footer(raw, server)])


def test_chunks_too_short_for_a_request_of_their_own_are_not_fetched_ahead(
    server: FaultServer,
) -> None:
    """A file of many columns of a few rows: each chunk is a few hundred bytes, under a direct
    read's least. Read column after column, row group after row group, its chunks come in blocks,
    a request for many, not a piece each (a file of thousands of chunks was thousands of
    requests)."""
    narrow = pa.table({f"c{i}": pa.array(range(i, i + 8 * 50)) for i in range(64)})
    sink = io.BytesIO()
    pq.write_table(narrow, sink, row_group_size=50, compression="none")
    data = sink.getvalue()
    block = 4 * BLOCK
    assert len(data) < block
    server.objects["/bucket/narrow.parquet"] = data
    conf = s3_at(server.endpoint)
    with ros.open_reader("narrow.parquet", conf, block_size=block, fetch_first=False) as reader:
        reader.seek(len(data) - lookahead.FOOTER_READ)
        reader.read()  # the footer: the layout is known
        layout = blocks_of(reader).lookahead
        assert layout is not None and len(layout.chunks) == 8 * 64
        assert pq.ParquetFile(reader, pre_buffer=False).read().equals(narrow)
        assert blocks_of(reader).pieces == {} and not blocks_of(reader).wanted
    assert len(gets(server)) <= 3  # the footer and the block (fetched again at most once)


@pytest.mark.parametrize("past", [-1, 0, 1], ids=["below", "at", "over"])
def test_a_footer_longer_than_max_footer_is_not_read_for_a_layout(
    server: FaultServer, raw: bytes, table: pa.Table, monkeypatch: pytest.MonkeyPatch, past: int
) -> None:
    """Decoding a footer costs about 30 us a chunk: one over ``MAX_FOOTER`` is left unread, and
    the file is read as any other; one at it or below is read."""
    length = metadata_length(raw[-8:])
    assert length is not None
    monkeypatch.setattr(lookahead, "MAX_FOOTER", length - past)
    fs = rosfs.ObjectStoreFileSystem(s3_at(server.endpoint))
    got = pq.read_table("t.parquet", filesystem=fs, columns=["b", "d"])
    assert got.equals(table.select(["b", "d"]))
    assert len(lookahead._layouts) == (0 if past > 0 else 1)


@pytest.mark.parametrize("past", [-1, 0, 1], ids=["below", "at", "above"])
def test_spans_planned_shorter_than_a_direct_read_are_left_to_blocks(
    server: FaultServer, past: int
) -> None:
    with budgeted_reader(server, read_ahead=4) as reader:
        blocks = blocks_of(reader)
        span = (1000, 1000 + DIRECT_READ + past)
        blocks._plan([span, (300_000, 300_000 + DIRECT_READ)])
        assert blocks.wanted == ([span] if past >= 0 else []) + [(300_000, 300_000 + DIRECT_READ)]
        blocks.wanted.clear()


def test_the_rest_of_a_row_group_comes_in_batches_of_half_the_budget(server: FaultServer) -> None:
    """A reader going through a row group of eight chunks, with room for four and a bit: after its
    second chunk, the next four; after its third, the one more that fits waits (less than half
    the budget would be a request of its own for it); after its fourth, the last two, the row
    group's end."""
    eight = pa.table({f"c{i}": pa.array([float(x) for x in range(20_000)]) for i in range(8)})
    sink = io.BytesIO()
    pq.write_table(eight, sink, row_group_size=20_000, compression="none", use_dictionary=False)
    data = sink.getvalue()
    server.objects["/bucket/eight.parquet"] = data
    found = layout_of(data)
    assert len(found) == 8
    spans = [(c.start, c.end) for c in found]
    conf = s3_at(server.endpoint)
    with (
        own_pool(multipart_get_part_size=BLOCK, max_parallel_parts=1),
        ros.open_reader("eight.parquet", conf, block_size=BLOCK, read_ahead=2,
                        fetch_first=False) as reader,
    ):  # fmt: skip
        blocks = blocks_of(reader)
        size = spans[0][1] - spans[0][0]
        assert 4 * size <= blocks.budget() < 5 * size
        _read_chunks(reader, data, [(len(data) - lookahead.FOOTER_READ, len(data)), *spans[:2]])
        assert _covered(blocks) == [(spans[2][0], spans[5][1])]
        # (Pieces are parts of 256 KiB, not chunks: what is covered ends where planned.)
        _read_chunks(reader, data, spans[2:3])
        assert _covered(blocks)[-1][1] == spans[5][1] and not blocks.wanted
        _read_chunks(reader, data, spans[3:4])
        assert _covered(blocks)[-1][1] == spans[7][1]
        _read_chunks(reader, data, spans[4:])
        assert blocks.pieces == {}
    asked = sorted(_span_asked(r) for r in gets(server)[1:])
    assert all(x[1] == y[0] for x, y in itertools.pairwise(asked))  # every byte once
    assert (asked[0][0], asked[-1][1]) == (spans[0][0], spans[-1][1])


def test_a_file_read_whole_out_of_order_has_its_chunks_fetched_ahead_once(
    server: FaultServer, raw: bytes
) -> None:
    """As pyarrow's pre-buffer threads read a whole file: a range a row group, in the order they
    take the file's lock, here one put off to the end. Once two row groups have been read, the
    rest come ahead in file order within the room ahead (twice the budget); the range put off
    holds its bytes while the others roll on, and is served with no request. No byte is fetched
    twice, and no block is fetched ahead alongside."""
    groups = row_group_spans(raw)
    with budgeted_reader(server, read_ahead=2) as reader:  # a budget of 768 KiB, a group 624 KiB
        blocks = blocks_of(reader)
        reader.seek(len(raw) - lookahead.FOOTER_READ)
        reader.read()
        footer = len(gets(server))
        for i in [0, 5, 2, 3, 4, 6, 7, 1]:
            start, end = groups[i]
            before = len(gets(server))
            reader.seek(start)
            assert reader.read(end - start) == raw[start:end]
            if i == 5:  # the scan starts: row group 1 first, as much as there is room for
                assert min(blocks.pieces) == groups[1][0]
                assert blocks.planned() and blocks.held == {}
            if i == 1:
                assert len(gets(server)) == before  # its bytes were waiting
            assert sum(f.length for f in blocks.pieces.values()) <= blocks.ahead_budget()
            assert blocks.held == {}
        assert blocks.pieces == {} and not blocks.wanted
    # After the footer, every byte of the row groups once, and nothing else.
    asked = sorted(_span_asked(r) for r in gets(server)[footer:])
    assert all(a[1] == b[0] for a, b in itertools.pairwise(asked))
    assert (asked[0][0], asked[-1][1]) == (groups[0][0], groups[-1][1])


def test_a_reader_of_whole_chunks_has_no_block_fetched_ahead_of_it(
    server: FaultServer, raw: bytes, table: pa.Table
) -> None:
    """pyarrow without pre-buffering reads a whole file chunk by chunk, its threads taking each
    column's chunks of two row groups at once: reads that follow each other in the file are
    still of whole chunks, and the blocks after them are not what comes next. No byte is
    fetched twice or for nothing."""
    conf = s3_at(server.endpoint)
    with ros.open_reader("t.parquet", conf, block_size=BLOCK, fetch_first=False) as reader:
        reader.seek(len(raw) - lookahead.FOOTER_READ)
        footer = reader.read()
        parquet = pq.ParquetFile(reader, pre_buffer=False)  # which reads the footer again
        after_footer = len(gets(server))
        assert parquet.read().equals(table)
    assert footer == raw[-lookahead.FOOTER_READ :]
    # Every byte of the row groups once, and nothing else.
    asked = sorted(_span_asked(r) for r in gets(server)[after_footer:])
    groups = row_group_spans(raw)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(asked))
    assert (asked[0][0], asked[-1][1]) == (groups[0][0], groups[-1][1])


def _span_asked(request: Request) -> tuple[int, int]:
    found = re.fullmatch(r"bytes=(\d+)-(\d+)", request.range or "")
    assert found, request.range
    return int(found[1]), int(found[2]) + 1


def asked_footer(raw: bytes, server: FaultServer) -> str:
    """The one request that reached the file's end: pyarrow's footer read."""
    (footer,) = [r.range for r in gets(server) if (r.range or "").endswith(f"-{len(raw) - 1}")]
    assert footer is not None
    return footer


def _read_pattern(pattern: str, conf: ros.AWSConfig, raw: bytes, table: pa.Table) -> None:
    if pattern.startswith("sequential"):
        n = 1024 * KiB if "1 MiB" in pattern else 100 * KiB
        with ros.open_reader("t.parquet", conf, block_size=BLOCK) as reader:
            assert b"".join(iter(lambda: reader.read(n), b"")) == raw
    elif pattern == "random":
        rng = random.Random(3)
        with ros.open_reader("t.parquet", conf, block_size=BLOCK) as reader:
            for _ in range(40):
                start = rng.randrange(len(raw))
                n = rng.choice([10, 5000, 70 * KiB, 300 * KiB])
                reader.seek(start)
                assert reader.read(n) == raw[start : start + n]
    elif pattern == "one row group":  # what a Dask task reads
        with ros.open_reader("t.parquet", conf, block_size=BLOCK, fetch_first=False) as reader:
            got = pq.ParquetFile(reader).read_row_group(3, columns=["a", "c"])
            assert got.equals(table.select(["a", "c"]).slice(3 * ROWS, ROWS))
    else:
        fs = rosfs.ObjectStoreFileSystem(conf)
        got = pq.read_table("t.parquet", filesystem=fs, columns=["b", "d"])
        assert got.equals(table.select(["b", "d"]))


@pytest.mark.parametrize(
    "pattern", ["sequential", "sequential, 1 MiB reads", "random", "one row group", "two columns"]
)
def test_no_read_pattern_sends_more_requests_or_bytes_than_without_it(
    pattern: str, raw: bytes, table: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = []
    for ahead in (False, True):
        lookahead._layouts.clear()
        lookahead._tails.clear()
        with monkeypatch.context() as patched:
            if not ahead:
                patched.setattr(lookahead.Lookahead, "expect", lambda *args: [])
            with FaultServer() as server:
                server.objects["/bucket/t.parquet"] = raw
                _read_pattern(pattern, s3_at(server.endpoint), raw, table)
                counted.append((len(gets(server)), fetched(server)))
    without, with_lookahead = counted
    assert with_lookahead == without
    if pattern == "two columns":
        assert with_lookahead[1] < len(raw) // 2 + 128 * KiB  # the two columns and the footer


def test_a_layout_serves_later_opens_of_the_same_version_only(
    server: FaultServer, raw: bytes
) -> None:
    conf = s3_at(server.endpoint)
    with ros.open_reader("t.parquet", conf, block_size=BLOCK) as reader:
        pq.ParquetFile(reader)  # reads the footer
    with ros.open_reader("t.parquet", conf, block_size=BLOCK) as reader:
        learned = blocks_of(reader).lookahead
        assert learned is not None and learned.known and len(learned.chunks) == ROW_GROUPS * 4
    changed = bytearray(raw)
    changed[4] ^= 1  # a new version: a new e_tag
    server.objects["/bucket/t.parquet"] = bytes(changed)
    with ros.open_reader("t.parquet", conf, block_size=BLOCK) as reader:
        fresh = blocks_of(reader).lookahead
        assert fresh is not None and not fresh.known


def test_a_file_that_is_not_parquet_is_read_as_before(server: FaultServer) -> None:
    conf = s3_at(server.endpoint)
    data = bytes(range(256)) * 4096
    server.objects["/bucket/plain.bin"] = data
    with ros.open_reader("plain.bin", conf, block_size=BLOCK) as reader:
        reader.seek(-100, io.SEEK_END)
        assert reader.read() == data[-100:]
        learned = blocks_of(reader).lookahead
        assert learned is not None and learned.known and learned.chunks == []
        for start in (70_000, 400_000, 700_000):
            reader.seek(start)
            assert reader.read(100 * KiB) == data[start : start + 100 * KiB]
        assert blocks_of(reader).pieces == {}


def test_no_read_ahead_means_no_lookahead(server: FaultServer, raw: bytes, table: pa.Table) -> None:
    conf = s3_at(server.endpoint)
    with ros.open_reader("t.parquet", conf, block_size=BLOCK, read_ahead=0) as reader:
        assert pq.read_table(reader, columns=["a"]).equals(table.select(["a"]))
        assert blocks_of(reader).lookahead is None


@pytest.mark.parametrize("store", ["moto", "azurite"])
def test_pandas_reads_columns_through_the_lookahead(
    store: str, request: pytest.FixtureRequest, table: pa.Table, raw: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """pandas ``read_parquet`` with ``storage_options`` on real servers: the footer learned and the
    columns' chunks fetched ahead (requests counted by the workers' metrics)."""
    if store == "moto":
        moto: RunningServer = request.getfixturevalue("moto_server")
        bucket: str = request.getfixturevalue("s3_bucket")
        url = f"ros+s3://{bucket}/lookahead/t.parquet"
        options = {"key": "testing", "secret": "testing", "endpoint_url": moto.endpoint}
    else:
        azurite: RunningServer = request.getfixturevalue("azurite_server")
        container: str = request.getfixturevalue("azure_container")
        url = f"ros+az://{container}/lookahead/t.parquet"
        options = {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY,
                   "host": azurite.endpoint}  # fmt: skip
    with fsspec.open(url, "wb", **options) as out:
        out.write(raw)
    planned: list[tuple[int, int]] = []
    expect = lookahead.Lookahead.expect

    def recorded(
        self: lookahead.Lookahead, at: int, end: int, window: int = 0
    ) -> list[tuple[int, int]]:
        spans = expect(self, at, end, window)
        planned.extend(spans)
        return spans

    monkeypatch.setattr(lookahead.Lookahead, "expect", recorded)
    before = ros.current_metrics().total.requests.get("get", 0)
    frame = pd.read_parquet(url, columns=["a", "c"], storage_options=options)
    assert planned  # chunks were fetched ahead
    assert frame.equals(table.select(["a", "c"]).to_pandas())
    assert len(lookahead._layouts) == 1  # the footer was read and understood
    # The footer, then each chunk of a and c once: 16 chunks in 16 requests or fewer.
    assert ros.current_metrics().total.requests.get("get", 0) - before <= 1 + 2 * ROW_GROUPS


def test_chunks_read_before_their_turn_ahead_are_not_fetched_again(
    server: FaultServer, raw: bytes, table: pa.Table
) -> None:
    """With room for three chunks ahead, the rest wait their turn; a read that comes for one of
    them first fetches it itself, and it is dropped from the queue."""
    with budgeted_reader(server, read_ahead=1, block=BLOCK // 2) as reader:
        parquet = pq.ParquetFile(reader, pre_buffer=False)
        assert blocks_of(reader).ahead_budget() == 2 * BLOCK
        for i in [0, 1, *range(ROW_GROUPS - 1, 1, -1)]:
            got = parquet.read_row_group(i, columns=["b"])
            assert got.equals(table.select(["b"]).slice(i * ROWS, ROWS))
            assert sum(f.length for f in blocks_of(reader).pieces.values()) <= 2 * BLOCK
        # Nothing left to fetch ahead: every chunk of b has been read.
        assert blocks_of(reader).pieces == {} and not blocks_of(reader).wanted
    asked = sorted(r.range or "" for r in gets(server))
    spans = column_spans(raw, 1)
    assert asked == sorted([f"bytes={s}-{e - 1}" for s, e in spans] + [asked_footer(raw, server)])


def test_a_reader_opened_with_what_a_head_found_sends_nothing_at_the_open(
    server: FaultServer, raw: bytes
) -> None:
    conf = s3_at(server.endpoint)
    meta = ros.head_object("t.parquet", conf)
    before = len(server.requests)
    with ros.open_reader("t.parquet", conf, meta=meta) as reader:
        assert len(server.requests) == before and reader.size == len(raw)
        reader.seek(-8, io.SEEK_END)
        assert reader.read() == raw[-8:]
    (read,) = server.requests[before:]
    assert read.if_match == e_tag_of(raw)  # pinned to the version the head found
    with pytest.raises(ValueError, match="not of 'other'"):
        ros.open_reader("other", conf, meta=meta)
    with pytest.raises(TypeError, match="meta must be an ObjectMeta"):
        ros.open_reader("t.parquet", conf, meta={"size": 3})  # type: ignore[arg-type]
    server.objects["/bucket/t.parquet"] = raw + b"more"  # a new version since the head
    with ros.open_reader("t.parquet", conf, meta=meta) as reader:
        with pytest.raises(ros.PreconditionFailedError):
            reader.read(10)


def test_fsspec_infos_after_a_listing_ask_nothing(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow lists a dataset, then asks each file's info, one at a time: the listing answers
    them. An open still asks for its HEAD (its reads are pinned to what a HEAD says), and an info
    long after the listing asks again."""
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")  # the fault server cannot list
    for i in range(3):
        ros.put_object(f"ds/part-{i}.parquet", raw[: 1000 + i], conf)
    fs = rosfs.ObjectStoreFileSystem(conf)

    def heads() -> int:
        return ros.current_metrics().total.requests.get("head", 0)

    listings: list[Callable[[], list[str]]] = [
        lambda: fs.find("ds"), lambda: fs.ls("ds", detail=False), lambda: fs.find("ds", maxdepth=1),
    ]  # fmt: skip
    for listing in listings:
        fs.invalidate_cache()
        before = heads()
        assert len(listing()) == 3
        for i in range(3):
            info = fs.info(f"ds/part-{i}.parquet")
            assert info["size"] == 1000 + i and info["type"] == "file"
        assert heads() == before
    with fs.open("ds/part-0.parquet", "rb") as f:
        assert f.read(4) == raw[:4] and heads() == before + 1
    monkeypatch.setattr(rosfs, "HEAD_FRESH_SECS", 0.0)
    assert fs.info("ds/part-1.parquet")["size"] == 1001 and heads() == before + 2
    assert list(fs._heads) == ["ds/part-1.parquet"]  # the listing's stale entries are gone


def test_fsspec_opens_a_file_with_the_head_its_info_just_made(
    server: FaultServer, raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow asks for a file's info, asks again before it opens it, then opens it (twice, for a
    dataset): one HEAD in all, not four; an info or open long after the HEAD asks again, and so
    does one after a write through the filesystem. (A file named as Parquet reads its footer
    instead of the HEAD: below.)"""
    server.objects["/bucket/t.bin"] = raw
    fs = rosfs.ObjectStoreFileSystem(s3_at(server.endpoint))

    def heads() -> int:
        return sum(r.method == "HEAD" for r in server.requests)

    assert fs.info("t.bin")["size"] == len(raw)
    assert fs.isfile("t.bin") and fs.info("t.bin")["size"] == len(raw)
    with fs.open("t.bin", "rb") as f:
        f.seek(-4, io.SEEK_END)
        assert f.read() == b"PAR1"
    with fs.open("t.bin", "rb") as f:
        assert f.read(4) == b"PAR1"
    assert heads() == 1
    # A write through the filesystem: what the HEAD found is stale.
    fs.pipe_file("t.bin", raw + b"x")
    assert fs.info("t.bin")["size"] == len(raw) + 1 and heads() == 2
    with fs.open("t.bin", "rb") as f:
        assert heads() == 2 and f.read(4) == b"PAR1"
    fs.pipe_file("t.bin", raw)
    before = heads()
    with fs.open("t.bin", "rb") as f:
        assert heads() == before + 1 and f.read(4) == b"PAR1"
    monkeypatch.setattr(rosfs, "HEAD_FRESH_SECS", 0.0)
    fs.info("t.bin")
    assert heads() == before + 2
    with fs.open("t.bin", "rb") as f:  # too late: asked again
        assert heads() == before + 3 and f.read(4) == b"PAR1"


def test_an_open_that_fetches_the_tail_serves_the_footer_with_no_request(
    server: FaultServer, raw: bytes, table: pa.Table
) -> None:
    """``fetch_tail``: the open is one suffix request, which tells what a head would and brings
    the footer; pyarrow's footer read then needs nothing, in this open and in a later open of the
    same version, and every later request is pinned to the version the suffix found."""
    conf = s3_at(server.endpoint)
    with ros.open_reader("t.parquet", conf, fetch_tail=lookahead.FOOTER_READ) as reader:
        (opened,) = server.requests
        assert (opened.method, opened.range) == ("GET", f"bytes=-{lookahead.FOOTER_READ}")
        assert reader.size == len(raw) and reader.meta.e_tag == e_tag_of(raw)
        parquet = pq.ParquetFile(reader, pre_buffer=False)
        assert len(server.requests) == 1  # the footer came with the open
        assert parquet.read_row_group(2, columns=["c"]).equals(
            table.select(["c"]).slice(2 * ROWS, ROWS)
        )
        assert all(r.if_match == e_tag_of(raw) for r in server.requests[1:])
        reader.seek(-100, io.SEEK_END)
        assert reader.read() == raw[-100:]  # the tail again: no request
        reader.seek(len(raw) - lookahead.FOOTER_READ - 10)
        assert reader.read(20) == raw[-lookahead.FOOTER_READ - 10 : -lookahead.FOOTER_READ + 10]
    before = len(server.requests)
    with ros.open_reader("t.parquet", conf, fetch_first=False) as reader:  # a HEAD, then nothing
        pq.ParquetFile(reader)
        assert [r.method for r in server.requests[before:]] == ["HEAD"]


@pytest.mark.parametrize("size", [0, 1, lookahead.FOOTER_READ - 1, lookahead.FOOTER_READ,
                                  lookahead.FOOTER_READ + 1, 3 * lookahead.FOOTER_READ])  # fmt: skip
def test_a_tail_below_at_and_above_the_object_size(server: FaultServer, size: int) -> None:
    """A tail longer than the object is all of it (an empty object has no tail: a head); reads
    anywhere give the object's bytes, as many as there are."""
    conf = s3_at(server.endpoint)
    data = random.Random(size).randbytes(size)
    server.objects["/bucket/sized"] = data
    with ros.open_reader("sized", conf, fetch_tail=lookahead.FOOTER_READ, block_size=BLOCK) as r:
        assert r.size == size
        asked = [(q.method, q.range) for q in server.requests]
        tail = ("GET", f"bytes=-{lookahead.FOOTER_READ}")
        assert asked == ([tail, ("HEAD", None)] if size == 0 else [tail])
        assert r.read() == data
        r.seek(max(0, size - 5))
        assert r.read(100) == data[-5:]
        r.seek(size // 3)
        assert r.read(size // 2) == data[size // 3 : size // 3 + size // 2]
    if size <= lookahead.FOOTER_READ:
        assert len(server.requests) == len(asked)  # all of it came with the open


def test_fetch_tail_is_checked_before_anything_is_sent(server: FaultServer) -> None:
    conf = s3_at(server.endpoint)
    with pytest.raises(ValueError, match="fetch_tail must be at least 0"):
        ros.open_reader("t.parquet", conf, fetch_tail=-1)
    with pytest.raises(TypeError, match="fetch_tail must be an int"):
        ros.open_reader("t.parquet", conf, fetch_tail="64k")  # type: ignore[arg-type]
    arena = lifetime.current_pool().settings.arena_size
    with pytest.raises(ValueError, match=r"at most half of StaticConfig\.arena_size"):
        ros.open_reader("t.parquet", conf, fetch_tail=arena // 2 + 1)
    assert server.requests == []


def test_fsspec_reads_a_parquet_files_footer_in_place_of_its_head(
    server: FaultServer, raw: bytes, table: pa.Table
) -> None:
    """On S3 a file named as Parquet is info'd by the footer's read, not a HEAD (one request
    either way), and the opens that follow read the footer with no request: the two columns of
    pyarrow's ``read_table`` in one request fewer."""
    fs = rosfs.ObjectStoreFileSystem(s3_at(server.endpoint))
    info = fs.info("t.parquet")
    assert info["size"] == len(raw) and info["type"] == "file"
    assert [(r.method, r.range) for r in server.requests] == [
        ("GET", f"bytes=-{lookahead.FOOTER_READ}")
    ]
    got = pq.read_table("t.parquet", filesystem=fs, columns=["b", "d"])
    assert got.equals(table.select(["b", "d"]))
    later = server.requests[1:]
    assert all(r.method == "GET" and r.if_match == e_tag_of(raw) for r in later)
    spans = sorted(column_spans(raw, 1) + column_spans(raw, 3))
    assert fetched(server) <= sum(e - s for s, e in spans) + lookahead.FOOTER_READ + 2 * HOLE
    # An open with no info before it (a Dask task's) reads the footer with its open, too.
    lookahead._tails.clear()
    fs.invalidate_cache()
    before = len(server.requests)
    with fs.open("t.parquet", "rb") as f:
        assert pq.ParquetFile(f).metadata.num_row_groups == ROW_GROUPS
    assert [r.range for r in server.requests[before:]] == [f"bytes=-{lookahead.FOOTER_READ}"]


def test_fsspec_heads_a_parquet_file_on_azure(raw: bytes) -> None:
    """Where a suffix range takes two requests (Azure), or the name is not Parquet's, the info is
    a HEAD."""
    azure = ros.AzureConfig(storage_account_name="a", container_name="c",
                            storage_account_key="a2V5", host="http://127.0.0.1:9")  # fmt: skip
    fs = rosfs.ObjectStoreFileSystem(azure)
    assert not fs._footer_first(fs._split("t.parquet")[0], "t.parquet")
    conf = s3_at("http://127.0.0.1:9")
    assert fs._footer_first(conf, "x/T.PARQUET") and not fs._footer_first(conf, "t.csv")


def test_a_footer_longer_than_the_tail_is_read_whole_through_fsspec(
    server: FaultServer, table: pa.Table
) -> None:
    """A footer over ``FOOTER_READ`` (many columns): the open's tail is its end, pyarrow reads the
    rest just before it, the layout is learned from the two, and the table comes back whole."""
    wide = pa.table({f"c{i}": pa.array(range(i, i + 300)) for i in range(600)})
    sink = io.BytesIO()
    pq.write_table(wide, sink, row_group_size=100, compression="none")
    raw = sink.getvalue()
    length = metadata_length(raw[-8:])
    assert length is not None and length + 8 > lookahead.FOOTER_READ  # above the tail
    server.objects["/bucket/wide.parquet"] = raw
    fs = rosfs.ObjectStoreFileSystem(s3_at(server.endpoint))
    got = pq.read_table("wide.parquet", filesystem=fs, columns=["c3", "c599"])
    assert got.equals(wide.select(["c3", "c599"]))
    first, second = [r.range for r in gets(server)][:2]
    assert first == f"bytes=-{lookahead.FOOTER_READ}"
    assert second is not None and second.endswith(f"-{len(raw) - lookahead.FOOTER_READ - 1}")
    (layout,) = lookahead._layouts.values()
    assert len(layout) == 600 * 3  # every chunk of the three row groups, learned from the footer


def test_a_read_is_of_whole_chunks_only_from_a_chunks_first_byte_to_a_chunks_end(
    raw: bytes,
) -> None:
    """``columnar`` across its edges: one chunk and two in a row are; a byte short of a chunk's
    end or past it, or a start a byte off, are not."""
    layout = lookahead.Lookahead(len(raw), ("columnar", len(raw)))
    layout.learn(len(raw) - lookahead.FOOTER_READ, raw[-lookahead.FOOTER_READ :])
    assert layout.known and layout.chunks
    (start, end), (_, second_end), *_ = [(c.start, c.end) for c in layout.chunks]
    assert layout.columnar(start, end) and layout.columnar(start, second_end)
    for at, stop in [(start, end - 1), (start, end + 1), (start + 1, end), (start - 1, end)]:
        assert not layout.columnar(at, stop), (at, stop)
    assert not layout.columnar(len(raw) - 8, len(raw))  # the footer is no chunk


def test_spans_planned_leave_out_what_held_blocks_hold_at_their_edges() -> None:
    """``_without`` across its edges: a hole before, at the start of, inside, at the end of and
    after a span, and the span cut at the tail."""
    assert _without([(10, 20)], [(0, 10), (20, 30)], 100) == [(10, 20)]
    assert _without([(10, 20)], [(0, 11)], 100) == [(11, 20)]
    assert _without([(10, 20)], [(12, 14)], 100) == [(10, 12), (14, 20)]
    assert _without([(10, 20)], [(19, 25)], 100) == [(10, 19)]
    assert _without([(10, 20)], [(10, 20)], 100) == []
    assert _without([(10, 20), (30, 40)], [], 35) == [(10, 20), (30, 35)]
    assert _without([(10, 20)], [], 10) == []
