"""Range reads: open-ended and suffix ranges, and many ranges of one object merged into few requests
(``get_object_ranges``), on every store, on MinIO, and counted on the loopback fault server."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import minio_config, own_pool, s3_at
from emulators import RunningServer
from faultserver import FaultServer, Hold, Request, e_tag_of
from hypothesis import given
from hypothesis import strategies as st

import rustyobjectstore as ros
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.ranges import REQUESTS_IN_FLIGHT, _Gathered, plan

MiB = 1024 * 1024
AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig


def _awkward_ranges(size: int, seed: int) -> list[tuple[int, int]]:
    """Unsorted, overlapping, empty, past the end, far past the end, the whole object."""
    rng = random.Random(seed)
    ranges = []
    for _ in range(40):
        start = rng.randrange(0, size + 10)
        ranges.append((start, start + rng.choice([0, 1, 7, 1000, 70_000, 300_000])))
    ranges += [(0, size), (size - 3, size + 50), (size, size + 1), (size + 99, 10**15), (5, 5)]
    rng.shuffle(ranges)
    return ranges


# One range: to the end, the last n bytes, past the end.


def test_a_range_to_the_end_and_a_suffix(conf: AnyConf) -> None:
    data = bytes(range(100))
    ros.put_object("r", data, conf)
    assert ros.get_object_range("r", 30, None, conf) == data[30:]
    assert ros.get_object_range("r", 0, None, conf) == data
    assert ros.get_object_range("r", -8, None, conf) == data[-8:]
    assert ros.get_object_range("r", -1000, None, conf) == data  # a suffix longer than the object
    assert ros.get_object_range("r", 90, 1000, conf) == data[90:]


def test_a_range_that_starts_at_or_past_the_end_is_empty(conf: AnyConf) -> None:
    ros.put_object("r", b"0123456789", conf)
    assert ros.get_object_range("r", 10, None, conf) == b""
    assert ros.get_object_range("r", 10, 20, conf) == b""
    assert ros.get_object_range("r", 11, 12, conf) == b""
    ros.put_object("empty", b"", conf)
    assert ros.get_object_range("empty", 0, None, conf) == b""
    assert ros.get_object_range("empty", -4, None, conf) == b""


def test_a_range_of_a_missing_object_is_not_found(conf: AnyConf) -> None:
    for start, end in [(0, None), (-8, None), (0, 10)]:
        with pytest.raises(ros.NotFoundError):
            ros.get_object_range("missing", start, end, conf)


def test_bad_ranges_are_refused_before_anything_is_sent() -> None:
    conf = ros.Config("memory://")
    with pytest.raises(ValueError, match="start=-n and end=None"):
        ros.get_object_range("k", -3, 10, conf)
    with pytest.raises(TypeError, match="two ints"):
        ros.get_object_range("k", 1.5, None, conf)  # type: ignore[arg-type]


def test_a_suffix_larger_than_one_read_comes_in_parts() -> None:
    """The worker says where a suffix starts; the parts after the first follow from there."""
    conf = ros.Config("memory://")
    data = os.urandom(3 * MiB + 17)
    with own_pool(multipart_get_threshold=MiB, multipart_get_part_size=MiB):
        ros.put_object("big", data, conf)
        assert ros.get_object_range("big", -(2 * MiB + 5), None, conf) == data[-(2 * MiB + 5) :]
        assert ros.get_object_range("big", MiB + 3, None, conf) == data[MiB + 3 :]


# Many ranges.


def test_ranges_are_what_slicing_gives(conf: AnyConf) -> None:
    data = os.urandom(600_000)
    ros.put_object("obj", data, conf)
    ranges = _awkward_ranges(len(data), seed=1)
    assert ros.get_object_ranges("obj", ranges, conf) == [data[s:e] for s, e in ranges]
    small = [(s, e) for s, e in ranges if e - s <= 300_000]
    buffers = [bytearray(b"\xee" * (e - s)) for s, e in small]
    sizes = ros.get_object_ranges_into("obj", small, buffers, conf)
    assert sizes == [len(data[s:e]) for s, e in small]
    assert [bytes(b[:n]) for b, n in zip(buffers, sizes, strict=True)] == [
        data[s:e] for s, e in small
    ]
    assert all(b[n:] == b"\xee" * (len(b) - n) for b, n in zip(buffers, sizes, strict=True))


def test_ranges_async(conf: AnyConf) -> None:
    data = os.urandom(100_000)
    ros.put_object("obj", data, conf)
    ranges = [(90_000, 100_000), (0, 10), (50, 60_000)]

    async def both() -> tuple[list[bytes], list[int], bytearray]:
        got = await ros.get_object_ranges_async("obj", ranges, conf, coalesce=0)
        buffer = bytearray(10)
        sizes = await ros.get_object_ranges_into_async("obj", [(99_995, 100_005)], [buffer], conf)
        return got, sizes, buffer

    got, sizes, buffer = asyncio.run(both())
    assert got == [data[s:e] for s, e in ranges]
    assert sizes == [5] and buffer[:5] == data[-5:]


def test_ranges_of_a_missing_object_are_not_found(conf: AnyConf) -> None:
    for ranges in ([(0, 10), (20, 30)], [(4, 4)]):
        with pytest.raises(ros.NotFoundError):
            ros.get_object_ranges("missing", ranges, conf)


def test_no_ranges_and_empty_ranges(conf: AnyConf) -> None:
    ros.put_object("obj", b"abc", conf)
    assert ros.get_object_ranges("obj", [], conf) == []
    assert ros.get_object_ranges("obj", [(1, 1), (3, 3), (9, 9)], conf) == [b"", b"", b""]
    assert ros.get_object_ranges("obj", [(3, 9), (1, 2)], conf) == [b"", b"b"]


def test_bad_range_lists_are_refused() -> None:
    conf = ros.Config("memory://")
    ros.put_object("obj", b"abc", conf)
    with pytest.raises(ValueError, match="range 1 must satisfy"):
        ros.get_object_ranges("obj", [(0, 1), (5, 2)], conf)
    with pytest.raises(TypeError, match="range 0 is not a"):
        ros.get_object_ranges("obj", [(0, 1, 2)], conf)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not two ints"):
        ros.get_object_ranges("obj", [(0, True)], conf)
    with pytest.raises(ValueError, match="coalesce"):
        ros.get_object_ranges("obj", [(0, 1)], conf, coalesce=-1)
    with pytest.raises(ValueError, match="2 ranges but 1 buffers"):
        ros.get_object_ranges_into("obj", [(0, 1), (1, 2)], [bytearray(1)], conf)
    with pytest.raises(ros.BufferTooSmallError, match="buffer 0 holds 1 bytes"):
        ros.get_object_ranges_into("obj", [(0, 2)], [bytearray(1)], conf)
    with pytest.raises(TypeError, match="read-only"):
        ros.get_object_ranges_into("obj", [(0, 1)], [b"x"], conf)


def test_ranges_on_minio(minio_server: RunningServer, minio_bucket: str) -> None:
    conf = minio_config(minio_server, minio_bucket)
    data = os.urandom(20 * MiB + 3)
    ros.put_object("big.bin", data, conf)
    ranges = [*_awkward_ranges(len(data), seed=2), (0, 20 * MiB), (MiB, 19 * MiB)]
    assert ros.get_object_ranges("big.bin", ranges, conf) == [data[s:e] for s, e in ranges]
    assert ros.get_object_range("big.bin", -(9 * MiB), None, conf) == data[-(9 * MiB) :]
    assert ros.get_object_range("big.bin", len(data), None, conf) == b""


# How ranges become requests, counted on the fault server.

PATH = "/bucket/k"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        yield running


def _gets(requests: list[Request]) -> list[str | None]:
    return [r.range for r in requests if r.method == "GET"]


def test_nearby_ranges_share_one_request(server: FaultServer) -> None:
    data = os.urandom(2 * MiB)
    server.objects[PATH] = data
    ranges = [(i * 10_000, i * 10_000 + 1000) for i in range(100)][::-1]
    got = ros.get_object_ranges("k", ranges, s3_at(server.endpoint))
    assert got == [data[s:e] for s, e in ranges]
    assert _gets(server.requests) == [f"bytes=0-{99 * 10_000 + 999}"]


def test_ranges_farther_apart_than_coalesce_are_requests_of_their_own(server: FaultServer) -> None:
    server.objects[PATH] = os.urandom(MiB)
    ranges = [(i * 10_000, i * 10_000 + 1000) for i in range(20)]
    ros.get_object_ranges("k", ranges, s3_at(server.endpoint), coalesce=8999)
    assert sorted(_gets(server.requests), key=lambda r: int(str(r)[6:].split("-")[0])) == [
        f"bytes={s}-{e - 1}" for s, e in ranges
    ]


def test_a_long_range_is_read_in_parts_pinned_to_one_version(server: FaultServer) -> None:
    data = os.urandom(20 * MiB)
    server.objects[PATH] = data
    with own_pool(max_parallel_parts=1):
        assert ros.get_object_ranges("k", [(0, len(data))], s3_at(server.endpoint)) == [data]
    gets = [r for r in server.requests if r.method == "GET"]
    assert [r.range for r in gets] == [
        f"bytes={0}-{8 * MiB - 1}", f"bytes={8 * MiB}-{16 * MiB - 1}",
        f"bytes={16 * MiB}-{20 * MiB - 1}",
    ]  # fmt: skip
    assert [r.if_match for r in gets] == [None, e_tag_of(data), e_tag_of(data)]


def test_an_end_far_past_the_object_makes_no_request_past_it(server: FaultServer) -> None:
    data = os.urandom(MiB)
    server.objects[PATH] = data
    with own_pool(max_parallel_parts=2):
        assert ros.get_object_ranges("k", [(10, 10**15)], s3_at(server.endpoint)) == [data[10:]]
    assert len(_gets(server.requests)) <= 2  # what was in flight before the size was known


def test_a_version_change_between_answers_is_an_error() -> None:
    """Requests in flight before the first answer cannot be pinned: their answers are compared."""
    gathered = _Gathered([(0, 10)])
    gathered.learn(ObjectMeta.from_wire(_wire('"a"')), "k")
    gathered.learn(ObjectMeta.from_wire(_wire('"a"')), "k")
    changed = ObjectMeta.from_wire(_wire('"b"'))
    with pytest.raises(ros.PreconditionFailedError, match="changed while its ranges were read"):
        gathered.learn(changed, "k")


def _wire(e_tag: str) -> dict[str, object]:
    return {"path": "k", "size": 10, "last_modified": 0, "e_tag": e_tag, "version": None}


# The plan itself.

_ranges = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(0, 3000)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=30,
)


@given(_ranges, st.integers(0, 2000), st.integers(1, 4000))
def test_the_plan_covers_every_range_with_disjoint_sorted_spans(
    ranges: list[tuple[int, int]], coalesce: int, part: int
) -> None:
    spans = plan(ranges, coalesce, part)
    assert all(a < b for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    covered = {i for a, b in spans for i in range(a, b)}
    assert all(i in covered for s, e in ranges for i in range(s, e))
    # A span holds more than one range only within ``part``; it never starts or ends in a gap.
    starts = {s for s, e in ranges if s < e} | {b for _, b in spans}
    assert all(a in starts for a, _ in spans)
    assert all(b - a <= part or any(s <= a and b <= e for s, e in ranges) for a, b in spans)


def _in_flight_at_once(data: bytes, ranges: list[tuple[int, int]]) -> int:
    """How many of one call's requests reach the server before any is answered."""
    with FaultServer(default=Hold()) as held, ThreadPoolExecutor(1) as caller:
        held.objects[PATH] = data
        got = caller.submit(ros.get_object_ranges, "k", ranges, s3_at(held.endpoint))
        deadline = time.monotonic() + 10
        seen = -1
        while time.monotonic() < deadline:
            now = len(_gets(held.requests))
            if now == seen:  # nothing more came for a while: all that will before an answer
                break
            seen = now
            time.sleep(0.5)
        held.release()
        assert got.result(timeout=60) == [data[s:e] for s, e in ranges]
    return seen


def test_small_ranges_are_many_requests_in_flight_and_big_ones_few() -> None:
    """A round trip costs the same for a small range as for a big one: small ranges go out up to
    ``REQUESTS_IN_FLIGHT`` at once; bytes in flight stay within ``max_parallel_parts`` parts."""
    data = os.urandom(80 * MiB)
    far_apart = [(i * 2 * MiB, i * 2 * MiB + 1000) for i in range(REQUESTS_IN_FLIGHT + 5)]
    assert _in_flight_at_once(data, far_apart) == REQUESTS_IN_FLIGHT
    parts = [(i * 8 * MiB, (i + 1) * 8 * MiB) for i in range(6)]
    assert _in_flight_at_once(data, parts) == 4  # StaticConfig.max_parallel_parts' default
