"""Timing: every client on one workload in turns, samples in seconds, medians in the workload's
unit, and the bytes read back checked."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.clients import Client
from bench.common import OPS, ROS, ROS_BYTES, KiB, log, short
from bench.workloads import TREE_DIRS, TREE_KEYS, Workload, make_payload, random_ranges


@dataclass
class Record:
    """One (server, workload, op, library) cell: raw samples in seconds and the median."""

    server: str
    workload: str
    op: str
    lib: str
    status: str  # "ok", "not installed", "unavailable", "failed"
    unit: str
    reason: str = ""
    # Throughput workloads: seconds per repeat. Latency: seconds of each call, one list per repeat.
    samples: list[Any] = field(default_factory=list)
    median: float | None = None


def summarize(record: Record, workload: Workload) -> None:
    """Fill ``record.median`` in the workload's unit from its samples."""
    if record.status != "ok" or not record.samples:
        return
    if workload.latency:
        per_repeat = [statistics.median(calls) * 1e6 for calls in record.samples]
        record.median = statistics.median(per_repeat)
        return
    values = []
    for seconds in record.samples:
        seconds = max(seconds, 1e-9)
        if workload.unit == "ops/s":
            values.append(workload.count / seconds)
        else:
            values.append(workload.count * workload.size / seconds / 1e9)
    record.median = statistics.median(values)


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ops/s":
        return f"{value:,.0f}"
    if unit == "us":
        return f"{value:,.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def measure_together(
    clients: Sequence[Client], server: str, workload: Workload, payload: bytes, repeats: int
) -> list[Record]:
    """Every client on one workload, their samples taken in turns (each client's first put, then
    each one's second...), so that a slow spell of the shared machine weighs on every library
    alike instead of on whichever ran through it."""
    runs = [measure(client, server, workload, payload, repeats) for client in clients]
    records: list[Record] = []
    while runs:
        for run in list(runs):
            try:
                next(run)
            except StopIteration as finished:
                records += finished.value
                runs.remove(run)
    return records


def measure(
    client: Client, server: str, workload: Workload, payload: bytes, repeats: int
) -> Generator[None, None, list[Record]]:
    """Puts then gets (and each extra get variant), ``repeats`` times each; cleans up after.
    Pauses (yields) after each sample, so that ``measure_together`` can take turns."""
    w = workload
    if w.ops == ("ranges",):
        return (yield from measure_ranges(client, server, w, payload, repeats))
    if w.ops in (("list",), ("list_dir",)):
        return (yield from measure_listing(client, server, w, repeats))
    keys = [f"bench/{client.lib}/{w.key}/{i:06d}" for i in range(w.count)]
    columns = {client.lib: "", **client.get_variants}
    records = {
        (op, lib): Record(server, w.key, op, lib, "ok", w.unit)
        for op in OPS
        for lib in columns
        if op == "get" or lib == client.lib
    }
    current: Record | None = None
    verifying = False
    try:
        client.variant = ""
        client.prepare(w.size, w.in_flight)
        if w.in_flight > 1:  # warm up: the connections 64 calls at once will use
            warm = keys[: min(len(keys), 2 * w.in_flight)]
            client.put_many(warm, payload, w.in_flight)
            client.get_many(warm, w.size, w.in_flight)
        elif w.latency:
            for key in keys[:10]:
                client.put_one(key, payload)
                client.get_one(key, w.size)
        for op in OPS:
            for lib, variant in columns.items():
                if (op, lib) not in records:
                    continue
                current = records[(op, lib)]
                client.variant = variant
                for _ in range(repeats):
                    current.samples.append(_timed(client, op, keys, payload, w))
                    yield
                log(f"  {server} {w.key} {op} {lib}: {_fmt_sample(current, w)}")
                current = None
        client.variant = ""
        client.release()
        verifying = True
        if client.fetch(keys[0]) != payload:
            raise RuntimeError(f"{keys[0]}: the bytes read back differ from those written")
    except Exception as e:
        reason = short(e)
        log(f"  {server} {w.key} {client.lib}: FAILED: {reason}")
        for record in records.values():
            if verifying or record is current or not record.samples:
                record.status, record.reason = "failed", reason
    finally:
        client.variant = ""
        client.release()
        with contextlib.suppress(Exception):
            client.delete(keys)
    for record in records.values():
        summarize(record, w)
    return list(records.values())


def measure_ranges(
    client: Client, server: str, w: Workload, payload: bytes, repeats: int
) -> Generator[None, None, list[Record]]:
    """One object, then its ranges read ``repeats`` times; the bytes are checked once."""
    key = f"bench/{client.lib}/{w.key}/object"
    ranges = random_ranges(w)
    record = Record(server, w.key, "ranges", client.lib, "ok", w.unit)
    with _one_record(client, record, w, [key]):
        client.put_one(key, payload)
        if client.get_ranges(key, ranges) != [payload[s:e] for s, e in ranges]:
            raise RuntimeError(f"{key}: the ranges read differ from the bytes written")
        for _ in range(repeats):
            start = time.perf_counter()
            client.get_ranges(key, ranges)
            record.samples.append(time.perf_counter() - start)
            yield
    return [record]


def measure_listing(
    client: Client, server: str, w: Workload, repeats: int
) -> Generator[None, None, list[Record]]:
    """Keys of one byte (put ``w.in_flight`` at once, not timed), then listed ``repeats`` times:
    all of them (``list``: ``w.count`` keys a listing), or one level of each directory of a tree
    and of their parent (``list_dir``: ``w.count`` calls); the counts are checked every time."""
    (op,) = w.ops
    base = f"bench/{client.lib}/{w.key}/"
    if op == "list":
        keys = [f"{base}k{i:06d}" for i in range(w.count)]
    else:
        per_dir = TREE_KEYS // TREE_DIRS
        keys = [f"{base}d{d:03d}/k{k:04d}" for d in range(TREE_DIRS) for k in range(per_dir)]
    record = Record(server, w.key, op, client.lib, "ok", w.unit)
    with _one_record(client, record, w, keys):
        client.put_many(keys, b"x", w.in_flight)
        for _ in range(repeats):
            start = time.perf_counter()
            counted: object
            if op == "list":
                counted = client.list_keys(base)
                expected: object = w.count
            else:
                counted = [client.list_level(base)] + [
                    client.list_level(f"{base}d{d:03d}/") for d in range(TREE_DIRS)
                ]
                expected = [(0, TREE_DIRS)] + [(TREE_KEYS // TREE_DIRS, 0)] * TREE_DIRS
            record.samples.append(time.perf_counter() - start)
            if counted != expected:
                raise RuntimeError(f"{base}: listed {counted!r}, expected {expected!r}")
            yield
    return [record]


@contextlib.contextmanager
def _one_record(client: Client, record: Record, w: Workload, keys: Sequence[str]) -> Iterator[None]:
    """Around the samples of a one-record workload: logs the result, or marks ``record`` failed
    (logged, not raised); deletes ``keys`` either way; fills the median."""
    try:
        yield
        log(f"  {record.server} {w.key} {record.op} {client.lib}: {_fmt_sample(record, w)}")
    except Exception as e:
        log(f"  {record.server} {w.key} {client.lib}: FAILED: {short(e)}")
        record.status, record.reason = "failed", short(e)
    finally:
        with contextlib.suppress(Exception):
            client.delete(keys)
    summarize(record, w)


def _timed(client: Client, op: str, keys: Sequence[str], payload: bytes, w: Workload) -> Any:
    if w.latency:
        calls = []
        for key in keys:
            start = time.perf_counter()
            if op == "put":
                client.put_one(key, payload)
            else:
                client.get_one(key, w.size)
            calls.append(time.perf_counter() - start)
        return calls
    if w.in_flight > 1:
        if op == "put":
            return client.put_many(keys, payload, w.in_flight)
        return client.get_many(keys, w.size, w.in_flight)
    start = time.perf_counter()
    for key in keys:
        if op == "put":
            client.put_one(key, payload)
        else:
            client.get_one(key, w.size)
    return time.perf_counter() - start


def _fmt_sample(record: Record, w: Workload) -> str:
    probe = Record(record.server, record.workload, record.op, record.lib, "ok", record.unit)
    probe.samples = record.samples
    summarize(probe, w)
    return f"{fmt_value(probe.median, w.unit)} {w.unit} ({len(record.samples)} samples)"


def warm_up(client: Client) -> None:
    """Start the library's client and connection outside any timing."""
    payload = make_payload(KiB)
    key = f"bench/{client.lib}/warm"
    client.prepare(KiB, 1)
    for _ in range(3):
        client.put_one(key, payload)
        client.get_one(key, KiB)
    client.release()
    client.delete([key])


def mark(
    records: list[Record],
    server: str,
    chosen: Sequence[Workload],
    lib: str,
    status: str,
    reason: str,
) -> None:
    for w in chosen:
        for op in w.ops:
            records.append(Record(server, w.key, op, lib, status, w.unit, reason))
            if lib == ROS and op == "get":
                records.append(Record(server, w.key, op, ROS_BYTES, status, w.unit, reason))
