"""The faults of a run: a killer that SIGKILLs workers, and one that SIGKILLs the server and
starts it again."""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from chaos.leaks import WorkerPids
from chaos.ledger import Ledger
from chaos.store import StoreConf
from rustyobjectstore._worker.lifetime import current_pool

# Seconds after a restarted server answers its health check during which failures to reach it are
# still the restart's (it loads its state; object_store's retries back off past the outage).
OUTAGE_SLACK = 5.0
AFTER_LAST_RESTART = 2.0  # seconds of calls a run with server restarts makes after its last one


class WorkerKiller:
    """SIGKILLs a random live worker every ``every`` seconds (0.5x to 1.5x); on a memory store, a
    kill of the worker holding it counts as an acknowledged delete of every key."""

    def __init__(
        self, conf: StoreConf, ledger: Ledger, pids: WorkerPids, every: float, seed: int
    ) -> None:
        self.conf = conf
        self.ledger = ledger
        self.pids = pids
        self.every = every
        self.seed = seed
        self.kill_times: list[float] = []

    def run(self, stop: threading.Event) -> None:
        rng = random.Random(f"{self.seed}:killer")
        pinned = self.conf.spec() if self.conf.spec().pinned else None
        if self.every == math.inf:
            return
        while not stop.wait(rng.uniform(0.5, 1.5) * self.every):
            pool = current_pool()
            live = [c for c in pool.connections if c.alive]
            if not live:
                continue
            victim = rng.choice(live)
            holds_store = pinned is not None and _holds(pool, pinned, victim)
            process = victim.transport.process
            if process.poll() is not None:
                continue
            started = time.monotonic()
            process.send_signal(signal.SIGKILL)  # polls first: never a recycled pid
            self.kill_times.append(started)
            self.pids.add(victim.pid)
            if holds_store:
                while victim.alive and time.monotonic() - started < 30:
                    time.sleep(0.002)
                self.ledger.wipe(started, time.monotonic())

    def kills(self) -> int:
        return len(self.kill_times)


class ServerKiller:
    """SIGKILLs the server at random moments and starts it again on the same data, at least
    ``restarts`` times; remembers each outage, when failures to reach the server are allowed."""

    def __init__(
        self, restart: Callable[[], None] | None, restarts: int, every: float, seed: int
    ) -> None:
        self.restart = restart
        self.restarts = restarts
        self.every = every
        self.seed = seed
        # (killed, live again) of each server restart: failures to reach it then are allowed.
        self.outages: list[tuple[float, float]] = []

    def run(self, stop: threading.Event) -> None:
        if self.restart is None or self.restarts <= 0:
            return
        rng = random.Random(f"{self.seed}:server")
        while not stop.wait(rng.uniform(0.5, 1.5) * self.every):
            # Recorded before the kill, open-ended until the server is back: a call that fails
            # during the restart (or on the new server before its readiness check returns) is
            # classified while the restart is still under way.
            index = len(self.outages)
            self.outages.append((time.monotonic(), math.inf))
            self.restart()
            self.outages[index] = (self.outages[index][0], time.monotonic())

    def done(self) -> bool:
        """At least ``--server-restarts`` restarts, and the calls of a while since the last."""
        if len(self.outages) < self.restarts:
            return False
        return not self.outages or time.monotonic() - self.outages[-1][1] >= AFTER_LAST_RESTART

    def in_outage(self, rs: float, re: float) -> bool:
        """Whether a call from ``rs`` to ``re`` overlapped a restart of the server (or the
        moments after it, while it gets ready to serve)."""
        return any(killed <= re and rs <= live + OUTAGE_SLACK for killed, live in self.outages)


def _holds(pool: Any, spec: Any, victim: Any) -> bool:
    """Whether ``victim`` is the worker a memory store is pinned to (the pool's private map)."""
    index = getattr(pool, "_pinned", {}).get(spec)
    if index is None:
        return False
    slots = pool.slots()
    return bool(index < len(slots) and slots[index][1] is victim)
