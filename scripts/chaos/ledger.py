"""The ledger of writes: every write to every key with its interval, and from it what a read may
see (the register rule of the package's docstring)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass

ABSENT = -1  # the size of a delete (or of the initial state)


@dataclass(eq=False)
class Write:
    version: int  # 0 for a delete
    size: int  # payload bytes; ABSENT for a delete
    start: float
    end: float = math.inf  # when the call returned; inf while in flight or if it hung
    acked: bool = False


class Ledger:
    """Every write to every key, with its interval; what a read may see follows from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.history: dict[str, list[Write]] = {}
        self.versions: dict[int, tuple[str, Write]] = {}
        self._next = itertools.count(1)

    def new_version(self) -> int:
        return next(self._next)

    def _keyed(self, key: str) -> list[Write]:
        hist = self.history.get(key)
        if hist is None:
            hist = self.history[key] = [Write(0, ABSENT, -math.inf, -math.inf, acked=True)]
        return hist

    def begin(self, key: str, version: int, size: int) -> Write:
        with self._lock:
            write = Write(version, size, time.monotonic())
            self._keyed(key).append(write)
            if version:
                self.versions[version] = (key, write)
            return write

    def finish(self, write: Write, acked: bool) -> None:
        with self._lock:
            write.end = time.monotonic()
            write.acked = acked

    def wipe(self, start: float, end: float) -> None:
        """A memory store lost with its worker: an acknowledged delete of every key."""
        with self._lock:
            for hist in self.history.values():
                hist.append(Write(0, ABSENT, start, end, acked=True))

    def allowed(self, key: str, rs: float, re: float) -> list[Write]:
        """The writes a read from ``rs`` to ``re`` may see: started before ``re``, and not followed
        by an acknowledged write that started after it ended and ended before ``rs``."""
        with self._lock:
            hist = list(self._keyed(key))
        floor = max((w.start for w in hist if w.acked and w.end < rs), default=-math.inf)
        return [w for w in hist if w.start < re and w.end >= floor]

    def lookup(self, version: int) -> tuple[str, Write] | None:
        with self._lock:
            return self.versions.get(version)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self.history)

    def written(self, key: str) -> list[Write]:
        """Every write of ``key`` that leaves an object (no deletes), oldest first."""
        with self._lock:
            return [w for w in self.history.get(key, []) if w.size != ABSENT]
