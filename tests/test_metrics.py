"""current_metrics(): counters that move with the work, per worker and in total."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import s3_at
from faultserver import FaultServer, Status

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
