"""The pool: several workers, each call sent to the least busy one, except that every call on a
``memory://`` store goes to the one worker that holds its data. A dead worker is replaced on the next
call; a pool inherited through ``fork()`` is abandoned (its pipes belong to the parent) and the child
starts its own.
"""

from __future__ import annotations

import os
import threading

from rustyobjectstore._errors import WorkerCrashedError
from rustyobjectstore._worker import steps as _steps
from rustyobjectstore._worker.connection import Connection
from rustyobjectstore._worker.finalizers import run_queued
from rustyobjectstore._worker.metrics import SlotCounters
from rustyobjectstore._worker.settings import StaticConfig
from rustyobjectstore._worker.spec import StoreSpec


class Pool:
    def __init__(self, settings: StaticConfig) -> None:
        self.settings = settings
        _steps.default_timeout = settings.call_timeout_secs
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
        self._pinned: dict[StoreSpec, int] = {}
        self._slots: list[Connection | None] = [None] * settings.n_workers
        self.counters = [SlotCounters() for _ in range(settings.n_workers)]
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        try:
            for i in range(settings.n_workers):
                self._slots[i] = Connection(settings, self.counters[i])
        except BaseException:
            self.close()
            raise
        if settings.worker_stall_secs > 0:
            self._watchdog = threading.Thread(
                target=self._watch, daemon=True, name="rustyobjectstore-watchdog"
            )
            self._watchdog.start()

    def _watch(self) -> None:
        stall = self.settings.worker_stall_secs
        while not self._stop.wait(min(1.0, stall / 4)):
            run_queued()  # what finalizers handed over, for a program that makes no more calls
            for connection in self.connections:
                connection.check_stalled(stall)

    def route(self, spec: StoreSpec) -> tuple[Connection, int]:
        """The connection for a call on ``spec``, and the store's number on it."""
        with self._lock:
            if self._closed:
                raise WorkerCrashedError("the object store pool is shut down", op="route")
            if spec.pinned:
                index = self._pinned.get(spec)
                if index is None:
                    index = self._least_busy()
                    self._pinned[spec] = index
            else:
                index = self._least_busy()
            connection = self._slots[index]
            if connection is None or not connection.alive:
                connection = self._replace(index)
        return connection, connection.store_id(spec)

    def _least_busy(self) -> int:
        best, best_load = 0, None
        for i, connection in enumerate(self._slots):
            # Calls waiting for room in a worker's arena are its load too: a gather of more gets
            # than the arenas hold would otherwise queue all the rest on the first worker.
            if connection is None or not connection.alive:
                load = -1
            else:
                load = connection.in_flight + connection.arena.waiting
            if best_load is None or load < best_load:
                best, best_load = i, load
        return best

    def _replace(self, index: int) -> Connection:
        old = self._slots[index]
        self._slots[index] = None
        if old is not None:
            old.close()
            self.counters[index].restarted()
        connection = Connection(self.settings, self.counters[index])
        self._slots[index] = connection
        return connection

    def slots(self) -> list[tuple[SlotCounters, Connection | None]]:
        with self._lock:
            return list(zip(self.counters, self._slots, strict=False))

    @property
    def connections(self) -> list[Connection]:
        return [c for c in self._slots if c is not None]

    def abandon(self) -> None:
        """In a forked child: the workers are the parent's; drop our copies of their pipes."""
        self._closed = True
        for connection in self._slots:
            if connection is not None:
                connection.abandon()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            slots, self._slots = self._slots, []
        self._stop.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join()
        for connection in slots:
            if connection is not None:
                connection.close()
