"""A pytest plugin (``-p leakcheck`` in pyproject's ``addopts``): after every test, nothing the
library owns may outlive the test except the live pool (``rustyobjectstore._worker.lifetime.running_pool()``).

Checked after the test's function-scoped fixtures are torn down, against a baseline taken before
they are set up; what a fixture of a wider scope (the emulator servers, a module's) brings up while
the test is being set up or run is added to the baseline, since it is meant to outlive the test:

- no call pending on a live pool connection, and every region of its arena free;
- no worker process (a child of this process running the worker binary, or any program given
  ``--arena-fd``) beyond the live pool's, and no new zombie child (a killed worker must be reaped);
- no new open fd (``/proc/self/fd``, memfds included) beyond those of the live pool's workers (their
  pipes, their arenas' memfds and the mmap's duplicate of each) and multiprocessing's resource
  tracker and fork server, which live as long as the interpreter once a test starts them;
- no new arena mapping (``/proc/self/maps``) beyond the live pool's;
- no new ``rustyobjectstore-*`` thread beyond the live pool's readers, stderr drains and watchdog;
- no new temp file named the way the library names them (``rustyobjectstore-arena-*``, the
  ``.NAME.XXXX.part`` of an atomic download) in ``tempfile.gettempdir()`` or ``/dev/shm``.

Cleanup that finishes on another thread (a fire-and-forget ``list_close`` or ``multipart_abort``
still in flight, a reader thread reaping its dead worker) gets ``SETTLE_SECS`` to finish; only a
leak that is still there then fails the test, at teardown, with everything that leaked listed.
A ``gc.collect()`` first makes cyclic garbage that holds an fd go (and warn) inside its own test;
pyproject's ``filterwarnings`` turns such warnings, and exceptions ignored in ``__del__`` or raised
on other threads, into failures.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import pytest

from rustyobjectstore._auth.providers import PROVIDER_LOOP_THREAD
from rustyobjectstore._worker.binary import NAME as WORKER_NAME
from rustyobjectstore._worker.connection import Connection
from rustyobjectstore._worker.lifetime import running_pool

# Under pytest-xdist every worker process gets a temp dir of its own (its subprocesses too, by
# TMPDIR), so that the library's temp files this check counts there are this process's alone.
if _xdist_worker := os.environ.get("PYTEST_XDIST_WORKER"):
    _own_temp = os.path.join(tempfile.gettempdir(), f"rustyobjectstore-tests-{_xdist_worker}")
    os.makedirs(_own_temp, exist_ok=True)
    os.environ["TMPDIR"] = tempfile.tempdir = _own_temp

SETTLE_SECS = 10.0
THREAD_PREFIX = "rustyobjectstore-"
ARENA_NAME = "rustyobjectstore-arena"
TEMP_DIRS = (tempfile.gettempdir(), "/dev/shm")
_PART_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part$")  # temp_beside's names

_wider_key = pytest.StashKey[set[str]]()  # what wider-scoped fixtures brought up


@dataclass(frozen=True)
class Child:
    pid: int
    state: str
    comm: str
    argv: tuple[str, ...]

    @property
    def is_worker(self) -> bool:
        program = os.path.basename(self.argv[0]) if self.argv else ""
        return (
            "--arena-fd" in self.argv
            or program == WORKER_NAME
            or self.comm == WORKER_NAME[:15]  # comm is cut to 15 characters; zombies keep it
        )


@dataclass(frozen=True)
class PoolHoldings:
    pids: frozenset[int]
    # (st_dev, st_ino) of every pipe and arena memfd, and of multiprocessing's helpers' pipes
    inodes: frozenset[tuple[int, int]]
    threads: frozenset[str]
    connections: tuple[Connection, ...]


def pool_holdings() -> PoolHoldings:
    pool = running_pool()
    connections = tuple(pool.connections) if pool is not None else ()
    pids: set[int] = set()
    inodes: set[tuple[int, int]] = set()
    threads: set[str] = set()
    if pool is not None and pool._watchdog is not None:
        threads.add(pool._watchdog.name)
    # The event loop async credential providers run on lives as long as the interpreter, once
    # started (an async SDK credential is bound to one loop).
    threads.add(PROVIDER_LOOP_THREAD)
    for fd in interpreter_fds():
        with contextlib.suppress(OSError):
            info = os.fstat(fd)
            inodes.add((info.st_dev, info.st_ino))
    for connection in connections:
        process = connection.transport.process
        pids.add(process.pid)
        threads.add(connection.transport._reader.name)
        threads.add(connection.transport._stderr_thread.name)
        fds = [connection.arena.fd] if not connection.arena._closed else []
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None and not stream.closed:
                fds.append(stream.fileno())
        for fd in fds:
            try:
                info = os.fstat(fd)
            except OSError:
                continue
            inodes.add((info.st_dev, info.st_ino))
    return PoolHoldings(frozenset(pids), frozenset(inodes), frozenset(threads), connections)


def interpreter_fds() -> list[int]:
    """The fds of multiprocessing's per-interpreter helpers (the resource tracker, the fork
    server): started by the first process that needs one, they stay for the session."""
    fds: list[int | None] = []
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    if tracker is not None:
        fds.append(getattr(tracker._resource_tracker, "_fd", None))
    forkserver = sys.modules.get("multiprocessing.forkserver")
    if forkserver is not None:
        fds.append(getattr(forkserver._forkserver, "_forkserver_alive_fd", None))
    return [fd for fd in fds if fd is not None]


def open_fds(exclude: frozenset[tuple[int, int]]) -> frozenset[tuple[int, str]]:
    """This process's fds as (number, what it points at), leaving out those on ``exclude``."""
    fd_dir = "/proc/self/fd"
    listing_target = f"/proc/{os.getpid()}/fd"
    found: set[tuple[int, str]] = set()
    for name in os.listdir(fd_dir):
        path = f"{fd_dir}/{name}"
        try:
            target = os.readlink(path)
            info = os.stat(path)
        except OSError:
            continue  # the listing's own fd, gone already, or one closed meanwhile
        if target == listing_target or (info.st_dev, info.st_ino) in exclude:
            continue
        found.add((int(name), target))
    return frozenset(found)


def children() -> list[Child]:
    me = os.getpid()
    found: list[Child] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                stat = stat_file.read().decode("utf-8", "replace")
            with open(f"/proc/{name}/cmdline", "rb") as cmdline_file:
                cmdline = cmdline_file.read().decode("utf-8", "replace")
        except OSError:
            continue  # it exited meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == me:
            argv = tuple(arg for arg in cmdline.split("\0") if arg)
            found.append(Child(int(name), state, comm, argv))
    return found


def arena_mappings(exclude: frozenset[tuple[int, int]]) -> frozenset[str]:
    """Mappings of arena memfds, by inode, except the live pool's."""
    pool_inodes = {ino for _, ino in exclude}
    found: set[str] = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            if ARENA_NAME not in line:
                continue
            fields = line.split(maxsplit=5)
            if int(fields[4]) not in pool_inodes:
                found.add(line.strip())
    return frozenset(found)


def library_threads(exclude: frozenset[str]) -> frozenset[str]:
    return frozenset(
        f"{t.name} (ident {t.ident})"
        for t in threading.enumerate()
        if t.name.startswith(THREAD_PREFIX) and t.name not in exclude
    )


def temp_files() -> frozenset[str]:
    found: set[str] = set()
    for directory in TEMP_DIRS:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.startswith(ARENA_NAME) or _PART_FILE.match(name):
                found.add(os.path.join(directory, name))
    return frozenset(found)


def snapshot() -> frozenset[str]:
    """Everything of the library's that exists outside the live pool, one line each; two
    snapshots differ by what appeared or went in between."""
    holdings = pool_holdings()
    found: set[str] = set()
    for connection in holdings.connections:
        for request_id, call in list(connection._pending.items()):
            found.add(
                f"call {request_id} ({call.op} {call.path!r}) pending on worker {connection.pid}"
            )
        allocated = connection.arena.size - connection.arena.free_bytes
        if allocated:
            found.add(f"{allocated} arena bytes still allocated on worker {connection.pid}")
    for child in children():
        if child.pid in holdings.pids:
            continue
        if child.is_worker:
            # Named by what stays the same when it dies unreaped, so it is reported once.
            found.add(f"worker process outside the live pool: pid {child.pid} ({child.comm})")
        elif child.state == "Z":
            found.add(f"unreaped child: pid {child.pid} ({child.comm})")
    found.update(f"fd {fd} -> {target} left open" for fd, target in open_fds(holdings.inodes))
    found.update(f"arena still mapped: {m}" for m in arena_mappings(holdings.inodes))
    found.update(f"thread still running: {t}" for t in library_threads(holdings.threads))
    found.update(f"temp file left behind: {f}" for f in temp_files())
    return frozenset(found)


def leaks(baseline: frozenset[str]) -> list[str]:
    """What exists now, beyond the live pool, that did not at ``baseline``."""
    return sorted(snapshot() - baseline)


def settled(check: Callable[[], list[str]], settle_secs: float = SETTLE_SECS) -> list[str]:
    """``check()``'s findings once they are empty, or as they stand after ``settle_secs``."""
    gc.collect()  # cyclic garbage that holds an fd closes now, inside this test
    deadline = time.monotonic() + settle_secs
    while True:
        found = check()
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.02)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    """What a fixture wider than a function brings up (an emulator started on first use) is the
    session's, not the leak of the test that happened to start it."""
    if fixturedef.scope == "function":
        return (yield)
    before = snapshot()
    try:
        return (yield)
    finally:
        request.config.stash.setdefault(_wider_key, set()).update(snapshot() - before)


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test at teardown if it left anything of the library's behind (see the module)."""
    baseline = snapshot()
    yield
    wider = request.config.stash.get(_wider_key, set())
    found = settled(lambda: [leak for leak in leaks(baseline) if leak not in wider])
    if found:
        pytest.fail("leaked:\n  " + "\n  ".join(found), pytrace=False)
