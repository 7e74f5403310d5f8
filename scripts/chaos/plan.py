"""What each writer (thread or task) does next: the mix of operations, their keys and payloads,
and how each call's result is checked."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rustyobjectstore as ros
from chaos.checks import Checker
from chaos.ledger import ABSENT, Ledger
from chaos.payload import BIG_SIZE, HEADER, make_payload, pick_small
from chaos.store import StoreConf

WEIGHTS = {
    "put_object": 20,
    "get_object": 14,
    "get_object_into": 14,
    "get_object_range": 10,
    "head_object": 10,
    "list_objects": 4,
    "delete_object": 5,
    "put_object_from_file": 8,
    "get_object_to_file": 7,
}
ON_SHARED = {
    "put_object",
    "get_object",
    "get_object_into",
    "get_object_range",
    "head_object",
    "delete_object",
}
READS = ("get_object", "get_object_into", "get_object_range", "get_object_to_file", "head_object")
WRITES = {"put_object", "put_object_from_file", "delete_object"}
SHARED_SHARE = 0.15  # of the ops that may go to a shared key


@dataclass
class Plan:
    """One call: how to make it either way, how to check its result, and the write it makes."""

    op: str
    key: str
    shared: bool
    call: Callable[[], Any]
    acall: Callable[[], Awaitable[Any]]
    check: Callable[[Any, float, float], None]
    new: tuple[int, int] | None = None  # (version, size) this call writes
    files: list[Path] = field(default_factory=list)  # our local files to remove afterwards


@dataclass
class Writer:
    name: str
    prefix: str
    keys: list[str]
    rng: random.Random
    calls: int = 0


class Budget:
    def __init__(self, ops: int, seconds: float, enough: Callable[[], bool]) -> None:
        """``ops`` operations, and then more until ``enough()`` (the kills asked for happened), but
        none after ``seconds``."""
        self.ops = ops
        self.deadline = time.monotonic() + seconds if seconds > 0 else math.inf
        self.enough = enough
        self.issued = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The number of the next operation, or None when the run is over."""
        with self._lock:
            if time.monotonic() >= self.deadline:
                return None
            if self.issued >= self.ops and self.enough():
                return None
            self.issued += 1
            return self.issued - 1


class Planner:
    """Makes the plans of every writer on one store: each writer has its own keys under
    ``{run}/{name}/``, and all of them share a few more under ``{run}/shared/``."""

    def __init__(
        self,
        conf: StoreConf,
        ledger: Ledger,
        checker: Checker,
        scratch: Path,
        run: str,
        keys: int,
        shared_keys: int,
        big_every: int,
    ) -> None:
        self.conf = conf
        self.ledger = ledger
        self.checker = checker
        self.scratch = scratch
        self.run = run
        self.keys = keys
        self.big_every = big_every
        self.shared_prefix = f"{run}/shared/"
        self.shared_keys = [f"{self.shared_prefix}k{j}" for j in range(shared_keys)]

    def writer(self, name: str, seed: str) -> Writer:
        prefix = f"{self.run}/{name}/"
        keys = [f"{prefix}k{j}" for j in range(self.keys)]
        return Writer(name, prefix, keys, random.Random(seed))

    def plans(self, w: Writer, index: int) -> list[Callable[[], Plan]]:
        """The call(s) for operation ``index``, each made when its turn comes: a big upload is
        followed by a read of it."""
        rng = w.rng
        w.calls += 1
        if self.big_every > 0 and index % self.big_every == self.big_every - 1:
            key = rng.choice(w.keys)
            body = rng.randint(*BIG_SIZE) - HEADER.size
            read = rng.choice(READS)
            return [
                lambda: self.put_from_file(w, key, body),
                lambda: self.plan(w, read, key, False),
            ]
        op = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if op == "list_objects":
            shared = rng.random() < SHARED_SHARE
            prefix = self.shared_prefix if shared else w.prefix
            return [lambda: self.list_plan(prefix, shared)]
        shared = bool(op in ON_SHARED and self.shared_keys and rng.random() < SHARED_SHARE)
        key = rng.choice(self.shared_keys if shared else w.keys)
        return [lambda: self.plan(w, op, key, shared)]

    def plan(self, w: Writer, op: str, key: str, shared: bool) -> Plan:
        rng, conf = w.rng, self.conf
        if op == "put_object":
            version = self.ledger.new_version()
            data = make_payload(key, version, pick_small(rng))
            return Plan(
                op,
                key,
                shared,
                lambda: ros.put_object(key, data, conf),
                lambda: ros.put_object_async(key, data, conf),
                lambda n, rs, re: self.checker.check_written(key, n, len(data)),
                new=(version, len(data)),
            )
        if op == "put_object_from_file":
            return self.put_from_file(w, key, pick_small(rng))
        if op == "delete_object":
            return Plan(
                op,
                key,
                shared,
                lambda: ros.delete_object(key, conf),
                lambda: ros.delete_object_async(key, conf),
                lambda _, rs, re: None,
                new=(0, ABSENT),
            )
        if op == "get_object":
            return Plan(
                op,
                key,
                shared,
                lambda: ros.get_object(key, conf),
                lambda: ros.get_object_async(key, conf),
                lambda data, rs, re: self.checker.check_content(op, key, data, rs, re),
            )
        if op == "get_object_into":
            now = time.monotonic()
            sizes = [x.size for x in self.ledger.allowed(key, now, now)]
            buffer = bytearray(max([*sizes, 0]) + rng.randint(0, 64))
            return Plan(
                op,
                key,
                shared,
                lambda: ros.get_object_into(key, buffer, conf),
                lambda: ros.get_object_into_async(key, buffer, conf),
                lambda n, rs, re: self.checker.check_content(
                    op, key, memoryview(buffer)[:n], rs, re
                ),
            )
        if op == "get_object_range":
            now = time.monotonic()
            sizes = [x.size for x in self.ledger.allowed(key, now, now) if x.size != ABSENT]
            smallest = min(sizes, default=HEADER.size)
            if shared:
                smallest = HEADER.size  # a racing write may be as short as a bare header
            start = rng.randrange(0, smallest)
            end = rng.randint(start + 1, smallest + (64 if rng.random() < 0.2 else 0))
            return Plan(
                op,
                key,
                shared,
                lambda: ros.get_object_range(key, start, end, conf),
                lambda: ros.get_object_range_async(key, start, end, conf),
                lambda data, rs, re: self.checker.check_range(key, start, end, data, rs, re),
            )
        if op == "head_object":
            return Plan(
                op,
                key,
                shared,
                lambda: ros.head_object(key, conf),
                lambda: ros.head_object_async(key, conf),
                lambda meta, rs, re: self.checker.check_size(op, key, meta.size, rs, re),
            )
        if op == "get_object_to_file":
            target = self.scratch / f"{w.name}-{w.calls}.dl"

            def check(n: int, rs: float, re: float) -> None:
                data = target.read_bytes()
                target.unlink()
                if n != len(data):
                    self.checker.stats.problem(
                        "corrupt reads", f"{op} {key}: said {n}, file has {len(data)}"
                    )
                self.checker.check_content(op, key, data, rs, re)

            return Plan(
                op,
                key,
                shared,
                lambda: ros.get_object_to_file(key, target, conf),
                lambda: ros.get_object_to_file_async(key, target, conf),
                check,
            )
        raise AssertionError(op)

    def put_from_file(self, w: Writer, key: str, body_size: int) -> Plan:
        version = self.ledger.new_version()
        source = self.scratch / f"{w.name}-{w.calls}.src"
        data = make_payload(key, version, body_size)
        source.write_bytes(data)
        size = len(data)
        del data
        conf = self.conf
        return Plan(
            "put_object_from_file",
            key,
            False,
            lambda: ros.put_object_from_file(key, source, conf),
            lambda: ros.put_object_from_file_async(key, source, conf),
            lambda n, rs, re: self.checker.check_written(key, n, size),
            new=(version, size),
            files=[source],
        )

    def list_plan(self, prefix: str, shared: bool) -> Plan:
        conf = self.conf

        def call() -> list[tuple[str, int]]:
            listing = ros.list_objects(prefix, conf)
            try:
                return [(m.path, m.size) for m in listing]
            finally:
                listing.close()

        async def acall() -> list[tuple[str, int]]:
            listing = ros.list_objects_async(prefix, conf)
            try:
                return [(m.path, m.size) async for m in listing]
            finally:
                await listing.aclose()

        return Plan(
            "list_objects",
            prefix,
            shared,
            call,
            acall,
            lambda entries, rs, re: self.checker.check_listing(prefix, entries, rs, re),
        )
