"""current_metrics(): counters that move with the work, per worker and in total."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import s3_at
from faultserver import FaultServer, Hold, Status

import rustyobjectstore as ros


def test_counters_follow_the_work(tmp_path: Path) -> None:
    conf = ros.Config(tmp_path.as_uri())
    before = ros.current_metrics().total
    ros.put_object("m/a", b"x" * 1000, conf)
    assert ros.get_object("m/a", conf) == b"x" * 1000
    with pytest.raises(ros.NotFoundError):
        ros.head_object("m/missing", conf)
    after = ros.current_metrics()
    total = after.total
    assert total.requests.get("put", 0) - before.requests.get("put", 0) == 1
    assert total.requests.get("get", 0) - before.requests.get("get", 0) == 1
    assert total.requests.get("head", 0) - before.requests.get("head", 0) == 1
    assert total.bytes_out - before.bytes_out == 1000
    assert total.bytes_in - before.bytes_in == 1000
    assert total.failures.get("not_found", 0) - before.failures.get("not_found", 0) == 1
    assert "metrics" not in total.requests
    assert total.in_flight == 0
    assert len(after.workers) == 2
    assert all(w.pid for w in after.workers)
    assert sum(w.bytes_out for w in after.workers) == total.bytes_out
    assert asyncio.run(ros.current_metrics_async()).total.bytes_out == total.bytes_out


@pytest.fixture
def unavailable_server() -> Iterator[str]:
    """Answers every request with 503: a storm no real server can be asked for."""
    with FaultServer(default=Status(503)) as server:
        yield server.endpoint


def test_retries_are_counted_and_the_status_is_reported(unavailable_server: str) -> None:
    conf = s3_at(unavailable_server, max_retries=2, initial_backoff_ms=1, max_backoff_ms=5)
    before = ros.current_metrics().total
    with pytest.raises(ros.HTTPStatusError) as caught:
        ros.get_object("k", conf)
    assert ros.status_code(caught.value) == 503
    after = ros.current_metrics().total
    assert after.http_requests - before.http_requests == 3  # the first try and two retries
    assert after.retries - before.retries == 3
    assert after.failures.get("http_status", 0) - before.failures.get("http_status", 0) == 1


def test_latency_histograms_come_from_the_workers(tmp_path: Path) -> None:
    with FaultServer() as server:
        server.objects["/bucket/slow"] = b"data"
        server.script(Hold())
        conf = s3_at(server.endpoint, max_retries=0)
        before = ros.current_metrics().total

        def release_once_held() -> None:
            # Held from the moment the request arrives: the attempt lasts at least 0.3 s.
            while not server.requests:
                time.sleep(0.01)
            time.sleep(0.3)
            server.release()

        releaser = threading.Thread(target=release_once_held)
        releaser.start()
        assert ros.get_object("slow", conf) == b"data"
        releaser.join()
    total = ros.current_metrics().total
    get = total.latency["get"]
    assert get.count - before.latency.get("get", ros.Latency()).count == 1
    assert get.max >= 0.3
    assert total.http_latency["GET"].max >= 0.3
    local = ros.Config(tmp_path.as_uri())
    for i in range(40):
        ros.put_object(f"l/{i}", b"x", local)
    metrics = ros.current_metrics()
    put = metrics.total.latency["put"]
    assert 0 < put.min <= put.p50 <= put.p99 <= put.max < 5
    assert put.count == sum(w.latency["put"].count for w in metrics.workers if "put" in w.latency)
    assert put.count >= 40 and put.mean > 0
    assert "metrics" not in metrics.total.latency


def test_native_memory_follows_what_a_worker_holds() -> None:
    conf = ros.Config("memory://")  # a memory store keeps its objects in one worker's heap
    ros.put_object("seed", b"x", conf)
    before = ros.current_metrics().total.heap_bytes
    ros.put_object("big", bytes(64 << 20), conf)
    during = ros.current_metrics().total
    assert during.heap_bytes - before >= 60 << 20
    assert during.rss_bytes is not None and during.rss_bytes > 64 << 20
    ros.delete_object("big", conf)
    assert ros.current_metrics().total.heap_bytes < during.heap_bytes - (60 << 20)


def test_latencies_merge_exactly_and_cut_percentiles_from_their_buckets() -> None:
    a = ros.Latency.from_wire({"count": 3, "min_ns": 1_000_000, "max_ns": 9_000_000,
                               "sum_ns": 12_000_000, "buckets": [[80, 2], [106, 1]]})  # fmt: skip
    b = ros.Latency.from_wire({"count": 1, "min_ns": 500, "max_ns": 500, "sum_ns": 500,
                               "buckets": [[0, 1]]})  # fmt: skip
    both = a + b
    assert both.count == 4 and both.buckets == ((0, 1), (80, 2), (106, 1))
    assert both.min == 5e-7 and both.max == 0.009
    assert both.percentile(0.25) == 1e-6  # the top of the first bucket (under 1 µs)
    assert 0.001 <= both.p50 <= 0.00109  # bucket 80 ends at 2^10 µs
    assert both.p99 == 0.009  # held to the maximum
    assert ros.Latency().p99 == 0.0 and ros.Latency() + a == a
