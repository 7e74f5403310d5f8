#!/usr/bin/env python
"""Chaos run: many threads and asyncio tasks hammer one store while a killer SIGKILLs workers.

``--ops`` mixed operations (put_object, get_object, get_object_into, get_object_range, head_object,
list_objects, delete_object, put_object_from_file, get_object_to_file; sync calls from ``--threads``
threads, the ``_async`` twins from ``--tasks`` asyncio tasks, all at once) run against a store
(``file://`` in a temp dir by default, ``--store memory``, or ``--store s3`` on moto started here or
on ``--endpoint``), while a killer thread SIGKILLs a random live worker every ``--kill-every``
seconds (0.5x to 1.5x, at random). With ``--store minio --server-restarts N``, the server fails
too: MinIO (started here on a data directory of the run's) is SIGKILLed every
``--server-restart-every`` seconds (0.5x to 1.5x) and started again on the same data and port, at
least N times; a call that could not reach it (a connection error, a timeout, a 5xx) is allowed
while it overlapped a restart. Every ``--big-every``-th operation uploads a multi-part object
(10-20 MiB: a multipart put and ranged parallel gets) and reads it back.

Every payload carries its own checksum: a header with a magic, the write's version number and the
sha256 of key, version and body. Each writer (thread or task) has its own keys, and all of them share
a few more keys, where writes race. Every write is recorded with the time it started and, once it
returns, ended and whether it was acknowledged; a read (get, range, head, listing) lasting from ``rs``
to ``re`` may see any write that started before ``re`` unless an acknowledged write started after
that write ended and itself ended before ``rs`` (the register rule; on a writer's own keys this is
"the last acknowledged write, or an unacknowledged later one"). After the run every key is read back
under the same rule with no kills; on ``memory://``, a kill of the worker holding the store counts as
an acknowledged delete of every key (its objects live only there).

Figures that must be 0 (the exit status is 1 otherwise): acknowledged writes lost, corrupt reads
(bytes not matching their checksum, or no write made them), stale reads (content or size or absence
that the rule above forbids), unexpected errors (anything but WorkerCrashedError, a not-found where
absence is allowed, and the races a shared key may have), hung calls (not finished within
``--call-timeout``), and leaks after shutdown: worker processes, library threads, file descriptors
of this process, temp files the library left (``.part`` files beside downloads, anything in the
private TMPDIR the run gives itself and its workers). Reported besides: operations by kind and
outcome, failures by exception type, kills, worker restarts, staging files that SIGKILLed workers
left in a ``file://`` store (object_store's ``key#N``, invisible to listings), and peak memory (PSS
of this process plus its workers, sampled).

    python scripts/chaos.py --ops 50000 --seconds 300
    python scripts/chaos.py --store memory --ops 5000
    python scripts/chaos.py --store s3                        # starts moto
    python scripts/chaos.py --store minio --server-restarts 20  # SIGKILLs and restarts MinIO too
    python scripts/chaos.py --store s3 --endpoint http://127.0.0.1:9000 --bucket chaos \\
        --access-key minioadmin --secret-key minioadmin
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import itertools
import json
import math
import os
import platform
import queue
import random
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import rustyobjectstore as ros
from rustyobjectstore._api import current_pool

T = TypeVar("T")

KiB = 1024
MiB = 1024 * KiB

StoreConf = ros.Config | ros.AWSConfig

# --- payloads ------------------------------------------------------------------------------------

MAGIC = b"ROSCHAOS"
HEADER = struct.Struct(">8sQ32s")  # magic, version, sha256(key, version, body)
STAMP = struct.Struct(">QQ")  # every 4 KiB of a body: its offset and version (a moved part shows)
_BLOCK = random.Random(0x5EED).randbytes(MiB)

# Body sizes of small objects: (low, high, weight).
SMALL_SIZES = (
    (0, 0, 3),
    (1, 200, 15),
    (1 * KiB, 8 * KiB, 35),
    (16 * KiB, 96 * KiB, 30),
    (200 * KiB, 1 * MiB, 12),
    (1 * MiB, 3 * MiB, 5),
)
BIG_SIZE = (10 * MiB + 1, 20 * MiB)  # above the default 10 MiB put / 8 MiB get thresholds


def make_payload(key: str, version: int, body_size: int) -> bytearray:
    """Header + a body unique to (key, version); deterministic, so a range can be regenerated."""
    salt = hashlib.blake2b(f"{key}\0{version}".encode(), digest_size=8).digest()
    offset = int.from_bytes(salt, "big") % len(_BLOCK)
    rotated = _BLOCK[offset:] + _BLOCK[:offset]
    out = bytearray(HEADER.size + body_size)
    body = memoryview(out)[HEADER.size :]
    for at in range(0, body_size, len(rotated)):
        n = min(len(rotated), body_size - at)
        body[at : at + n] = rotated[:n]
    for at in range(0, body_size - STAMP.size + 1, 4096):
        STAMP.pack_into(body, at, at, version)
    HEADER.pack_into(out, 0, MAGIC, version, _digest(key, version, body))
    body.release()
    return out


def _digest(key: str, version: int, body: memoryview | bytes) -> bytes:
    h = hashlib.sha256(key.encode())
    h.update(version.to_bytes(8, "big"))
    h.update(body)
    return h.digest()


def parse_payload(key: str, data: bytes | bytearray | memoryview) -> int | None:
    """The version ``data`` says it is, if its checksum holds; None if it is corrupt."""
    view = memoryview(data)
    if len(view) < HEADER.size:
        return None
    magic, version, digest = HEADER.unpack_from(view, 0)
    if magic != MAGIC or _digest(key, version, view[HEADER.size :]) != digest:
        return None
    return int(version)


def pick_small(rng: random.Random) -> int:
    low, high, _ = rng.choices(SMALL_SIZES, weights=[w for _, _, w in SMALL_SIZES])[0]
    return rng.randint(low, high)


# --- the ledger of writes ------------------------------------------------------------------------

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


# --- counters ------------------------------------------------------------------------------------

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
# Seconds after a restarted server answers its health check during which failures to reach it are
# still the restart's (it loads its state; object_store's retries back off past the outage).
OUTAGE_SLACK = 5.0
AFTER_LAST_RESTART = 2.0  # seconds of calls a run with server restarts makes after its last one


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


# --- operations ----------------------------------------------------------------------------------

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


class Chaos:
    def __init__(self, args: argparse.Namespace, store: Store, scratch: Path, run: str) -> None:
        self.args = args
        self.conf = store.conf
        self.restart_server = store.restart
        # (killed, live again) of each server restart: failures to reach it then are allowed.
        self.outages: list[tuple[float, float]] = []
        self.scratch = scratch
        self.run = run
        self.ledger = Ledger()
        self.stats = Stats()
        self.tracker = Tracker(args.call_timeout)
        self.shared_prefix = f"{run}/shared/"
        self.shared_keys = [f"{self.shared_prefix}k{j}" for j in range(args.shared_keys)]
        self.kill_times: list[float] = []
        self.worker_pids: set[int] = set()
        self.peak_pss = 0
        self.peak_workers = 0
        self.pss_source = "smaps_rollup"
        self._pids_lock = threading.Lock()

    # - plans -

    def writer(self, name: str, seed: str) -> Writer:
        prefix = f"{self.run}/{name}/"
        keys = [f"{prefix}k{j}" for j in range(self.args.keys)]
        return Writer(name, prefix, keys, random.Random(seed))

    def plans(self, w: Writer, index: int) -> list[Callable[[], Plan]]:
        """The call(s) for operation ``index``, each made when its turn comes: a big upload is
        followed by a read of it."""
        rng = w.rng
        w.calls += 1
        if self.args.big_every > 0 and index % self.args.big_every == self.args.big_every - 1:
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
                lambda n, rs, re: self.check_written(key, n, len(data)),
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
                lambda data, rs, re: self.check_content(op, key, data, rs, re),
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
                lambda n, rs, re: self.check_content(op, key, memoryview(buffer)[:n], rs, re),
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
                lambda data, rs, re: self.check_range(key, start, end, data, rs, re),
            )
        if op == "head_object":
            return Plan(
                op,
                key,
                shared,
                lambda: ros.head_object(key, conf),
                lambda: ros.head_object_async(key, conf),
                lambda meta, rs, re: self.check_size(op, key, meta.size, rs, re),
            )
        if op == "get_object_to_file":
            target = self.scratch / f"{w.name}-{w.calls}.dl"

            def check(n: int, rs: float, re: float) -> None:
                data = target.read_bytes()
                target.unlink()
                if n != len(data):
                    self.stats.problem(
                        "corrupt reads", f"{op} {key}: said {n}, file has {len(data)}"
                    )
                self.check_content(op, key, data, rs, re)

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
            lambda n, rs, re: self.check_written(key, n, size),
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
            lambda entries, rs, re: self.check_listing(prefix, entries, rs, re),
        )

    # - checks -

    def check_written(self, key: str, n: int, size: int) -> None:
        if n != size:
            self.stats.problem("unexpected errors", f"put {key}: returned {n}, wrote {size} bytes")

    def check_content(
        self, op: str, key: str, data: bytes | bytearray | memoryview, rs: float, re: float
    ) -> None:
        version = parse_payload(key, data)
        if version is None:
            self.stats.problem(
                "corrupt reads", f"{op} {key}: {len(data)} bytes fail their checksum"
            )
            return
        found = self.ledger.lookup(version)
        if found is None or found[0] != key:
            self.stats.problem("corrupt reads", f"{op} {key}: version {version} never written here")
            return
        if found[1] not in self.ledger.allowed(key, rs, re):
            self.stats.problem("stale reads", f"{op} {key}: version {version} was superseded")

    def check_absent(self, op: str, key: str, rs: float, re: float) -> bool:
        if any(w.size == ABSENT for w in self.ledger.allowed(key, rs, re)):
            return True
        self.stats.problem("stale reads", f"{op} {key}: not found, but an acknowledged write is")
        return False

    def check_size(self, op: str, key: str, size: int, rs: float, re: float) -> None:
        allowed = {w.size for w in self.ledger.allowed(key, rs, re)}
        if size not in allowed:
            self.stats.problem("stale reads", f"{op} {key}: size {size}, allowed {sorted(allowed)}")

    def check_range(
        self, key: str, start: int, end: int, data: bytes, rs: float, re: float
    ) -> None:
        allowed = [w for w in self.ledger.allowed(key, rs, re) if w.size != ABSENT]
        for w in allowed:
            if make_payload(key, w.version, w.size - HEADER.size)[start:end] == data:
                return
        with self.ledger._lock:
            older = [w for w in self.ledger.history.get(key, []) if w.size != ABSENT]
        for w in older:
            if make_payload(key, w.version, w.size - HEADER.size)[start:end] == data:
                self.stats.problem(
                    "stale reads", f"range {key}: [{start}, {end}) of superseded v{w.version}"
                )
                return
        self.stats.problem(
            "corrupt reads", f"range {key}: [{start}, {end}) ({len(data)} bytes) matches no write"
        )

    def check_listing(
        self, prefix: str, entries: list[tuple[str, int]], rs: float, re: float
    ) -> None:
        listed = dict(entries)
        known = [k for k in self.ledger.keys() if k.startswith(prefix)]
        for path in listed.keys() - set(known):
            self.stats.problem("corrupt reads", f"list {prefix}: {path} was never written")
        for key in known:
            if key in listed:
                self.check_size("list_objects", key, listed[key], rs, re)
            else:
                self.check_absent("list_objects", key, rs, re)

    # - running one call -

    def begin(self, plan: Plan) -> tuple[int, Write | None]:
        token = self.tracker.begin(plan.op, plan.key)
        write = self.ledger.begin(plan.key, *plan.new) if plan.new else None
        return token, write

    def settle(
        self,
        plan: Plan,
        token: int,
        write: Write | None,
        result: Any,
        error: BaseException | None,
        rs: float,
        re: float,
        hung: bool = False,
    ) -> None:
        self.tracker.end(token)
        try:
            if hung:
                self.tracker.mark_hung(token, plan.op, plan.key)
                self.stats.outcome(plan.op, "hung", rs)
                return  # the write's end stays unknown: it may still land
            if write is not None:
                acked = error is None or (plan.op == "delete_object" and _not_found(error))
                self.ledger.finish(write, acked)
            if error is None:
                self.stats.outcome(plan.op, "ok", rs)
                plan.check(result, rs, re)
                return
            self.stats.error(plan.op, error)
            self.classify(plan, error, rs, re)
        finally:
            for path in plan.files:
                path.unlink(missing_ok=True)

    def classify(self, plan: Plan, error: BaseException, rs: float, re: float) -> None:
        if isinstance(error, ros.WorkerCrashedError):
            # Allowed: a write is not retried (unless --write-retries), a read only so many times.
            self.stats.outcome(plan.op, "worker crashed", rs)
            return
        if _not_found(error) and plan.op != "list_objects":
            self.stats.outcome(plan.op, "not found", rs)
            if plan.op in WRITES:
                return  # a delete of a key already gone
            self.check_absent(plan.op, plan.key, rs, re)
            return
        unreachable = (
            ros.ObjectStoreConnectionError, ros.ObjectStoreTimeoutError, ros.HTTPStatusError,
            ros.EarlyEOFError,
        )  # fmt: skip
        if isinstance(error, unreachable) and self.in_outage(rs, re):
            self.stats.outcome(plan.op, "server down", rs)  # a write then may or may not land
            return
        raced = (ros.BufferTooSmallError, ros.PreconditionFailedError)
        if plan.shared and isinstance(error, raced):
            self.stats.outcome(plan.op, "raced", rs)  # a concurrent write changed the object
            return
        self.stats.outcome(plan.op, "unexpected", rs)
        self.stats.not_allowed(plan.op, error)
        frames = traceback.extract_tb(error.__traceback__)[-3:]
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
        self.stats.problem(
            "unexpected errors",
            f"{plan.op} {plan.key}: {type(error).__name__}: {error} (at {where})",
        )

    def run_sync(self, plan: Plan) -> None:
        token, write = self.begin(plan)
        rs = time.monotonic()
        try:
            result = plan.call()
        except Exception as error:
            self.settle(plan, token, write, None, error, rs, time.monotonic())
        else:
            self.settle(plan, token, write, result, None, rs, time.monotonic())

    async def run_async(self, plan: Plan) -> None:
        token, write = self.begin(plan)
        rs = time.monotonic()
        try:
            result = await asyncio.wait_for(plan.acall(), self.args.call_timeout)
        except Exception as error:
            hung = isinstance(error, TimeoutError) and not isinstance(error, ros.ObjectStoreError)
            self.settle(plan, token, write, None, error, rs, time.monotonic(), hung=hung)
        else:
            self.settle(plan, token, write, result, None, rs, time.monotonic())

    # - the actors -

    def thread_writer(self, budget: Budget, n: int) -> None:
        w = self.writer(f"t{n}", f"{self.args.seed}:t{n}")
        while (index := budget.take()) is not None:
            for make in self.plans(w, index):
                self.run_sync(make())

    async def task_writer(self, budget: Budget, n: int) -> None:
        w = self.writer(f"a{n}", f"{self.args.seed}:a{n}")
        while (index := budget.take()) is not None:
            for make in self.plans(w, index):
                await self.run_async(make())
            await asyncio.sleep(0)  # let the other tasks in even when every call was quick

    async def task_writers(self, budget: Budget) -> None:
        await asyncio.gather(*(self.task_writer(budget, n) for n in range(self.args.tasks)))

    def killer(self, stop: threading.Event) -> None:
        rng = random.Random(f"{self.args.seed}:killer")
        pinned = self.conf.spec() if self.conf.spec().pinned else None
        if self.args.kill_every == math.inf:
            return
        while not stop.wait(rng.uniform(0.5, 1.5) * self.args.kill_every):
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
            with self._pids_lock:
                self.worker_pids.add(victim.pid)
            if holds_store:
                while victim.alive and time.monotonic() - started < 30:
                    time.sleep(0.002)
                self.ledger.wipe(started, time.monotonic())

    def server_killer(self, stop: threading.Event) -> None:
        """SIGKILLs the server at random moments and starts it again on the same data."""
        if self.restart_server is None or self.args.server_restarts <= 0:
            return
        rng = random.Random(f"{self.args.seed}:server")
        while not stop.wait(rng.uniform(0.5, 1.5) * self.args.server_restart_every):
            # Recorded before the kill, open-ended until the server is back: a call that fails
            # during the restart (or on the new server before its readiness check returns) is
            # classified while the restart is still under way.
            index = len(self.outages)
            self.outages.append((time.monotonic(), math.inf))
            self.restart_server()
            self.outages[index] = (self.outages[index][0], time.monotonic())

    def restarts_done(self) -> bool:
        """At least ``--server-restarts`` restarts, and the calls of a while since the last."""
        if len(self.outages) < self.args.server_restarts:
            return False
        return not self.outages or time.monotonic() - self.outages[-1][1] >= AFTER_LAST_RESTART

    def in_outage(self, rs: float, re: float) -> bool:
        """Whether a call from ``rs`` to ``re`` overlapped a restart of the server (or the
        moments after it, while it gets ready to serve)."""
        return any(killed <= re and rs <= live + OUTAGE_SLACK for killed, live in self.outages)

    def sampler(self, stop: threading.Event) -> None:
        while True:
            pids = [c.pid for c in current_pool().connections if c.alive]
            with self._pids_lock:
                self.worker_pids.update(pids)
            workers = sum(self.pss(pid) for pid in pids)
            self.peak_workers = max(self.peak_workers, workers)
            self.peak_pss = max(self.peak_pss, self.pss(os.getpid()) + workers)
            if stop.wait(0.25):
                return

    def pss(self, pid: int) -> int:
        """Proportional set size in bytes (shared arena pages split between their processes)."""
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * KiB
        except OSError:
            pass
        self.pss_source = "VmRSS"
        return _status_kib(pid, "VmRSS") * KiB

    def go(self) -> float:
        """The run itself; returns its wall time."""
        stop = threading.Event()
        budget = Budget(
            self.args.ops,
            self.args.seconds,
            lambda: self.kills() >= self.args.min_kills and self.restarts_done(),
        )
        helpers = [
            threading.Thread(target=self.tracker.watch, args=(stop,), name="chaos-watchdog"),
            threading.Thread(target=self.sampler, args=(stop,), name="chaos-sampler"),
        ]
        killer_stop = threading.Event()
        killer = threading.Thread(target=self.killer, args=(killer_stop,), name="chaos-killer")
        server_killer = threading.Thread(
            target=self.server_killer, args=(killer_stop,), name="chaos-server-killer"
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

    def kills(self) -> int:
        return len(self.kill_times)

    # - after the run -

    def verify(self) -> None:
        """Every key read back with no kills: the last acknowledged state (or a later unacknowledged
        one) must be there, intact."""
        for key in self.ledger.keys():
            allowed = self.ledger.allowed(key, math.inf, math.inf)
            try:
                data = ros.get_object(key, self.conf)
            except ros.NotFoundError:
                if not any(w.size == ABSENT for w in allowed):
                    self._lost(key, allowed, "not found")
                continue
            version = parse_payload(key, data)
            if version is None:
                self.stats.problem("corrupt reads", f"final read of {key}: fails its checksum")
                self._lost(key, allowed, "corrupt")
            elif not any(w.version == version for w in allowed):
                self._lost(key, allowed, f"holds version {version}")
        listing = ros.list_objects(f"{self.run}/", self.conf)
        try:
            listed = {m.path: m.size for m in listing}
        finally:
            listing.close()
        self.check_listing(f"{self.run}/", list(listed.items()), math.inf, math.inf)

    def _lost(self, key: str, allowed: list[Write], what: str) -> None:
        expected = ", ".join(f"v{w.version or 'delete'}{'' if w.acked else '?'}" for w in allowed)
        self.stats.problem("acknowledged writes lost", f"{key}: {what}; expected one of {expected}")

    def cleanup_store(self) -> None:
        """Best effort: leave a shared server as it was."""
        try:
            ros.bulk_delete_objects(self.ledger.keys(), self.conf)
        except ros.ObjectStoreError:
            pass


def _holds(pool: Any, spec: Any, victim: Any) -> bool:
    """Whether ``victim`` is the worker a memory store is pinned to (the pool's private map)."""
    index = getattr(pool, "_pinned", {}).get(spec)
    if index is None:
        return False
    slots = pool.slots()
    return bool(index < len(slots) and slots[index][1] is victim)


def _not_found(error: BaseException) -> bool:
    return isinstance(error, ros.NotFoundError)


# --- leaks ---------------------------------------------------------------------------------------


def _status_kib(pid: int | str, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_fds() -> dict[int, str]:
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the listing's own fd, closed by now
    return fds


def _children() -> set[int]:
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:
            found.add(int(entry))
    return found


def _worker_alive(pid: int, worker_name: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return False
    if os.path.basename(argv0) == worker_name:
        return True
    return _status_kib(pid, "PPid") == os.getpid()  # our zombie: cmdline is empty


def leftovers(
    pids: set[int], worker_name: str, fds_before: dict[int, str], patience: float = 5.0
) -> tuple[list[int], list[str], dict[int, str]]:
    """Worker processes, library threads and new fds still there after shutdown (given
    ``patience`` seconds to go, and the garbage collector's help)."""
    until = time.monotonic() + patience
    while True:
        gc.collect()
        procs = sorted({p for p in pids if _worker_alive(p, worker_name)} | _children())
        threads = [t.name for t in threading.enumerate() if t.name.startswith("rustyobjectstore")]
        fds = {fd: path for fd, path in open_fds().items() if fds_before.get(fd) != path}
        if not (procs or threads or fds) or time.monotonic() > until:
            return procs, threads, fds
        time.sleep(0.1)


def staging_files(root: Path) -> list[str]:
    """Files in a file:// store that are not objects: object_store's ``key#N`` staging files."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "#" in p.name
    )


def files_in(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# --- the store -----------------------------------------------------------------------------------


def _nothing() -> None:
    pass


@dataclass
class Store:
    conf: StoreConf
    describe: str
    stop: Callable[[], None] = _nothing
    # SIGKILLs the server and starts it again on the same data and port (MinIO only).
    restart: Callable[[], None] | None = None


class RestartableMinio:
    """MinIO on one data directory and port, killed and started again at will. Every start happens
    on one thread that lives as long as this object: MinIO is told to die with the thread that
    started it (PR_SET_PDEATHSIG follows the thread, not the process)."""

    def __init__(self, data: Path, bucket: str) -> None:
        from emulators import RunningServer, create_minio_bucket, start_minio

        self._start = start_minio
        self.data = data
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._keeper = threading.Thread(target=self._keep, name="chaos-minio", daemon=True)
        self._keeper.start()
        data.mkdir()
        self.server: RunningServer = self._on_keeper(lambda: start_minio(data))
        self.endpoint = self.server.endpoint
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        create_minio_bucket(self.endpoint, bucket)

    def _keep(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def _on_keeper(self, work: Callable[[], T]) -> T:
        done: Future[T] = Future()

        def job() -> None:
            try:
                done.set_result(work())
            except BaseException as error:
                done.set_exception(error)

        self._jobs.put(job)
        return done.result()

    def restart(self) -> None:
        """SIGKILL, then a start on the same data and port."""
        self.server.kill()
        self.server = self._on_keeper(lambda: self._start(self.data, self.port))

    def stop(self) -> None:
        self.server.stop()
        self._jobs.put(None)
        self._keeper.join()


def make_store(args: argparse.Namespace, root: Path, run: str) -> Store:
    if args.store == "file":
        root.mkdir()
        return Store(ros.Config(root.as_uri()), f"file://{root}")
    if args.store == "memory":
        return Store(ros.Config(f"memory:///{run}"), "memory://")
    from emulators import MINIO_KEY, MINIO_SECRET, create_s3_bucket, start_moto

    if args.store == "minio":
        minio = RestartableMinio(root, args.bucket)
        conf = ros.AWSConfig(
            region=args.region, bucket_name=args.bucket, access_key_id=MINIO_KEY,
            secret_access_key=MINIO_SECRET, host=minio.endpoint,
            opts=ros.ClientOptions(request_timeout_secs=30),
        )  # fmt: skip
        what = f"s3 on MinIO (started here, data in {root}) {minio.endpoint}/{args.bucket}"
        return Store(conf, what, minio.stop, minio.restart)
    stop: Callable[[], None] = _nothing
    endpoint = args.endpoint
    if endpoint is None:
        server = start_moto()
        stop, endpoint = server.stop, server.endpoint
        create_s3_bucket(endpoint, args.bucket)
        what = f"s3 on moto (started here) {endpoint}/{args.bucket}"
    else:
        if args.create_bucket:
            create_s3_bucket(endpoint, args.bucket)
        what = f"s3 {endpoint}/{args.bucket}"
    conf = ros.AWSConfig(
        region=args.region,
        bucket_name=args.bucket,
        access_key_id=args.access_key,
        secret_access_key=args.secret_key,
        host=endpoint,
        opts=ros.ClientOptions(request_timeout_secs=30),
    )
    return Store(conf, what, stop)


# --- the report ----------------------------------------------------------------------------------


def render(rows: list[list[str]], left: int = 1) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ops_table(stats: Stats) -> str:
    outcomes = ["ok", "not found", "worker crashed", "raced", "unexpected", "hung"]
    rows = [["operation", "calls", *outcomes]]
    for op in [*WEIGHTS, "total"]:
        counts = [
            sum(
                n for (o, out), n in stats.outcomes.items() if out == outcome and op in (o, "total")
            )
            for outcome in outcomes
        ]
        rows.append([op, f"{sum(counts):,}", *(f"{c:,}" for c in counts)])
    return render(rows)


def errors_table(stats: Stats) -> str:
    rows = [["exception", "operation", "count", "allowed"]]
    for (name, op), n in sorted(stats.errors.items(), key=lambda kv: (-kv[1], kv[0])):
        # Allowed as ``Chaos.classify`` judged each: a crash, an absence the ledger allows, a race
        # on a shared key, the server down while the call ran.
        unexpected = stats.unexpected[name, op]
        rows.append([name, op, f"{n:,}", f"NO ({unexpected:,})" if unexpected else "yes"])
    if len(rows) == 1:
        rows.append(["(none)", "", "0", ""])
    return render(rows, left=2)


def figures_table(figures: dict[str, Any]) -> str:
    rows = [["figure", "value", "must be 0"]]
    for name, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        must = ""
        if name in MUST_BE_ZERO:
            must = "ok" if value == 0 else "FAILED"
        rows.append([name, shown, must])
    return render(rows)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Mixed operations from many threads and asyncio tasks while workers are "
        "SIGKILLed at random; checks that no acknowledged write is lost, no read is corrupt, no "
        "call hangs and nothing leaks."
    )
    parser.add_argument(
        "--ops", type=int, default=20_000, help="operations in all (default 20,000)"
    )
    parser.add_argument("--threads", type=int, default=8, help="sync threads (default 8)")
    parser.add_argument("--tasks", type=int, default=8, help="asyncio tasks (default 8)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop issuing operations after this long (0: no limit)",
    )
    parser.add_argument("--seed", type=int, default=20261124, help="random seed")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    parser.add_argument(
        "--store",
        choices=("file", "memory", "s3", "minio"),
        default="file",
        help="default: file:// in a temp dir; minio: MinIO started here (scripts/install_minio.sh)",
    )
    parser.add_argument("--endpoint", default=None, help="S3 endpoint (default: start moto)")
    parser.add_argument("--bucket", default="chaos", help="S3 bucket (default chaos)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key", default="testing")
    parser.add_argument("--secret-key", default="testing")
    parser.add_argument(
        "--create-bucket",
        action="store_true",
        help="create --bucket at --endpoint (unsigned PUT, as moto takes)",
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        default=1.0,
        help="mean seconds between SIGKILLs (default 1; 0: none)",
    )
    parser.add_argument(
        "--min-kills",
        type=int,
        default=0,
        help="keep going past --ops until this many kills (not past --seconds)",
    )
    parser.add_argument(
        "--server-restarts",
        type=int,
        default=0,
        help="with --store minio: SIGKILL MinIO and start it again on the same data at random "
        "moments, at least this many times (keeping going past --ops, not past --seconds)",
    )
    parser.add_argument(
        "--server-restart-every",
        type=float,
        default=3.0,
        help="mean seconds between server restarts (default 3)",
    )
    parser.add_argument("--workers", type=int, default=4, help="StaticConfig.n_workers (default 4)")
    parser.add_argument(
        "--write-retries",
        type=int,
        default=0,
        help="StaticConfig.crash_retries_for_writes (default 0)",
    )
    parser.add_argument(
        "--keys", type=int, default=6, help="own keys per thread or task (default 6)"
    )
    parser.add_argument(
        "--shared-keys", type=int, default=4, help="keys all writers share (default 4)"
    )
    parser.add_argument(
        "--big-every",
        type=int,
        default=500,
        help="every Nth op uploads a 10-20 MiB object and reads it (0: never)",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=60.0,
        help="a call running longer is hung (default 60 s)",
    )
    args = parser.parse_args(argv)
    if args.threads + args.tasks < 1:
        parser.error("need at least one thread or task")
    if args.kill_every <= 0:
        args.kill_every, args.min_kills = math.inf, 0
    if args.server_restarts and args.store != "minio":
        parser.error("--server-restarts needs --store minio")
    return args


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"]))
    rundir = Path(tempfile.mkdtemp(prefix="rustyobjectstore-chaos-"))
    tmp, scratch, root = rundir / "tmp", rundir / "scratch", rundir / "store"
    tmp.mkdir()
    scratch.mkdir()
    # The run's own TMPDIR, for this process and (inherited) its workers: whatever is in it at the
    # end was left by the library.
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    run = f"chaos-{args.seed}-{uuid.uuid4().hex[:8]}"
    store = make_store(args, root, run)
    try:
        return chaos(args, store, run, tmp, scratch, root)
    finally:
        store.stop()
        shutil.rmtree(rundir, ignore_errors=True)


def chaos(
    args: argparse.Namespace, store: Store, run: str, tmp: Path, scratch: Path, root: Path
) -> int:
    settings = ros.StaticConfig(n_workers=args.workers, crash_retries_for_writes=args.write_retries)
    ros.shutdown_object_store()
    fds_before = open_fds()
    ros.init_object_store(settings)
    worker_name = os.path.basename(current_pool().connections[0].worker_path)
    c = Chaos(args, store, scratch, run)
    wall = c.go()
    c.verify()
    metrics = ros.current_metrics()
    if args.store in ("s3", "minio"):
        c.cleanup_store()
    ros.shutdown_object_store()
    store.stop()  # before counting our children: moto is one
    fds_before_gc = [path for fd, path in open_fds().items() if fds_before.get(fd) != path]
    procs, threads, fds = leftovers(c.worker_pids, worker_name, fds_before)
    left_files = [f"TMPDIR/{p}" for p in files_in(tmp)] + [
        f"scratch/{p}" for p in files_in(scratch)
    ]
    staged = staging_files(root) if args.store == "file" else []

    stats = c.stats
    total = sum(stats.outcomes.values())
    ok = sum(n for (_, outcome), n in stats.outcomes.items() if outcome == "ok")
    first_kill = c.kill_times[0] if c.kill_times else math.inf
    last_kill = c.kill_times[-1] if c.kill_times else math.inf
    crashed_writes = sum(
        n for (op, out), n in stats.outcomes.items() if out == "worker crashed" and op in WRITES
    )
    crashed_reads = sum(
        n for (op, out), n in stats.outcomes.items() if out == "worker crashed" and op not in WRITES
    )
    figures: dict[str, Any] = {
        "operations done": total,
        "operations ok": ok,
        "operations per second": round(total / wall) if wall else 0,
        "kills (SIGKILL)": c.kills(),
        "server restarts (SIGKILL)": len(c.outages),
        "ok calls started after the last server restart": sum(
            1 for t in stats.ok_starts if c.outages and t > c.outages[-1][1]
        ),
        "calls failed while the server was down": sum(
            n for (_, out), n in stats.outcomes.items() if out == "server down"
        ),
        "worker restarts": metrics.total.restarts,
        "ok calls started after the first kill": sum(1 for t in stats.ok_starts if t > first_kill),
        "ok calls started after the last kill": sum(1 for t in stats.ok_starts if t > last_kill),
        "writes failed with WorkerCrashedError": crashed_writes,
        "reads failed after crash retries": crashed_reads,
        "acknowledged writes lost": stats.problems["acknowledged writes lost"],
        "corrupt reads": stats.problems["corrupt reads"],
        "stale reads": stats.problems["stale reads"],
        "unexpected errors": stats.problems["unexpected errors"],
        "hung calls": len(c.tracker.hung),
        "worker processes left": len(procs),
        "library threads left": len(threads),
        "fd growth": len(fds),
        "fd growth before gc.collect()": len(fds_before_gc),
        "library temp files left": len(left_files),
        "store staging files left by kills": len(staged),
        "peak PSS, python + workers (MiB)": round(c.peak_pss / MiB, 1),
        "peak PSS, workers (MiB)": round(c.peak_workers / MiB, 1),
        "peak RSS, python (MiB)": round(_status_kib("self", "VmHWM") / KiB, 1),
    }
    for token, message in c.tracker.hung.items():
        stats.problem("hung calls", f"call {token}: {message}")
    failed = [name for name in MUST_BE_ZERO if figures[name] != 0]

    print(
        f"chaos run: {store.describe}; {args.threads} threads + {args.tasks} asyncio tasks; "
        f"{args.workers} workers, crash_retries_for_writes={args.write_retries}; SIGKILL every "
        f"~{args.kill_every:g} s; {len(c.outages)} server restarts; seed {args.seed}; {wall:.1f} s\n"
        f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cores\n"
    )
    print(ops_table(stats) + "\n")
    print(errors_table(stats) + "\n")
    print(figures_table(figures))
    details = {
        "worker processes left": [str(p) for p in procs],
        "library threads left": threads,
        "fd growth": [f"{fd} -> {path}" for fd, path in sorted(fds.items())],
        "fd growth before gc.collect()": fds_before_gc,
        "library temp files left": left_files,
    }
    for name, items in details.items():
        if items:
            stats.samples[name] = items[:SAMPLES]
    for name in failed:
        print(f"\n{name}:")
        for line in stats.samples.get(name, []):
            print(f"  {line}")
    if staged:
        print(
            f"\nstaging files in the store (first {min(len(staged), 5)}): {', '.join(staged[:5])}"
        )
    print("\nFAILED: " + ", ".join(failed) if failed else "\nall must-be-0 figures are 0")

    if args.json:
        document = {
            "argv": sys.argv,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "store": store.describe,
            "seconds": round(wall, 3),
            "figures": figures,
            "must_be_zero": list(MUST_BE_ZERO),
            "failed": failed,
            "outcomes": [
                {"op": op, "outcome": out, "count": n}
                for (op, out), n in sorted(stats.outcomes.items())
            ],
            "errors": [
                {"exception": name, "op": op, "count": n}
                for (name, op), n in sorted(stats.errors.items())
            ],
            "samples": stats.samples,
            "staging_files": staged[:100],
            "kill_times": [round(t - c.kill_times[0], 3) for t in c.kill_times],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1, default=str))
        print(f"figures: {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
