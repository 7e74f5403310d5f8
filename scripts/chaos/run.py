"""One run: its parts put together (ledger, counters, planner, checker, the faults, the sampler)
and its actors on their threads (sync writers, a thread of asyncio writers, the killers, the
watchdog and the sampler)."""

from __future__ import annotations

import argparse
import asyncio
import math
import threading
import time
from pathlib import Path

import rustyobjectstore as ros
from chaos.calls import Calls
from chaos.checks import Checker
from chaos.faults import ServerKiller, WorkerKiller
from chaos.leaks import Sampler, WorkerPids
from chaos.ledger import Ledger
from chaos.plan import Budget, Planner
from chaos.stats import Stats, Tracker
from chaos.store import Store


class Chaos:
    def __init__(self, args: argparse.Namespace, store: Store, scratch: Path, run: str) -> None:
        self.args = args
        self.conf = store.conf
        self.run = run
        self.ledger = Ledger()
        self.stats = Stats()
        self.tracker = Tracker(args.call_timeout)
        self.checker = Checker(self.ledger, self.stats)
        self.planner = Planner(
            store.conf, self.ledger, self.checker, scratch, run,
            keys=args.keys, shared_keys=args.shared_keys, big_every=args.big_every,
        )  # fmt: skip
        self.worker_pids = WorkerPids()
        self.sampler = Sampler(self.worker_pids)
        self.killer = WorkerKiller(
            store.conf, self.ledger, self.worker_pids, args.kill_every, args.seed
        )
        self.server_killer = ServerKiller(
            store.restart, args.server_restarts, args.server_restart_every, args.seed
        )
        self.calls = Calls(
            self.ledger, self.checker, self.tracker, self.server_killer.in_outage, args.call_timeout
        )

    def thread_writer(self, budget: Budget, n: int) -> None:
        w = self.planner.writer(f"t{n}", f"{self.args.seed}:t{n}")
        while (index := budget.take()) is not None:
            for make in self.planner.plans(w, index):
                self.calls.run_sync(make())

    async def task_writer(self, budget: Budget, n: int) -> None:
        w = self.planner.writer(f"a{n}", f"{self.args.seed}:a{n}")
        while (index := budget.take()) is not None:
            for make in self.planner.plans(w, index):
                await self.calls.run_async(make())
            await asyncio.sleep(0)  # let the other tasks in even when every call was quick

    async def task_writers(self, budget: Budget) -> None:
        await asyncio.gather(*(self.task_writer(budget, n) for n in range(self.args.tasks)))

    def go(self) -> float:
        """The run itself; returns its wall time."""
        stop = threading.Event()
        budget = Budget(
            self.args.ops,
            self.args.seconds,
            lambda: self.killer.kills() >= self.args.min_kills and self.server_killer.done(),
        )
        helpers = [
            threading.Thread(target=self.tracker.watch, args=(stop,), name="chaos-watchdog"),
            threading.Thread(target=self.sampler.run, args=(stop,), name="chaos-sampler"),
        ]
        killer_stop = threading.Event()
        killer = threading.Thread(target=self.killer.run, args=(killer_stop,), name="chaos-killer")
        server_killer = threading.Thread(
            target=self.server_killer.run, args=(killer_stop,), name="chaos-server-killer"
        )
        writers = [
            threading.Thread(
                target=self.thread_writer, args=(budget, n), name=f"chaos-t{n}", daemon=True
            )
            for n in range(self.args.threads)
        ]
        if self.args.tasks:
            writers.append(
                threading.Thread(
                    target=lambda: asyncio.run(self.task_writers(budget)),
                    name="chaos-tasks",
                    daemon=True,
                )
            )
        began = time.monotonic()
        for thread in [*helpers, killer, server_killer, *writers]:
            thread.start()
        patience = (self.args.seconds or math.inf) + self.args.call_timeout + 30
        for thread in writers:
            # A writer stuck in a hung call is left behind (the watchdog counted the call).
            thread.join(
                max(0.0, began + patience - time.monotonic()) if patience < math.inf else None
            )
        wall = time.monotonic() - began
        killer_stop.set()
        killer.join()
        server_killer.join()
        self.tracker.scan()
        stop.set()
        for thread in helpers:
            thread.join()
        return wall

    def verify(self) -> None:
        """Every key read back with no kills, and the run's listing (``Checker.verify``)."""
        self.checker.verify(self.conf, f"{self.run}/")

    def cleanup_store(self) -> None:
        """Best effort: leave a shared server as it was."""
        try:
            ros.bulk_delete_objects(self.ledger.keys(), self.conf)
        except ros.ObjectStoreError:
            pass
