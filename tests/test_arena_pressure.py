"""Calls when the arena is short of room. Many gets gathered at once are in flight together up to
what the arenas hold in small regions, spread over the workers, and each answer is whole: at a
cloud's latency the number in flight is the throughput, and a get's first part used to hold the
whole multipart threshold (8 MiB) for its round trip, so a gather of 64 KiB objects had only
``arena_size / 8 MiB`` of them in flight per worker, all queued on the first worker beyond that.
And no call waits forever for room that its own requests in flight hold."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import own_pool, s3_at
from faultserver import FaultServer, Hold

import rustyobjectstore as ros
from rustyobjectstore._ops.calls import FIRST_PART_UNDER_PRESSURE
from rustyobjectstore._worker import lifetime

KiB, MiB = 1024, 1024 * 1024
ARENA = 32 * MiB  # four times the 8 MiB threshold


def _sizes() -> list[int]:
    """Below, at and above the region a first part gets under pressure, and the 8 MiB threshold."""
    floor = FIRST_PART_UNDER_PRESSURE
    return [0, 1, 64 * KiB, floor - 1, floor, floor + 1, 3 * MiB, 8 * MiB, 8 * MiB + 1]


def _settle(server: FaultServer, more: float = 0.5) -> int:
    """How many gets have reached the held server once no more come for ``more`` seconds."""
    deadline, seen = time.monotonic() + 20, -1
    while time.monotonic() < deadline:
        now = sum(1 for r in server.requests if r.method == "GET")
        if now == seen:
            break
        seen = now
        time.sleep(more)
    return seen


@pytest.fixture
def held() -> Iterator[FaultServer]:
    with FaultServer(default=Hold()) as server:
        yield server


def _gather(keys: list[str], conf: ros.AWSConfig) -> list[bytes]:
    async def all_of() -> list[bytes]:
        return list(await asyncio.gather(*(ros.get_object_async(k, conf) for k in keys)))

    return asyncio.run(all_of())


def test_small_gets_gathered_are_in_flight_beyond_the_thresholds_room(held: FaultServer) -> None:
    """An arena of 32 MiB: two first parts of 8 MiB leave half of it free, then regions of
    ``FIRST_PART_UNDER_PRESSURE``: 2 + 16 gets reach the server before any answer, not 4."""
    payloads = {f"k{i}": os.urandom(_sizes()[i % len(_sizes())]) for i in range(40)}
    for key, data in payloads.items():
        held.objects[f"/bucket/{key}"] = data
    conf = s3_at(held.endpoint)
    with own_pool(n_workers=1, arena_size=ARENA), ThreadPoolExecutor(1) as caller:
        got = caller.submit(_gather, list(payloads), conf)
        in_flight = _settle(held)
        held.release()
        assert got.result(timeout=60) == list(payloads.values())
    assert in_flight == 2 + (ARENA // 2) // FIRST_PART_UNDER_PRESSURE
    # A first part under pressure is the smaller region; what it did not hold came after it.
    firsts = [r for r in held.requests if r.method == "GET" and not r.if_match]
    assert len(firsts) == len(payloads)


def test_gets_waiting_for_room_are_spread_over_the_workers(held: FaultServer) -> None:
    """Calls waiting for a region count as a worker's load: with both arenas full, the waiting
    gets go to both workers, not all to the first."""
    for i in range(60):
        held.objects[f"/bucket/k{i}"] = b"x" * 100
    conf = s3_at(held.endpoint)
    arena = 20 * MiB  # the least 10 MiB single puts allow
    with own_pool(n_workers=2, arena_size=arena), ThreadPoolExecutor(1) as caller:
        got = caller.submit(_gather, [f"k{i}" for i in range(60)], conf)
        in_flight = _settle(held)
        waiting = [c.arena.waiting for c in lifetime.current_pool().connections]
        held.release()
        assert got.result(timeout=60) == [b"x" * 100] * 60
    per_worker = 1 + (arena - 8 * MiB) // FIRST_PART_UNDER_PRESSURE  # one of 8 MiB, then small
    assert in_flight == 2 * per_worker
    assert sorted(waiting) == [30 - per_worker, 30 - per_worker]


def test_no_call_waits_forever_for_room_its_own_requests_hold(
    conf: ros.Config | ros.AWSConfig | ros.AzureConfig,
) -> None:
    """An arena of 20 MiB, the least that 10 MiB single puts allow. Each of these used to wait
    forever: a 40 MiB put's, streamed put's or get's parts in flight, four at most, filled the
    arena and the next part waited for room only their answers, which the call itself takes,
    would give back; and
    gathered gets of 9 MiB each held their first part while waiting for room for the whole."""
    big = os.urandom(40 * MiB)
    nines = [os.urandom(9 * MiB + i) for i in range(4)]
    spans = [(i * 8 * MiB, (i + 1) * 8 * MiB) for i in range(5)]

    async def gathered() -> list[bytes]:
        await asyncio.gather(*(ros.put_object_async(f"n{i}", d, conf) for i, d in enumerate(nines)))
        return list(await asyncio.gather(*(ros.get_object_async(f"n{i}", conf) for i in range(4))))

    with own_pool(n_workers=1, arena_size=20 * MiB, call_timeout_secs=60):
        ros.put_object("big", big, conf)
        assert ros.get_object("big", conf) == big
        with ros.put_object_stream("streamed", conf) as writer:
            for at in range(0, len(big), 3 * MiB):
                writer.write(big[at : at + 3 * MiB])
        assert ros.get_object("streamed", conf) == big
        assert ros.get_object_ranges("big", spans, conf) == [big[s:e] for s, e in spans]
        assert asyncio.run(asyncio.wait_for(gathered(), 60)) == nines


def _gathered_under_pressure(
    conf: ros.Config | ros.AWSConfig | ros.AzureConfig | ros.SnowflakeConfig,
) -> None:
    """Objects of every size around the first part's two regions, got at once from one worker
    of 20 MiB: the first get takes 8 MiB, the rest 1 MiB, and what an object has beyond its first
    part comes as one ranged get more."""
    payloads = {f"p{i}": os.urandom(size) for i, size in enumerate(_sizes())}

    async def round_trip() -> list[bytes]:
        await asyncio.gather(*(ros.put_object_async(k, v, conf) for k, v in payloads.items()))
        return list(await asyncio.gather(*(ros.get_object_async(k, conf) for k in payloads)))

    with own_pool(n_workers=1, arena_size=20 * MiB, call_timeout_secs=60):
        before = ros.current_metrics().total.requests.get("get", 0)
        assert asyncio.run(round_trip()) == list(payloads.values())
        gets = ros.current_metrics().total.requests.get("get", 0) - before
    beyond = [s for s in _sizes()[1:] if s > FIRST_PART_UNDER_PRESSURE]
    assert gets == len(payloads) + len(beyond)


def test_gets_under_pressure_cross_the_first_parts_regions_on_every_store_kind(
    conf: ros.Config | ros.AWSConfig | ros.AzureConfig,
) -> None:
    _gathered_under_pressure(conf)


def test_gets_under_pressure_cross_the_first_parts_regions_on_stages(
    stage: tuple[object, ros.SnowflakeConfig],
) -> None:
    _gathered_under_pressure(stage[1])


def test_a_reader_never_waits_for_room_its_own_blocks_hold(
    conf: ros.Config | ros.AWSConfig | ros.AzureConfig,
) -> None:
    """An arena of 20 MiB and blocks of 9 MiB. A jump's read of 12 MiB used to wait forever: its
    first part (9 MiB), still viewed by the bytes being collected, and the block the read before
    left held (9 MiB) left 2 MiB for the 3 MiB to come. Readers taking turns in one thread, each
    keeping its block between reads, are served too; a block bigger than half the arena, which
    blocks other readers keep could leave no room for, is refused at the open."""
    data = os.urandom(40 * MiB)
    with own_pool(n_workers=1, arena_size=20 * MiB), ros.deadline(60):
        ros.put_object("big", data, conf)
        with ros.open_reader("big", conf, block_size=9 * MiB, read_ahead=0) as reader:
            reader.seek(30 * MiB)
            assert reader.read(1) == data[30 * MiB : 30 * MiB + 1]
            reader.seek(2 * MiB)
            assert reader.read(12 * MiB) == data[2 * MiB : 14 * MiB]
        readers = [ros.open_reader("big", conf, block_size=9 * MiB, read_ahead=1) for _ in range(3)]
        try:
            for turn in range(3):
                for i, reader in enumerate(readers):
                    at = (i * 11 + turn * 5) * MiB
                    reader.seek(at)
                    assert reader.read(5 * MiB) == data[at : at + 5 * MiB]
        finally:
            for reader in readers:
                reader.close()
        with pytest.raises(ValueError, match=r"block_size \(10485761\) must be at most half"):
            ros.open_reader("big", conf, block_size=10 * MiB + 1)


def test_an_fsspec_block_size_beyond_half_the_arena_is_cut_to_fit() -> None:
    """fsspec's ``block_size`` is a hint (s3fs's default is 50 MiB): through our filesystem one
    the arena cannot hold twice reads in blocks of half the arena, where ``open_reader`` refuses
    it."""
    from rustyobjectstore.fsspec import MemoryFileSystem

    data = os.urandom(30 * MiB)
    with own_pool(n_workers=1, arena_size=20 * MiB), ros.deadline(60):
        fs = MemoryFileSystem()
        fs.pipe_file("/hint/big", data)
        with fs.open("/hint/big", "rb", block_size=50 * MiB) as f:
            assert f.read(3 * MiB) == data[: 3 * MiB]
            assert f._blocks.block_size == 10 * MiB
            f.seek(12 * MiB)
            assert f.read() == data[12 * MiB :]


MIXED_SIZES = [0, 1, MiB - 1, MiB, 3 * MiB, 8 * MiB - 1, 8 * MiB, 8 * MiB + 1, 10 * MiB, 17 * MiB,
               40 * MiB]  # fmt: skip


def _mixed_call(rng: random.Random, objects: dict[str, bytes], conf: ros.Config) -> None:
    """One call of a random kind, on a random object, checked."""
    key = rng.choice(list(objects))
    data = objects[key]
    kind = rng.randrange(7)
    if kind == 0:
        assert ros.get_object(key, conf) == data
    elif kind == 1:
        block, ahead = rng.choice([MiB, 4 * MiB, 8 * MiB, 10 * MiB]), rng.randrange(5)
        with ros.open_reader(key, conf, block_size=block, read_ahead=ahead) as reader:
            for _ in range(5):
                at, n = rng.randrange(len(data) or 1), rng.randrange(1, 14 * MiB)
                reader.seek(at)
                assert reader.read(n) == data[at : at + n]
    elif kind == 2:
        with ros.get_object_stream(key, conf) as stream:
            size = rng.choice([7, 64 * KiB, 3 * MiB])
            assert b"".join(iter(lambda: stream.read(size), b"")) == data
    elif kind == 3:
        written, name = os.urandom(rng.choice(MIXED_SIZES)), f"w{rng.randrange(1000)}"
        with ros.put_object_stream(name, conf) as writer:
            for at in range(0, len(written), 5 * MiB):
                writer.write(written[at : at + 5 * MiB])
        assert ros.get_object(name, conf) == written
    elif kind == 4 and data:
        spans = [(a, min(len(data), a + rng.randrange(1, 12 * MiB)))
                 for a in (rng.randrange(len(data)) for _ in range(6))]  # fmt: skip
        assert ros.get_object_ranges(key, spans, conf) == [data[a:b] for a, b in spans]
    elif kind == 5:
        put, name = os.urandom(rng.choice(MIXED_SIZES)), f"p{rng.randrange(1000)}"
        ros.put_object(name, put, conf)
        assert ros.get_object(name, conf) == put
    elif kind == 6:
        keys = [rng.choice(list(objects)) for _ in range(12)]

        async def gathered() -> list[bytes]:
            return list(await asyncio.gather(*(ros.get_object_async(k, conf) for k in keys)))

        assert asyncio.run(gathered()) == [objects[k] for k in keys]


@pytest.mark.parametrize("seed", [6, 13, 15, 16])
def test_mixed_calls_at_once_on_the_smallest_arena_all_finish(seed: int) -> None:
    """Six threads, each making twelve calls of every kind (gets, readers jumping about with
    blocks up to half the arena, streams, multipart and streamed puts, ranges, gathers) on objects
    around every threshold, on one worker of 20 MiB: each call is whole and none waits for room
    that never comes. (Each of these seeds hung before a reader gave back its own blocks before
    waiting: 11 of the first 30 did.)"""
    objects = {f"o{i}": os.urandom(size) for i, size in enumerate(MIXED_SIZES)}
    conf = ros.Config("memory:///mixed")

    def calls(thread: int) -> None:
        rng = random.Random(seed * 100 + thread)
        with ros.deadline(60):
            for _ in range(12):
                _mixed_call(rng, objects, conf)

    with own_pool(n_workers=1, arena_size=20 * MiB), ThreadPoolExecutor(6) as threads:
        for key, data in objects.items():
            ros.put_object(key, data, conf)
        for done in [threads.submit(calls, t) for t in range(6)]:
            done.result(timeout=120)
