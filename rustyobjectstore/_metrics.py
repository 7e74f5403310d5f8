"""Counters a user can read while a job runs: ``current_metrics()``.

Each pool slot has one ``SlotCounters`` that outlives the workers it restarts. Requests, failures and
payload bytes are counted here as frames pass; HTTP requests and retries are counted in the worker,
at its HTTP client, and fetched on demand.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Metrics:
    """What ``current_metrics()`` returns: the counters of every pool slot (``workers``) and their
    sum (``total``): ``print(current_metrics().total.requests)``."""

    total: WorkerMetrics
    workers: list[WorkerMetrics]


def snapshot(counters: SlotCounters, **live: int | None) -> WorkerMetrics:
    with counters._lock:
        return WorkerMetrics(
            requests=dict(counters.requests), failures=dict(counters.failures),
            bytes_in=counters.bytes_in, bytes_out=counters.bytes_out,
            restarts=counters.restarts, **live,  # type: ignore[arg-type]
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
    )  # fmt: skip
