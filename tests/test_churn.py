"""Worker churn: a thousand SIGKILLed workers, each replaced for the next read, leave nothing behind:
no fd, no process (every one reaped), no thread, no pending call, no temp file, no arena mapping, and
this process's memory does not grow beyond a generous bound."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import leakcheck
import pytest
from conftest import own_pool

import rustyobjectstore as ros
from rustyobjectstore._worker import lifetime

CYCLES = 1000
WARMUP_CYCLES = 20  # allocator pools, caches and lazy imports settle before the baseline
MiB = 1024 * 1024
# Generous: 32 KiB a cycle. What a dead worker leaves (fds, mappings, threads, processes) is
# checked exactly by leakcheck; this catches Python objects piling up.
RSS_GROWTH_LIMIT = 32 * MiB
PAYLOAD = bytes(range(256)) * 16


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def worker_children() -> list[leakcheck.Child]:
    return [c for c in leakcheck.children() if c.is_worker]


@pytest.fixture
def one_worker_pool() -> Iterator[None]:
    """A pool of one worker for the test; the session's pool is restored afterwards."""
    with own_pool(n_workers=1):
        yield


def kill_and_read(cycle: int, conf: ros.Config) -> None:
    """Kills the pool's worker and reads through its replacement. On even cycles the read goes out at
    once, so it usually lands on the dead worker and is retried (a read's one crash retry); on odd
    ones the pool has seen the death first and starts the replacement before sending."""
    (old,) = lifetime.current_pool().connections
    os.kill(old.pid, signal.SIGKILL)
    if cycle % 2:
        old.transport._reader.join()  # it ends after reaping the worker and failing its calls
    assert ros.get_object("k", conf) == PAYLOAD
    (new,) = lifetime.current_pool().connections
    assert new is not old and new.pid != old.pid
    assert old.transport.process.returncode == -signal.SIGKILL  # reaped


def test_a_thousand_killed_workers_leave_nothing_behind(
    one_worker_pool: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = ros.Config(tmp_path.as_uri())
    ros.put_object("k", PAYLOAD, conf)
    for cycle in range(WARMUP_CYCLES):
        kill_and_read(cycle, conf)
    baseline = leakcheck.snapshot()
    fds_before = len(os.listdir("/proc/self/fd"))
    rss_before = rss_bytes()
    metrics_before = ros.current_metrics().total
    started = time.perf_counter()

    for cycle in range(CYCLES):
        kill_and_read(cycle, conf)

    elapsed = time.perf_counter() - started
    assert leakcheck.settled(lambda: leakcheck.leaks(baseline)) == []
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert [c.pid for c in worker_children()] == [
        c.pid for c in lifetime.current_pool().connections
    ]
    rss_after = rss_bytes()
    metrics = ros.current_metrics().total
    assert metrics.restarts - metrics_before.restarts == CYCLES
    assert metrics.in_flight == 0
    crashed = metrics.failures.get("worker_crashed", 0) - metrics_before.failures.get(
        "worker_crashed", 0
    )
    with capsys.disabled():
        print(
            f"\n{CYCLES} kill-and-respawn cycles in {elapsed:.1f} s "
            f"({elapsed / CYCLES * 1000:.1f} ms each); {crashed} reads hit a dead worker and were "
            f"retried; RSS {rss_before / MiB:.1f} MiB before, {rss_after / MiB:.1f} MiB after"
        )
    assert rss_after - rss_before < RSS_GROWTH_LIMIT
