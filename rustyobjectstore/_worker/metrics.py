"""Counters a user can read while a job runs: ``current_metrics()``.

Each pool slot has one ``SlotCounters`` that outlives the workers it restarts. Requests, failures and
payload bytes are counted here as frames pass; HTTP requests and retries, latency histograms and
native memory are the worker's, fetched on demand.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Requests that carry payload bytes out, and the response field that says how many came in.
_OUTBOUND = frozenset({"put", "multipart_part", "write_chunk"})


class SlotCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        self.restarts = 0

    def sent(self, op: str, region: object) -> None:
        if op in ("metrics", "ping"):
            return  # asking after the workers is not work to count
        with self._lock:
            self.requests[op] += 1
            if op in _OUTBOUND and isinstance(region, (list, tuple)):
                self.bytes_out += int(region[1])

    def received(self, written: object) -> None:
        if isinstance(written, int):
            with self._lock:
                self.bytes_in += written

    def failed(self, kind: str, count: int = 1) -> None:
        with self._lock:
            self.failures[kind] += count

    def restarted(self) -> None:
        with self._lock:
            self.restarts += 1


def bucket_top(index: int) -> float:
    """The upper bound of a worker histogram's bucket, in seconds (protocol.md, ``metrics``)."""
    return 1e-6 * 2 ** (index / 8)


@dataclass(frozen=True)
class Latency:
    """How long one kind of call took in the workers: count, the shortest and longest, the mean
    and the percentiles (from log-scaled buckets a ninth apart, so within 9%), in seconds:
    ``p99 = current_metrics().total.latency["get"].p99``."""

    count: int = 0
    min: float = 0.0
    max: float = 0.0
    total: float = 0.0
    #: (bucket index, count) pairs, merged exactly across workers
    buckets: tuple[tuple[int, int], ...] = ()

    @property
    def mean(self) -> float:
        """The mean duration in seconds: ``latency.mean``."""
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> float:
        """The duration under which a fraction ``q`` (0 to 1) of the calls finished, in seconds:
        ``latency.percentile(0.9)``."""
        if not self.count:
            return 0.0
        rank = max(1, round(q * self.count))
        seen = 0
        for index, n in self.buckets:
            seen += n
            if seen >= rank:
                return min(max(bucket_top(index), self.min), self.max)
        return self.max

    @property
    def p50(self) -> float:
        """The median in seconds: ``percentile(0.5)``."""
        return self.percentile(0.5)

    @property
    def p99(self) -> float:
        """The 99th percentile in seconds: ``percentile(0.99)``."""
        return self.percentile(0.99)

    @classmethod
    def from_wire(cls, h: Mapping[str, Any]) -> Latency:
        """A worker's histogram as the ``metrics`` answer carries it (protocol.md):
        ``Latency.from_wire({"count": 0, "min_ns": 0, "max_ns": 0, "sum_ns": 0, "buckets": []})``."""
        return cls(
            count=int(h["count"]), min=int(h["min_ns"]) / 1e9, max=int(h["max_ns"]) / 1e9,
            total=int(h["sum_ns"]) / 1e9,
            buckets=tuple((int(i), int(n)) for i, n in h["buckets"]),
        )  # fmt: skip

    def __add__(self, other: Latency) -> Latency:
        if not other.count:
            return self
        if not self.count:
            return other
        merged: Counter[int] = Counter(dict(self.buckets))
        merged.update(dict(other.buckets))
        return Latency(
            count=self.count + other.count, min=min(self.min, other.min),
            max=max(self.max, other.max), total=self.total + other.total,
            buckets=tuple(sorted(merged.items())),
        )  # fmt: skip


def latencies(wire: object) -> dict[str, Latency]:
    if not isinstance(wire, Mapping):
        return {}
    return {str(name): Latency.from_wire(h) for name, h in wire.items()}


def _merged(maps: list[dict[str, Latency]]) -> dict[str, Latency]:
    out: dict[str, Latency] = {}
    for m in maps:
        for name, latency in m.items():
            out[name] = out.get(name, Latency()) + latency
    return out


@dataclass(frozen=True)
class WorkerMetrics:
    """One pool slot (or, in ``Metrics.total``, all of them), counted since the pool started
    (``http_requests`` and ``retries``: since the slot's current worker started):
    ``current_metrics().total.failures.get("not_found", 0)``."""

    #: frames sent, by protocol op ("get", "put", "multipart_part", "list", ...)
    requests: dict[str, int] = field(default_factory=dict)
    #: failed calls, by error kind ("not_found", "permission", "worker_crashed", ...)
    failures: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    in_flight: int = 0
    restarts: int = 0
    #: HTTP requests the worker sent, retries included (current worker only)
    http_requests: int = 0
    #: HTTP attempts that failed in a way object_store retries: 5xx, 429, 408, connection errors
    #: and timeouts (current worker only)
    retries: int = 0
    pid: int | None = None
    #: how long the worker's operations took, by protocol op (current worker only)
    latency: dict[str, Latency] = field(default_factory=dict)
    #: how long its HTTP attempts took, by method, retries included (current worker only)
    http_latency: dict[str, Latency] = field(default_factory=dict)
    #: bytes the worker's heap holds now (live native memory; the shared arena is apart)
    heap_bytes: int = 0
    #: the worker's resident set in bytes, where the system tells it (Linux), else None
    rss_bytes: int | None = None


@dataclass(frozen=True)
class Metrics:
    """What ``current_metrics()`` returns: the counters of every pool slot (``workers``) and their
    sum (``total``): ``print(current_metrics().total.requests)``."""

    total: WorkerMetrics
    workers: list[WorkerMetrics]


def snapshot(counters: SlotCounters, **live: Any) -> WorkerMetrics:
    with counters._lock:
        return WorkerMetrics(
            requests=dict(counters.requests), failures=dict(counters.failures),
            bytes_in=counters.bytes_in, bytes_out=counters.bytes_out,
            restarts=counters.restarts, **live,
        )  # fmt: skip


def add_up(workers: list[WorkerMetrics]) -> WorkerMetrics:
    requests: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for w in workers:
        requests.update(w.requests)
        failures.update(w.failures)
    return WorkerMetrics(
        requests=dict(requests), failures=dict(failures),
        bytes_in=sum(w.bytes_in for w in workers), bytes_out=sum(w.bytes_out for w in workers),
        in_flight=sum(w.in_flight for w in workers), restarts=sum(w.restarts for w in workers),
        http_requests=sum(w.http_requests for w in workers),
        retries=sum(w.retries for w in workers),
        latency=_merged([w.latency for w in workers]),
        http_latency=_merged([w.http_latency for w in workers]),
        heap_bytes=sum(w.heap_bytes for w in workers),
        rss_bytes=sum(known) if (known := [w.rss_bytes for w in workers
                                             if w.rss_bytes is not None]) else None,
    )  # fmt: skip
