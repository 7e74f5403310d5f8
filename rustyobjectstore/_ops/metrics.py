"""``metrics``: every worker slot's counters, with the HTTP counters and latencies each live
worker reports."""

from __future__ import annotations

from rustyobjectstore._errors import ObjectStoreError
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message
from rustyobjectstore._worker.metrics import Metrics, add_up, latencies, snapshot
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step


def metrics(pool: Pool) -> Step[Metrics]:
    """Every slot's counters, with the HTTP counters of each live worker."""
    slots = pool.slots()
    asked = [
        conn.request(codec.metrics(), "metrics", None) if conn is not None and conn.alive else None
        for _, conn in slots
    ]
    workers = []
    for (counters, conn), future in zip(slots, asked, strict=True):
        http: Message = {}
        if future is not None:
            try:
                http = yield future
            except ObjectStoreError:
                pass  # a worker that died just now has no counters to give
        workers.append(
            snapshot(
                counters,
                in_flight=conn.in_flight if conn is not None else 0,
                pid=conn.pid if conn is not None else None,
                http_requests=int(http.get("http_requests", 0)),
                retries=int(http.get("retries", 0)),
                latency=latencies(http.get("latency")),
                http_latency=latencies(http.get("http_latency")),
                heap_bytes=int(http.get("heap_bytes") or 0),
                rss_bytes=None if http.get("rss_bytes") is None else int(http["rss_bytes"]),
            )
        )
    return Metrics(total=add_up(workers), workers=workers)
