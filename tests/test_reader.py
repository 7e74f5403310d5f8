"""``open_reader``: a seekable binary file over ranged reads, checked against ``io.BytesIO`` on every
store, with its block cache, read-ahead, version pinning and bounded memory, its asyncio twin, and
pyarrow reading Parquet through it."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import random
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import own_pool, s3_at
from faultserver import FaultServer, Hold, Serve, e_tag_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rustyobjectstore as ros
from rustyobjectstore._ops import blocks as _blocks_module
from rustyobjectstore._ops.blocks import Blocks
from rustyobjectstore._worker import lifetime

AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig
MiB = 1024 * 1024


def _blocks(reader: ros.RangeReader | ros.AsyncRangeReader) -> Blocks:
    blocks: Blocks = reader._blocks
    return blocks


def _gets() -> int:
    return ros.current_metrics().total.requests.get("get", 0)


def _within_bounds(reader: ros.RangeReader | ros.AsyncRangeReader) -> None:
    blocks = _blocks(reader)
    assert len(blocks.held) + len(blocks.spent) <= blocks.read_ahead + 1
    assert len(blocks.cache) <= blocks.cache_blocks
    assert all(len(data) <= blocks.block_size for data in blocks.cache.values())


# Reading and seeking, against the bytes themselves.


def test_reads_seeks_and_tells_as_a_file_does(conf: AnyConf) -> None:
    data = os.urandom(10_000)
    ros.put_object("obj", data, conf)
    head = ros.head_object("obj", conf)
    with ros.open_reader("obj", conf, block_size=1024, cache_blocks=2, read_ahead=2) as reader:
        assert isinstance(reader, io.BufferedIOBase)
        assert reader.size == len(data) and reader.meta.size == len(data)
        assert reader.meta.e_tag == head.e_tag and reader.meta.path == "obj"
        assert reader.readable() and reader.seekable() and not reader.writable()
        assert reader.read(10) == data[:10] and reader.tell() == 10
        assert reader.read(3000) == data[10:3010]  # across blocks
        assert reader.seek(-100, io.SEEK_END) == len(data) - 100
        assert reader.read() == data[-100:]
        assert reader.read() == b"" and reader.read(5) == b""
        assert reader.seek(5000) == 5000
        assert reader.seek(-10, io.SEEK_CUR) == 4990
        assert reader.read(20) == data[4990:5010]
        assert reader.seek(20_000) == 20_000  # past the end is allowed: reads are empty
        assert reader.read(1) == b"" and reader.read1() == b"" and reader.tell() == 20_000
        reader.seek(1000)
        buffer = bytearray(2500)
        assert reader.readinto(buffer) == 2500 and buffer == data[1000:3500]
        assert reader.read1(5000) == data[3500:4096]  # the rest of that block, no more
        assert reader.readinto1(buffer) == 1024 and buffer[:1024] == data[4096:5120]
        reader.seek(9990)
        assert reader.readinto(buffer) == 10 and buffer[:10] == data[9990:]
        with pytest.raises(ValueError, match="negative seek position -1"):
            reader.seek(-1)
        with pytest.raises(ValueError, match="negative seek position"):
            reader.seek(-10_001, io.SEEK_END)
        assert reader.tell() == len(data)  # a refused seek moves nothing
        with pytest.raises(io.UnsupportedOperation):
            reader.write(b"x")
    assert reader.closed


def test_a_whole_read_spans_more_blocks_than_are_held(conf: AnyConf) -> None:
    data = os.urandom(50_000)
    ros.put_object("obj", data, conf)
    with ros.open_reader("obj", conf, block_size=1000, cache_blocks=1, read_ahead=1) as reader:
        assert reader.read() == data
        reader.seek(333)
        assert reader.read(40_000) == data[333:40_333]
        buffer = bytearray(len(data))
        reader.seek(0)
        assert reader.readinto(buffer) == len(data) and buffer == data
        _within_bounds(reader)


def test_unaligned_sequential_reads_fetch_each_block_once() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    data = os.urandom(64 * 1024 + 5)
    ros.put_object("obj", data, conf)
    before = _gets()
    got = []
    with ros.open_reader("obj", conf, block_size=4096, cache_blocks=2, read_ahead=3) as reader:
        got.append(reader.read(100))
        while chunk := reader.read(4096):
            got.append(chunk)
            _within_bounds(reader)
    assert b"".join(got) == data
    assert _gets() - before == -(-len(data) // 4096)  # every block once, the first with the open


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("seek"), st.integers(-3000, 3000), st.sampled_from([0, 1, 2])),
        st.tuples(
            st.sampled_from(["read", "read1", "readinto", "readinto1", "readline"]),
            st.integers(-1, 2500),
        ),
    ),
    max_size=40,
)
_ORACLE = random.Random(7).randbytes(2_700).replace(b"\x07", b"\n")  # lines of any length


@pytest.fixture(params=["memory", "file"])
def local_conf(request: pytest.FixtureRequest, tmp_path: Path) -> AnyConf:
    if request.param == "memory":
        conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    else:
        conf = ros.Config(tmp_path.as_uri())
    ros.put_object("oracle", _ORACLE, conf)
    return conf


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_ops, block_size=st.sampled_from([1, 7, 256, 1000, 4096]),
       cache_blocks=st.integers(0, 3), read_ahead=st.integers(0, 3),
       direct_read=st.sampled_from([_blocks_module.DIRECT_READ, 1, 300]))  # fmt: skip
def test_any_sequence_of_seeks_and_reads_is_what_bytesio_gives(
    local_conf: AnyConf, ops: list[tuple[str, int] | tuple[str, int, int]], block_size: int,
    cache_blocks: int, read_ahead: int, direct_read: int,
) -> None:  # fmt: skip
    oracle = io.BytesIO(_ORACLE)
    # The oracle is small: a small threshold makes its jumps direct reads too.
    with mock.patch.object(_blocks_module, "DIRECT_READ", direct_read), \
            ros.open_reader("oracle", local_conf, block_size=block_size,
                            cache_blocks=cache_blocks, read_ahead=read_ahead) as reader:  # fmt: skip
        for op in ops:
            if len(op) == 3:
                _, offset, whence = op
                target = [0, oracle.tell(), len(_ORACLE)][whence] + offset
                if target < 0:  # BytesIO would clamp it; a file refuses it
                    with pytest.raises(ValueError):
                        reader.seek(offset, whence)
                else:
                    assert reader.seek(offset, whence) == oracle.seek(offset, whence)
            elif op[0] in ("read1", "readinto1"):
                n = op[1] if op[0] == "read1" else max(op[1], 0)
                if op[0] == "read1":
                    got = reader.read1(n)
                else:
                    buffer = bytearray(n)
                    got = bytes(buffer[: reader.readinto1(buffer)])
                expected = oracle.read(n)
                # At most one block, at least a byte unless at the end or asked for none.
                assert expected.startswith(got) and (bool(got) or not expected)
                oracle.seek(len(got) - len(expected), io.SEEK_CUR)
            elif op[0] == "readinto":
                buffer, expected_buffer = bytearray(max(op[1], 0)), bytearray(max(op[1], 0))
                assert reader.readinto(buffer) == oracle.readinto(expected_buffer)
                assert buffer == expected_buffer
            else:
                assert getattr(reader, op[0])(op[1]) == getattr(oracle, op[0])(op[1])
            assert reader.tell() == oracle.tell()
            _within_bounds(reader)


def test_lines_and_iteration(conf: AnyConf) -> None:
    lines = [b"short\n", b"x" * 2500 + b"\n", b"\n", b"across the block edge\n", b"no newline"]
    data = b"".join(lines)
    ros.put_object("lines", data, conf)
    with ros.open_reader("lines", conf, block_size=1000) as reader:
        assert list(reader) == lines
        reader.seek(0)
        assert reader.readline(3) == b"sho" and reader.readline() == b"rt\n"
        assert reader.readlines() == lines[1:]
        assert reader.readline() == b""
        reader.seek(2505)
        assert reader.readline() == b"x\n"
        assert reader.readline(-1) == b"\n"


def test_an_empty_object(conf: AnyConf) -> None:
    ros.put_object("empty", b"", conf)
    with ros.open_reader("empty", conf) as reader:
        assert reader.size == 0 and reader.meta.size == 0
        assert reader.read() == b"" and reader.read(10) == b"" and reader.read1() == b""
        assert reader.readline() == b"" and list(reader) == []
        assert reader.readinto(bytearray(4)) == 0
        assert reader.seek(0, io.SEEK_END) == 0 and reader.seek(5) == 5 and reader.read() == b""
        assert not _blocks(reader).held  # nothing held for no bytes


def test_a_missing_object_fails_at_open(conf: AnyConf) -> None:
    with pytest.raises(ros.NotFoundError):
        ros.open_reader("missing", conf)


def test_the_first_block_comes_with_the_open() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    data = os.urandom(3000)
    ros.put_object("small", data, conf)
    before = _gets()
    with ros.open_reader("small", conf) as reader:
        assert _gets() - before == 1
        for _ in range(3):
            reader.seek(0)
            assert reader.read() == data
            reader.seek(-5, io.SEEK_END)
            assert reader.read() == data[-5:]
    assert _gets() - before == 1  # the whole object is one block, held since the open


def test_an_open_without_the_first_block_is_a_head(conf: AnyConf) -> None:
    data = os.urandom(300_000)
    ros.put_object("lazy", data, conf)
    requests = ros.current_metrics().total.requests
    gets, heads = requests.get("get", 0), requests.get("head", 0)
    with ros.open_reader("lazy", conf, block_size=50_000, read_ahead=1,
                         fetch_first=False) as reader:  # fmt: skip
        requests = ros.current_metrics().total.requests
        assert (requests.get("get", 0) - gets, requests.get("head", 0) - heads) == (0, 1)
        assert reader.size == len(data) and not _blocks(reader).held
        reader.seek(-70_000, io.SEEK_END)  # a footer: just its bytes
        assert reader.read() == data[-70_000:]
        reader.seek(0)
        assert reader.read(10) == data[:10]  # a small jump: the block
        assert reader.read(10) == data[10:20] and sorted(_blocks(reader).held) == [0, 1]
        ros.put_object("lazy", b"changed", conf)
        reader.seek(200_000)
        with pytest.raises(ros.PreconditionFailedError):  # pinned to the head's version
            reader.read(80_000)
    with pytest.raises(TypeError, match="fetch_first"):
        ros.open_reader("lazy", conf, fetch_first=1)  # type: ignore[arg-type]
    with pytest.raises(ros.NotFoundError):
        ros.open_reader("absent", conf, fetch_first=False)


# Version pinning.


def test_a_changed_object_fails_instead_of_mixing_versions(conf: AnyConf) -> None:
    old = os.urandom(8000)
    ros.put_object("v", old, conf)
    with ros.open_reader("v", conf, block_size=1000, read_ahead=0) as reader:
        assert reader.read(10) == old[:10]
        ros.put_object("v", os.urandom(8000), conf)  # the same size, other bytes
        reader.seek(500)
        assert reader.read(10) == old[500:510]  # the first block came with the open
        reader.seek(5000)
        with pytest.raises(ros.PreconditionFailedError):
            reader.read(10)
        ros.put_object("v", old[:3000], conf)  # shorter now
        reader.seek(2000)
        with pytest.raises(ros.PreconditionFailedError):
            reader.read(10)
        reader.seek(0)
        assert reader.read(1000) == old[:1000]  # read out of order, it was cached: still reads


def test_every_request_after_the_open_is_pinned_to_its_e_tag() -> None:
    data = os.urandom(3 * MiB + 5)
    with FaultServer() as server:
        server.objects["/bucket/k"] = data
        with ros.open_reader("k", s3_at(server.endpoint), block_size=MiB) as reader:
            assert reader.read() == data
        gets = [r for r in server.requests if r.method == "GET"]
    assert sorted(str(r.range) for r in gets) == sorted(
        f"bytes={s}-{min(s + MiB, len(data)) - 1}" for s in range(0, len(data), MiB)
    )
    first = next(r for r in gets if r.range == f"bytes=0-{MiB - 1}")
    assert first.if_match is None
    assert all(r.if_match == e_tag_of(data) for r in gets if r is not first)


def test_a_read_given_up_leaves_the_reader_usable() -> None:
    """A deadline that passes, or a task cancelled, while a read waits for its block: the request is
    given up (its memory comes back when the worker answers) and a later read asks again."""
    data = os.urandom(10_000)
    with FaultServer(default=Hold()) as server:
        server.objects["/bucket/k"] = data
        server.script(Serve())  # the open's request; every later one waits for release()
        conf = s3_at(server.endpoint, request_timeout_secs=30)
        with ros.open_reader("k", conf, block_size=1000, read_ahead=0) as reader:
            reader.seek(5000)
            with pytest.raises(ros.DeadlineExceededError), ros.deadline(0.3):
                reader.read(10)
            assert 5 not in _blocks(reader).held and reader.tell() == 5000

            async def cancelled() -> None:
                async with await ros.open_reader_async("k", conf, block_size=1000) as twin:
                    await twin.seek(7000)
                    task = asyncio.ensure_future(twin.read(10))
                    await asyncio.sleep(0.3)
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                    assert 7 not in _blocks(twin).held and await twin.tell() == 7000
                    server.release()
                    assert await twin.read(10) == data[7000:7010]

            server.script(Serve())  # the twin's open
            asyncio.run(cancelled())
            assert reader.read(10) == data[5000:5010]


# The cache, read-ahead and memory.


def test_sequential_reads_read_ahead_and_random_ones_do_not() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    block = 4096
    data = os.urandom(20 * block)
    ros.put_object("obj", data, conf)
    with ros.open_reader("obj", conf, block_size=block, cache_blocks=2, read_ahead=3) as reader:
        blocks = _blocks(reader)
        before = _gets()
        assert reader.read(block) == data[:block]
        # The block at the position and the next three are on their way, before they are read.
        assert sorted(blocks.held) == [1, 2, 3, 4] and _gets() - before == 4
        reader.seek(10 * block + 7)  # random access from here on
        assert reader.read(10) == data[10 * block + 7 : 10 * block + 17]
        assert sorted(blocks.held) == [10] and _gets() - before == 5
        reader.seek(15 * block)
        assert reader.read(2 * block) == data[15 * block : 17 * block]  # what the read needs
        assert _gets() - before == 7 and 10 in blocks.cache  # block 10 was read from: kept
        reader.seek(10 * block + 100)
        assert reader.read(5) == data[10 * block + 100 : 10 * block + 105]
        assert _gets() - before == 7  # from the cache


def test_a_big_read_that_jumps_fetches_just_its_bytes() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    data = os.urandom(8 * MiB)
    ros.put_object("obj", data, conf)
    with ros.open_reader("obj", conf, block_size=MiB, cache_blocks=2, read_ahead=1) as reader:
        blocks = _blocks(reader)
        before = _gets()
        reader.seek(3 * MiB + 5)  # a column chunk, say: one get of its bytes, kept by nobody
        assert reader.read(200 * 1024) == data[3 * MiB + 5 : 3 * MiB + 5 + 200 * 1024]
        assert _gets() - before == 1 and 3 not in blocks.held and 3 not in blocks.cache
        # Over three blocks: one get, as a part is at least multipart_get_part_size (8 MiB)
        # however small the blocks.
        reader.seek(5 * MiB + 7)
        assert reader.read(MiB * 5 // 2) == data[5 * MiB + 7 : 5 * MiB + 7 + MiB * 5 // 2]
        assert _gets() - before == 2
        _within_bounds(reader)
        reader.seek(10)  # block 0 came with the open: read from it, not around it
        assert reader.read(100 * 1024) == data[10 : 10 + 100 * 1024]
        assert _gets() - before == 2
        small = 6 * MiB + 3  # a small jump reads the block, which the next reads find
        reader.seek(small)
        assert reader.read(1000) == data[small : small + 1000]
        reader.seek(small + 5000)
        assert reader.read(1000) == data[small + 5000 : small + 6000]
        assert _gets() - before == 3


def test_small_sequential_reads_send_the_read_ahead_before_the_block_ends() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    data = b"".join(b"line %05d\n" % i for i in range(2000))  # 11-byte lines
    ros.put_object("lines", data, conf)
    with ros.open_reader("lines", conf, block_size=1100, read_ahead=2) as reader:
        blocks = _blocks(reader)
        assert reader.readline() == b"line 00000\n"
        assert sorted(blocks.held) == [0, 1, 2]  # served from block 0, which the open brought
        reader.seek(5500 + 22)  # block 5, out of order: no read-ahead
        assert reader.readline() == b"line 00502\n" and sorted(blocks.held) == [5]
        assert reader.read(5) == b"line " and sorted(blocks.held) == [5, 6, 7]  # sequential again
        assert list(reader) == data[5500 + 38 :].splitlines(keepends=True)


def test_a_sequential_scan_fetches_each_block_once_and_leaves_the_cache_alone() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    data = os.urandom(40 * 1000)
    ros.put_object("obj", data, conf)
    with ros.open_reader("obj", conf, block_size=1000, cache_blocks=3, read_ahead=4) as reader:
        blocks = _blocks(reader)
        reader.seek(39_500)
        reader.read(10)  # block 39, read out of order: cached once reads move away
        reader.seek(0)
        before = _gets()
        while reader.read(1000):
            _within_bounds(reader)
        assert _gets() - before == 38  # not 0, which came with the open, nor 39: both cached
        assert list(blocks.cache) == [0, 39]  # a scan read through in order caches nothing


def test_memory_held_stays_bounded_on_a_big_object() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    block, read_ahead = 64 * 1024, 3
    data = os.urandom(100 * block)
    ros.put_object("big", data, conf)
    with ros.open_reader("big", conf, block_size=block, cache_blocks=2, read_ahead=read_ahead) as r:
        conn = next(f.conn for f in _blocks(r).held.values())
        arena = conn.arena
        peak = 0
        while chunk := r.read(block // 3):
            peak = max(peak, arena.size - arena.free_bytes)
            _within_bounds(r)
            assert chunk
        assert peak <= (read_ahead + 1) * block
        r.seek(0)
        assert r.read() == data
        _within_bounds(r)
    deadline = time.monotonic() + 10
    while arena.free_bytes != arena.size and time.monotonic() < deadline:
        time.sleep(0.01)  # requests given up on close give their memory back when answered
    assert arena.free_bytes == arena.size


def test_a_reader_in_a_short_arena_gives_its_memory_back() -> None:
    """Blocks ahead are asked for only while the arena stays half free; a reader left idle keeps no
    shared memory that other calls would wait for."""
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    data = os.urandom(8 * MiB)
    with own_pool(n_workers=1, arena_size=24 * MiB):
        ros.put_object("obj", data, conf)
        (conn,) = lifetime.current_pool().connections
        readers = [ros.open_reader("obj", conf, block_size=4 * MiB, read_ahead=4) for _ in range(6)]
        try:
            for reader in readers:
                assert reader.read(100) == data[:100]
            assert conn.arena.size - conn.arena.free_bytes <= 12 * MiB  # half of it
            assert sum(len(_blocks(r).held) for r in readers) <= 3
            assert ros.get_object("obj", conf) == data  # not starved
            for reader in readers:
                assert reader.read() == data[100:]
        finally:
            for reader in readers:
                reader.close()


def test_a_worker_killed_under_a_read_costs_a_retry_not_the_read(tmp_path: Path) -> None:
    conf = ros.Config(tmp_path.as_uri())
    data = os.urandom(200_000)
    with own_pool(n_workers=1):
        ros.put_object("obj", data, conf)
        with ros.open_reader("obj", conf, block_size=10_000, read_ahead=3) as reader:
            assert reader.read(10_000) == data[:10_000]
            (conn,) = lifetime.current_pool().connections
            os.kill(conn.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while conn.alive and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not conn.alive
            assert reader.read() == data[10_000:]  # landed blocks still read; the rest retried
        assert lifetime.current_pool().connections[0].pid != conn.pid


def test_a_worker_killed_under_a_direct_read_costs_a_retry_not_the_read() -> None:
    data = os.urandom(30 * MiB)
    with own_pool(n_workers=1, max_parallel_parts=2), FaultServer(default=Hold()) as server:
        server.objects["/bucket/k"] = data
        server.script(Serve())  # the open's request; the direct read's parts wait
        conf = s3_at(server.endpoint, request_timeout_secs=30)
        # Parts of 8 MiB (multipart_get_part_size), as many in flight as 4 blocks hold or two
        # parts (max_parallel_parts): two.
        with ros.open_reader("k", conf, block_size=4 * MiB, read_ahead=3) as reader:
            reader.seek(4 * MiB + 1)
            reading = ThreadPoolExecutor(1).submit(reader.read, 20 * MiB)
            deadline = time.monotonic() + 10
            while len(server.requests) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(server.requests) == 3  # the open and two parts in flight
            (conn,) = lifetime.current_pool().connections
            os.kill(conn.pid, signal.SIGKILL)
            server.release()
            assert reading.result(timeout=30) == data[4 * MiB + 1 : 24 * MiB + 1]
            assert reader.tell() == 24 * MiB + 1
            assert len(server.requests) == 6  # the two parts again, then the third
        assert lifetime.current_pool().connections[0].pid != conn.pid


def test_an_unclosed_reader_that_is_collected_lets_go_of_its_blocks() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    ros.put_object("obj", os.urandom(100_000), conf)
    reader = ros.open_reader("obj", conf, block_size=10_000, read_ahead=3)
    reader.read(5)
    blocks = _blocks(reader)
    assert blocks.held
    del reader
    gc.collect()
    ros.head_object("obj", conf)  # the next call runs what the finalizer queued
    assert blocks.closed and not blocks.held


# The closed reader and bad arguments.


def test_a_closed_reader_refuses_everything() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    ros.put_object("obj", b"abc\ndef", conf)
    reader = ros.open_reader("obj", conf)
    reader.close()
    reader.close()  # twice is fine
    assert reader.closed
    for call in (
        reader.read, reader.read1, reader.readline, reader.tell, reader.readable,
        reader.seekable, reader.writable, lambda: reader.seek(0), lambda: next(iter(reader)),
        lambda: reader.readinto(bytearray(2)), lambda: reader.readinto1(bytearray(2)),
        lambda: reader.__enter__(),
    ):  # fmt: skip
        with pytest.raises(ValueError, match="closed file"):
            call()


def test_bad_arguments_are_refused_before_anything_is_sent() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    before = _gets()
    for kwargs, error, match in [
        ({"block_size": 0}, ValueError, "block_size must be at least 1"),
        ({"block_size": 1.5}, TypeError, "block_size must be an int"),
        ({"block_size": True}, TypeError, "block_size must be an int"),
        ({"cache_blocks": -1}, ValueError, "cache_blocks must be at least 0"),
        ({"read_ahead": "2"}, TypeError, "read_ahead must be an int"),
        ({"block_size": 200 * MiB}, ValueError, "at most half of StaticConfig.arena_size"),
    ]:
        with pytest.raises(error, match=match):
            ros.open_reader("obj", conf, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store configuration"):
        ros.open_reader(conf, "obj")  # type: ignore[arg-type]
    assert _gets() == before
    ros.put_object("obj", b"abc", conf)
    with ros.open_reader("obj", conf) as reader:
        with pytest.raises(TypeError, match="integer or None"):
            reader.read("3")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="invalid whence"):
            reader.seek(0, 3)
        with pytest.raises(TypeError):
            reader.seek(1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="read-only"):
            reader.readinto(b"xx")
        assert reader.read(None) == b"abc"


# The asyncio twin.


def test_the_async_reader(conf: AnyConf) -> None:
    data = b"".join(b"line %d\n" % i for i in range(2000))
    ros.put_object("obj", data, conf)

    async def use() -> None:
        async with await ros.open_reader_async("obj", conf, block_size=1000) as reader:
            assert reader.size == len(data) and reader.meta.size == len(data)
            assert await reader.read(10) == data[:10] and await reader.tell() == 10
            assert await reader.seek(-20, io.SEEK_END) == len(data) - 20
            assert await reader.read() == data[-20:]
            await reader.seek(995)
            buffer = bytearray(3000)
            assert await reader.readinto(buffer) == 3000 and buffer == data[995:3995]
            await reader.seek(0)
            assert await reader.readline() == b"line 0\n"
            assert [line async for line in reader] == data.splitlines(keepends=True)[1:]
            with pytest.raises(ValueError, match="negative seek position"):
                await reader.seek(-1)
            # One operation at a time, whatever the tasks ask.
            await reader.seek(0)
            parts = await asyncio.gather(*(reader.read(7) for _ in range(20)))
            assert sorted(parts) == sorted(data[i : i + 7] for i in range(0, 140, 7))
        assert reader.closed
        with pytest.raises(ValueError, match="closed file"):
            await reader.read()
        with pytest.raises(ros.NotFoundError):
            await ros.open_reader_async("missing", conf)
        with pytest.raises(ValueError, match="block_size"):
            await ros.open_reader_async("obj", conf, block_size=0)

    asyncio.run(use())


# pyarrow reads Parquet through it.


@pytest.fixture
def parquet_table() -> Iterator[tuple[pa.Table, bytes]]:
    n = 100_000
    table = pa.table({"id": pa.array(range(n)), "name": pa.array([f"name-{i}" for i in range(n)]),
                      "score": pa.array([i * 0.5 for i in range(n)])})  # fmt: skip
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=10_000)
    yield table, sink.getvalue()


def test_pyarrow_reads_parquet_through_it(
    conf: AnyConf, parquet_table: tuple[pa.Table, bytes]
) -> None:
    table, raw = parquet_table
    ros.put_object("t.parquet", raw, conf)
    # Blocks smaller than the file, so that the footer, the row groups and the open's block differ.
    with ros.open_reader("t.parquet", conf, block_size=256 * 1024) as reader:
        assert pq.read_table(reader).equals(table)
    with ros.open_reader("t.parquet", conf, block_size=256 * 1024) as reader:
        parquet = pq.ParquetFile(reader)
        assert parquet.metadata.num_rows == table.num_rows
        assert parquet.read_row_group(4).equals(table.slice(40_000, 10_000))
        assert parquet.read(columns=["score"]).column("score").equals(table.column("score"))
    with ros.open_reader("t.parquet", conf) as reader:
        assert pq.read_table(pa.PythonFile(reader, mode="r")).equals(table)


def test_a_read_over_many_pieces_is_bytes_copied_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read across blocks (and a multipart get) writes each piece once into its new bytes, which
    come out as ``bytes``, cut where the object ends; one piece is copied as it is."""
    from rustyobjectstore._ops import sinks

    made: list[int] = []
    real = sinks.NewBytes.__init__

    def counted(self: sinks.NewBytes, size: int) -> None:
        made.append(size)
        real(self, size)

    monkeypatch.setattr(sinks.NewBytes, "__init__", counted)
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    data = os.urandom(10 * 1000 + 7)
    ros.put_object("obj", data, conf)
    with ros.open_reader("obj", conf, block_size=1000, read_ahead=2) as reader:
        reader.seek(500)
        got = reader.read(5000)
        assert type(got) is bytes and got == data[500:5500] and made == [5000]
        assert reader.read(100) == data[5500:5600] and made == [5000]  # one piece: no NewBytes
        got = reader.read(20_000)  # past the end: cut there
        assert type(got) is bytes and got == data[5600:] and made == [5000, len(data) - 5600]
    big = os.urandom(6 * MiB + 5)  # more than half the arena: in parts, not in one region
    small_arena = {"arena_size": 10 * MiB, "multipart_put_threshold": 5 * MiB,
                   "multipart_put_part_size": 5 * MiB, "multipart_get_part_size": MiB,
                   "multipart_get_threshold": MiB}  # fmt: skip
    with own_pool(**small_arena), FaultServer() as server:
        server.objects["/bucket/big"] = big
        got = ros.get_object("big", s3_at(server.endpoint))
        assert type(got) is bytes and got == big and made[-1] == len(big)
        assert sum(r.method == "GET" for r in server.requests) == 7
