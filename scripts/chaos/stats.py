"""Counters of a run (outcomes, errors, problems with samples) and the watchdog of hung calls."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

MUST_BE_ZERO = (
    "acknowledged writes lost",
    "corrupt reads",
    "stale reads",
    "unexpected errors",
    "hung calls",
    "worker processes left",
    "library threads left",
    "fd growth",
    "library temp files left",
)
SAMPLES = 20  # messages kept per problem kind


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (op, outcome)
        self.errors: Counter[tuple[str, str]] = Counter()  # (exception type, op)
        self.unexpected: Counter[tuple[str, str]] = Counter()  # of those, the ones not allowed
        self.problems: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}
        self.ok_starts: list[float] = []

    def outcome(self, op: str, outcome: str, rs: float) -> None:
        with self._lock:
            self.outcomes[op, outcome] += 1
            if outcome == "ok":
                self.ok_starts.append(rs)

    def error(self, op: str, exc: BaseException) -> None:
        with self._lock:
            self.errors[type(exc).__name__, op] += 1

    def not_allowed(self, op: str, exc: BaseException) -> None:
        with self._lock:
            self.unexpected[type(exc).__name__, op] += 1

    def problem(self, kind: str, message: str) -> None:
        with self._lock:
            self.problems[kind] += 1
            kept = self.samples.setdefault(kind, [])
            if len(kept) < SAMPLES:
                kept.append(message[:600])


class Tracker:
    """Calls in flight, and those that outlived the per-call watchdog's timeout (hung)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.in_flight: dict[int, tuple[float, str, str]] = {}
        self.hung: dict[int, str] = {}

    def begin(self, op: str, key: str) -> int:
        token = next(self._ids)
        with self._lock:
            self.in_flight[token] = (time.monotonic(), op, key)
        return token

    def end(self, token: int) -> None:
        with self._lock:
            self.in_flight.pop(token, None)

    def mark_hung(self, token: int, op: str, key: str) -> None:
        with self._lock:
            self.hung.setdefault(token, f"{op} {key}")

    def scan(self) -> None:
        now = time.monotonic()
        with self._lock:
            for token, (start, op, key) in self.in_flight.items():
                if now - start > self.timeout:
                    self.hung.setdefault(token, f"{op} {key}")

    def watch(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            self.scan()
