"""Work that finalizers hand over instead of doing.

A ``__del__`` runs at any allocation on any thread: maybe one that holds a lock the work needs, the
reader thread that would deliver the answers it waits for, or the interpreter's own exit, where a
thread started there never runs (``Thread.start()`` then waits forever on Python 3.11) and a lock
may never be given back. So a finalizer only appends its work here (a deque's append takes no lock),
and the work runs later on a thread that holds nothing of ours: at the start of the next call on any
thread, and at the pool watchdog's next tick. The work must not wait for the worker either: it sends
and lets go. What is still queued when the interpreter exits is dropped; the workers see their stdin
close and let go of everything.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable

from rustyobjectstore._worker.forks import FINALIZERS, after_fork_in_child

_queued: deque[Callable[[], object]] = deque()


def later(work: Callable[[], object]) -> None:
    """Queues ``work`` (which must not block) to run outside the finalizer that calls this."""
    _queued.append(work)


def run_queued() -> None:
    """Runs every queued piece of work, ignoring its errors: nobody is left to hear of them."""
    while _queued:
        try:
            work = _queued.popleft()
        except IndexError:  # another thread took the last one
            return
        with contextlib.suppress(Exception):
            work()


# A forked child's queue names its parent's workers, whose pipes it must not touch.
after_fork_in_child(FINALIZERS, _queued.clear)
