"""What a program abandons (a view whose block it never left, a listing it never finished, a write
stream it never closed) is let go of without a finalizer taking a lock or starting a thread: the
release is queued and runs at the next call, or at the pool watchdog's tick
(``rustyobjectstore/_worker/finalizers.py``)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from conftest import own_pool

import rustyobjectstore as ros
from rustyobjectstore._worker import lifetime


@pytest.fixture(autouse=True)
def no_watchdog() -> Iterator[None]:
    """A pool without the watchdog, whose tick would also run the queue: here only calls do."""
    with own_pool(n_workers=1, worker_stall_secs=0):
        yield


def allocated() -> int:
    return sum(c.arena.size - c.arena.free_bytes for c in lifetime.current_pool().connections)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """Threads started from this test's own thread (a finalizer runs on the thread that collects):
    a background thread of something else does not count."""
    found: list[threading.Thread] = []
    me, start = threading.get_ident(), threading.Thread.start

    def recording(thread: threading.Thread) -> None:
        if threading.get_ident() == me:
            found.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recording)
    return found


def test_an_abandoned_view_is_given_back_by_the_next_call(
    started: list[threading.Thread],
) -> None:
    conf = ros.Config("memory:///finalizers-view")
    ros.put_object("k", b"v" * 1000, conf)
    before = allocated()
    block = ros.get_object_view("k", conf)
    assert bytes(block.__enter__()[:3]) == b"vvv"
    assert allocated() > before
    del started[:]
    del block
    gc.collect()
    assert started == []  # the collector started nothing
    assert allocated() > before  # nor released anything: it queued the release
    ros.head_object("k", conf)  # the next call runs what was queued first
    assert allocated() == before


def test_an_abandoned_listing_and_write_stream_are_released_by_the_next_call(
    started: list[threading.Thread],
) -> None:
    conf = ros.Config("memory:///finalizers-listing")
    for i in range(3):
        ros.put_object(f"k{i}", b"x", conf)
    listing = ros.list_objects_stream("", conf)
    writer = ros.put_object_stream("new", conf)
    writer.write(b"never stored")
    del started[:]
    del listing, writer
    gc.collect()
    assert started == []
    assert [m.path for m in ros.list_objects("", conf)] == ["k0", "k1", "k2"]  # "new" dropped
    assert allocated() == 0
