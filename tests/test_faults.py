"""Issue 4's faults, for real: a worker built with the ``fault-injection`` cargo feature
(``worker/src/faults.rs``) runs the fault a request's key names (``__fault__/<fault>/...``) before its
work, so each test can make a real worker panic, abort, exit, run out of memory, write bad frames,
flood its pipes or hang, and check what the callers see.

Only hang guards here (``GUARD``), never timing assertions: a slow machine makes a test slower, not
red.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import shutil
import signal
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import msgpack
import pytest
from cargo_turn import cargo_turn, timeout_with_turn

import rustyobjectstore as ros
from rustyobjectstore._config import StaticConfig
from rustyobjectstore._worker import lifetime
from rustyobjectstore._worker.codec import MAX_FRAME
from rustyobjectstore._worker.connection import Connection
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.transport import STDERR_LINES

# The one cargo build of the fault worker happens inside whichever test needs it first.
pytestmark = pytest.mark.timeout(timeout_with_turn(900))  # the fault build may wait its turn

WORKER_DIR = Path(__file__).resolve().parent.parent / "worker"
FAULT = "__fault__"
GUARD = 60.0  # seconds: only ever a hang guard
MiB = 1024 * 1024

StartPool = Callable[..., Pool]


@pytest.fixture(scope="session")
def fault_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The worker built with the ``fault-injection`` feature, copied out of the build tree.

    The build reuses worker/target's release dependencies and leaves the fault build in
    target/release; that is harmless: the worker the other tests use is the copy installed in the
    Python scripts directory, which this build does not touch."""
    with cargo_turn():  # the build, and the copy before another build replaces the binary
        built = subprocess.run(
            ["cargo", "build", "--release", "--locked", "--features", "fault-injection"],
            cwd=WORKER_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            pytest.fail(f"building the fault worker failed:\n{built.stderr[-4000:]}", pytrace=False)
        target = tmp_path_factory.mktemp("fault-worker") / "rustyobjectstore-worker"
        shutil.copy2(WORKER_DIR / "target" / "release" / "rustyobjectstore-worker", target)
    yield str(target)


@pytest.fixture
def fault_pool(fault_worker: str) -> Iterator[StartPool]:
    """Starts a pool of fault workers with the given ``StaticConfig`` settings for the test, and
    restores the session's pool afterwards."""
    saved = lifetime.current_pool().settings
    ros.shutdown_object_store()

    def start(**settings: Any) -> Pool:
        settings.setdefault("worker_path", fault_worker)
        ros.init_object_store(StaticConfig(**settings))
        return lifetime.current_pool()

    yield start
    ros.shutdown_object_store()
    ros.init_object_store(saved)


@pytest.fixture
def oom_worker(fault_worker: str, tmp_path: Path) -> str:
    """The fault worker under a 1 GiB address-space limit, so a big allocation fails."""
    wrapper = tmp_path / "oom-worker"
    wrapper.write_text(f'#!/bin/sh\nulimit -v 1048576\nexec "{fault_worker}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def memory_store() -> ros.Config:
    return ros.Config(f"memory:///{uuid.uuid4().hex}")


def file_store(tmp_path: Path) -> ros.Config:
    root = tmp_path / f"store-{uuid.uuid4().hex[:8]}"
    root.mkdir()
    return ros.Config(root.as_uri())


def until(check: Callable[[], bool], what: str) -> None:
    """Waits for ``check()``; fails the test if it is still false after the hang guard."""
    give_up = time.monotonic() + GUARD
    while not check():
        if time.monotonic() > give_up:
            pytest.fail(f"still waiting, after {GUARD:g} s, for {what}")
        time.sleep(0.005)


def settled(pool: Pool) -> bool:
    """Nothing pending on any worker, and every arena wholly free."""
    return all(c.in_flight == 0 and c.arena.free_bytes == c.arena.size for c in pool.connections)


class Outcome:
    """A call run on its own thread: its value, or the exception it raised."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.value: object = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], object]) -> None:
        try:
            self.value = call()
        except BaseException as exc:
            self.error = exc

    def result(self) -> object:
        self._thread.join(GUARD)
        assert not self._thread.is_alive(), f"the call hung for {GUARD:g} s"
        if self.error is not None:
            raise self.error
        return self.value

    def failure(self) -> BaseException:
        self._thread.join(GUARD)
        assert not self._thread.is_alive(), f"the call hung for {GUARD:g} s"
        assert self.error is not None, f"the call should have failed, but returned {self.value!r}"
        return self.error


def within(seconds: float, call: Callable[[], object]) -> Outcome:
    """``call`` on its own thread, inside a ``deadline(seconds)`` block (a thread does not inherit
    the caller's deadline)."""

    def limited() -> object:
        with ros.deadline(seconds):
            return call()

    return Outcome(limited)


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


# The build and the handshake


def test_only_the_fault_build_lists_fault_injection_in_its_handshake(fault_worker: str) -> None:
    for connection in lifetime.current_pool().connections:
        assert "fault-injection" not in connection.hello["features"]
    installed = Connection(StaticConfig(n_workers=1))
    faulty = Connection(StaticConfig(n_workers=1, worker_path=fault_worker))
    try:
        assert "memory" in installed.hello["features"]
        assert "fault-injection" not in installed.hello["features"]
        assert "fault-injection" in faulty.hello["features"]
    finally:
        installed.close()
        faulty.close()


def test_the_installed_worker_ignores_fault_keys() -> None:
    conf = memory_store()
    key = f"{FAULT}/abort/plain"
    assert ros.put_object(key, b"just a key", conf) == 10
    assert ros.get_object(key, conf) == b"just a key"


# Worker death


DEATHS = {
    "panic": ("panic", ["SIGABRT", "injected panic"]),
    "abort": ("abort", ["SIGABRT"]),
    "exit": ("exit", ["exited with status 0"]),
    "out_of_memory": ("alloc/4096", ["SIGABRT", "memory allocation of"]),
}


@pytest.mark.parametrize("death", sorted(DEATHS))
def test_a_dying_worker_fails_its_calls_at_once_while_the_other_worker_goes_on(
    death: str, fault_pool: StartPool, oom_worker: str
) -> None:
    fault, expected = DEATHS[death]
    settings: dict[str, Any] = {"n_workers": 2, "crash_retries_for_reads": 0}
    if death == "out_of_memory":
        settings["worker_path"] = oom_worker
    pool = fault_pool(**settings)
    conf_a = memory_store()  # a memory store stays on one worker: the one that dies
    hanging = {
        "get": Outcome(lambda: ros.get_object(f"{FAULT}/hang/get", conf_a)),
        "put": Outcome(lambda: ros.put_object(f"{FAULT}/hang/put", b"never", conf_a)),
        "head": Outcome(lambda: ros.head_object(f"{FAULT}/hang/head", conf_a)),
    }
    doomed, _ = pool.route(conf_a.spec())
    until(lambda: doomed.in_flight == 3, "three calls in flight on the first worker")
    conf_b = memory_store()  # first used while the other worker is busy: pinned to this one
    survivor, _ = pool.route(conf_b.spec())
    assert survivor is not doomed
    slow_put = Outcome(lambda: ros.put_object(f"{FAULT}/sleep/1000/b", b"survives", conf_b))
    until(lambda: survivor.in_flight == 1, "a call in flight on the other worker")

    key = f"{FAULT}/{fault}/k"
    with pytest.raises(ros.WorkerCrashedError) as caught:
        ros.get_object(key, conf_a)
    errors: list[tuple[BaseException, str, str]] = [(caught.value, "get", key)]
    errors += [(hanging[op].failure(), op, f"{FAULT}/hang/{op}") for op in ("get", "put", "head")]
    for error, op, path in errors:
        assert isinstance(error, ros.WorkerCrashedError), repr(error)
        assert not isinstance(error, ros.WorkerProtocolError)
        assert (error.op, error.path) == (op, path)
        for words in expected:
            assert words in str(error)

    assert slow_put.result() == 8  # the other worker went on
    assert survivor.alive and survivor in pool.connections
    assert ros.get_object(f"{FAULT}/sleep/1000/b", conf_b) == b"survives"
    assert ros.put_object("after", b"respawned", conf_a) == 9  # a fresh worker
    assert ros.get_object("after", conf_a) == b"respawned"
    assert pool.route(conf_a.spec())[0] is not doomed
    assert ros.current_metrics().total.restarts == 1


def test_a_read_on_a_worker_that_always_dies_fails_after_one_retry(fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=1)
    (first,) = pool.connections
    with pytest.raises(ros.WorkerCrashedError) as caught:
        ros.get_object(f"{FAULT}/abort/k", memory_store())
    assert caught.value.op == "get" and "SIGABRT" in str(caught.value)
    # The retry ran on a fresh worker, which died as well.
    assert ros.current_metrics().total.restarts == 1
    (second,) = pool.connections
    assert second is not first and not first.alive and not second.alive


def test_a_read_whose_worker_is_killed_mid_read_succeeds_on_a_fresh_worker(
    fault_pool: StartPool, tmp_path: Path
) -> None:
    pool = fault_pool(n_workers=1)
    conf = file_store(tmp_path)  # outlives its worker, unlike a memory store
    key = f"{FAULT}/sleep/1000/k"
    assert ros.put_object(key, b"still here", conf) == 10
    (first,) = pool.connections
    read = Outcome(lambda: ros.get_object(key, conf))
    until(lambda: first.in_flight == 1, "the read in flight")
    os.kill(first.pid, signal.SIGKILL)
    assert read.result() == b"still here"
    assert first.closed is not None and "SIGKILL" in first.closed.describe()
    assert ros.current_metrics().total.restarts == 1


# Bad frames from the worker


@pytest.mark.parametrize("fault", ["garbage", "truncated", "oversize"])
def test_a_bad_frame_from_the_worker_is_a_worker_protocol_error(
    fault: str, fault_pool: StartPool
) -> None:
    pool = fault_pool(n_workers=1, crash_retries_for_reads=0)
    conf = memory_store()
    (worker,) = pool.connections
    hanging = Outcome(lambda: ros.get_object(f"{FAULT}/hang/k", conf))
    until(lambda: worker.in_flight == 1, "a call in flight")
    key = f"{FAULT}/{fault}/k"
    with pytest.raises(ros.WorkerProtocolError) as caught:
        ros.get_object(key, conf)
    for error, path in ((caught.value, key), (hanging.failure(), f"{FAULT}/hang/k")):
        assert isinstance(error, ros.WorkerProtocolError), repr(error)
        assert isinstance(error, ros.ProtocolError) and isinstance(error, ros.WorkerCrashedError)
        assert (error.op, error.path) == ("get", path)
        assert "protocol error in its output" in str(error)
    assert worker.transport.process.returncode == -signal.SIGKILL  # killed by us
    assert ros.put_object("k", b"next", conf) == 4
    assert ros.get_object("k", conf) == b"next"
    assert pool.connections[0] is not worker


# Bad frames to the worker

BAD_INPUT = {
    "over_the_limit": struct.pack(">I", MAX_FRAME + 1),
    "not_a_map": frame(msgpack.packb([1, 2, 3])),
    "cut_short": struct.pack(">I", 100) + b"\x81" * 10,
}


@pytest.mark.parametrize("bad", sorted(BAD_INPUT))
def test_a_bad_frame_to_the_worker_ends_it_with_status_3(bad: str, fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=1, crash_retries_for_reads=0)
    conf = memory_store()
    (worker,) = pool.connections
    hanging = Outcome(lambda: ros.get_object(f"{FAULT}/hang/k", conf))
    until(lambda: worker.in_flight == 1, "a call in flight")
    worker.transport.send(BAD_INPUT[bad])
    if bad == "cut_short":
        worker.transport.close()  # the rest never comes
    error = hanging.failure()
    assert type(error) is ros.WorkerCrashedError, repr(error)
    assert (error.op, error.path) == ("get", f"{FAULT}/hang/k")
    assert "exited with status 3" in str(error) and "protocol error" in str(error)
    assert worker.transport.process.returncode == 3
    assert ros.put_object("k", b"replaced", conf) == 8
    assert ros.get_object("k", conf) == b"replaced"
    assert pool.connections[0] is not worker


def test_a_request_over_the_frame_limit_is_refused_before_it_is_sent() -> None:
    pool = lifetime.current_pool()
    workers = [(c, c.pid) for c in pool.connections]
    conf = memory_store()
    huge = "k" * (MAX_FRAME + 1)
    with pytest.raises(ros.ProtocolError, match="over the") as put:
        ros.put_object(huge, b"data", conf)
    with pytest.raises(ros.ProtocolError, match="over the") as get:
        ros.get_object(huge, conf)
    assert not isinstance(put.value, ros.WorkerCrashedError)
    assert (put.value.op, get.value.op) == ("put", "get")
    # Nothing was owed: no worker replaced, nothing pending, no region kept.
    assert [(c, c.pid) for c in pool.connections] == workers
    assert all(c.alive for c, _ in workers)
    assert settled(pool)
    assert ros.put_object("k", b"fine", conf) == 4


# Stray output and floods


def test_stray_stdout_output_from_a_dependency_does_not_break_the_stream(
    fault_pool: StartPool,
) -> None:
    pool = fault_pool(n_workers=1)
    conf = memory_store()
    (worker,) = pool.connections
    key = f"{FAULT}/stdout/k"
    assert ros.put_object(key, b"clean", conf) == 5
    assert ros.get_object(key, conf) == b"clean"
    assert pool.connections == [worker] and worker.alive
    # The line reaches stderr's drain thread on its own time, after the answers on stdout.
    until(
        lambda: any("a dependency printing to stdout" in line for line in worker.transport._stderr),
        "the stray line on the worker's stderr",
    )


# Many times the 1 MiB pipe, so a worker that could block on its stderr would.
FLOOD_MIB = 64
FLOODING_CALLS = 16


def test_a_stderr_flood_is_drained_and_the_crash_report_stays_bounded(
    fault_pool: StartPool,
) -> None:
    pool = fault_pool(n_workers=1, crash_retries_for_reads=0)
    conf = memory_store()
    (worker,) = pool.connections
    key = f"{FAULT}/stderr/{FLOOD_MIB}/k"
    ros.put_object("plain", b"loud", conf)
    ros.copy_object("plain", key, conf)  # quiet: a copy's fault is its source's
    assert Outcome(lambda: ros.get_object(key, conf)).result() == b"loud"
    assert worker.alive and len(worker.transport._stderr) <= STDERR_LINES
    with pytest.raises(ros.WorkerCrashedError) as caught:
        ros.get_object(f"{FAULT}/abort/k", conf)
    report = str(caught.value)
    assert "SIGABRT" in report and "e" * 1023 in report
    assert len(report.splitlines()) <= STDERR_LINES + 2
    assert len(report) < 2 * STDERR_LINES * 1024


def test_both_pipes_full_at_once_do_not_hang(fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=2)
    conf = memory_store()
    for i in range(64):
        ros.put_object(f"k{i}", b"%d" % i, conf)
        if i < FLOODING_CALLS:
            ros.copy_object(f"k{i}", f"{FAULT}/stderr/1/k{i}", conf)

    def calls(i: int) -> list[bytes]:
        if i < FLOODING_CALLS:  # 1 MiB of stderr each
            return [ros.get_object(f"{FAULT}/stderr/1/k{i}", conf)]
        return [ros.get_object(f"k{i}", conf) for _ in range(50)]  # a stream of answers

    running = [Outcome(functools.partial(calls, i)) for i in range(64)]
    for i, call in enumerate(running):
        assert set(cast(list[bytes], call.result())) == {b"%d" % i}
    assert all(c.alive for c in pool.connections)
    assert ros.current_metrics().total.restarts == 0


# Deadlines


def test_a_deadline_stops_a_slow_call(fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=1)
    conf = memory_store()
    key = f"{FAULT}/sleep/5000/k"
    error = within(0.3, lambda: ros.get_object(key, conf)).failure()
    assert isinstance(error, ros.DeadlineExceededError) and isinstance(error, TimeoutError)
    assert (error.op, error.path) == ("get", key)
    assert "0.3 s deadline" in str(error)
    until(lambda: settled(pool), "the cancelled get's acknowledgement")


def test_a_deadline_stops_a_slow_async_call(fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=1)
    conf = memory_store()
    key = f"{FAULT}/sleep/5000/k"

    async def slow() -> bytes:
        with ros.deadline(0.3):
            return await ros.get_object_async(key, conf)

    with pytest.raises(ros.DeadlineExceededError) as caught:
        asyncio.run(asyncio.wait_for(slow(), GUARD))
    assert isinstance(caught.value, TimeoutError)
    assert (caught.value.op, caught.value.path) == ("get", key)
    until(lambda: settled(pool), "the cancelled get's acknowledgement")


def test_a_passed_deadline_cancels_the_request_in_the_worker(fault_pool: StartPool) -> None:
    # A hanging request ends only by a cancel: a settled pool proves the worker got one and answered.
    pool = fault_pool(n_workers=1)
    conf = memory_store()
    (worker,) = pool.connections
    for op, call in (
        ("get", lambda: ros.get_object(f"{FAULT}/hang/k", conf)),
        ("put", lambda: ros.put_object(f"{FAULT}/hang/k", b"x" * MiB, conf)),
    ):
        error = within(0.3, call).failure()
        assert isinstance(error, ros.DeadlineExceededError) and error.op == op
        until(lambda: settled(pool), f"the worker's answer to the cancelled {op}")
    assert pool.connections == [worker] and worker.alive


def test_call_timeout_secs_applies_to_every_call(fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=1, call_timeout_secs=0.3)
    conf = memory_store()
    calls: list[tuple[str, Callable[[], object]]] = [
        ("get", lambda: ros.get_object(f"{FAULT}/hang/g", conf)),
        ("put", lambda: ros.put_object(f"{FAULT}/hang/p", b"x", conf)),
        ("head", lambda: ros.head_object(f"{FAULT}/hang/h", conf)),
        ("delete", lambda: ros.delete_object(f"{FAULT}/hang/d", conf)),
    ]
    for op, call in calls:
        error = Outcome(call).failure()
        assert isinstance(error, ros.DeadlineExceededError), repr(error)
        assert error.op == op
    until(lambda: settled(pool), "every cancelled call's acknowledgement")
    assert ros.put_object("k", b"quick", conf) == 5  # a quick call is untouched
    assert ros.get_object("k", conf) == b"quick"
    # A deadline block sets its calls' deadline instead: this one outlives the 0.3 s default.
    late = within(GUARD, lambda: ros.get_object(f"{FAULT}/sleep/600/missing", conf))
    assert isinstance(late.failure(), ros.NotFoundError)


def test_a_deadline_that_is_not_reached_changes_nothing(fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=1)
    conf = memory_store()
    key = f"{FAULT}/sleep/100/k"
    with ros.deadline(GUARD):
        assert ros.put_object(key, b"in time", conf) == 7
        assert ros.get_object(key, conf) == b"in time"
        assert ros.head_object(key, conf).size == 7

    async def in_time() -> bytes:
        with ros.deadline(GUARD):
            return await ros.get_object_async(key, conf)

    assert asyncio.run(in_time()) == b"in time"
    assert settled(pool)


# Cancellation


def test_a_cancelled_task_frees_its_region_once_the_worker_acknowledges(
    fault_pool: StartPool,
) -> None:
    pool = fault_pool(n_workers=1)
    conf = memory_store()
    (worker,) = pool.connections

    async def cancel_a_hanging_get() -> None:
        task = asyncio.create_task(ros.get_object_async(f"{FAULT}/hang/k", conf))
        while worker.in_flight == 0:
            await asyncio.sleep(0.005)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=GUARD)
        assert done == {task} and task.cancelled()

    asyncio.run(cancel_a_hanging_get())
    until(lambda: settled(pool), "the worker's acknowledgement of the cancel")
    assert pool.connections == [worker] and worker.alive


def test_a_region_is_not_reused_before_the_worker_acknowledges_the_cancel(
    fault_pool: StartPool,
) -> None:
    pool = fault_pool(n_workers=1)
    conf = memory_store()
    (worker,) = pool.connections
    arena = worker.arena

    async def cancel_while_stopped() -> None:
        task = asyncio.create_task(ros.get_object_async(f"{FAULT}/hang/k", conf))
        while worker.in_flight == 0:
            await asyncio.sleep(0.005)
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=GUARD)
            assert done == {task} and task.cancelled()  # the caller does not wait for the worker
            await asyncio.sleep(0.3)
            # The stopped worker cannot have answered: its region is still reserved.
            assert worker.in_flight == 1
            assert arena.free_bytes < arena.size
        finally:
            os.kill(worker.pid, signal.SIGCONT)

    asyncio.run(cancel_while_stopped())
    until(lambda: settled(pool), "the acknowledgement once the worker runs again")
    assert worker.alive


def outcome(task: asyncio.Task[bytes]) -> bytes | BaseException:
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception() or task.result()


def test_cancels_racing_completions_end_each_call_exactly_one_way(fault_pool: StartPool) -> None:
    pool = fault_pool(n_workers=2)
    conf = memory_store()
    rng = random.Random(4)
    objects: dict[str, bytes] = {}
    for i in range(40):
        key = f"{FAULT}/sleep/{rng.randint(1, 10)}/o{i}" if i % 3 == 0 else f"o{i}"
        objects[key] = rng.randbytes(rng.randint(0, 64 * 1024))
    objects["big"] = rng.randbytes(9 * MiB)  # two parts: a cancel may land between them
    for key, data in objects.items():
        ros.put_object(key, data, conf)
    keys = sorted(objects)
    wanted = [keys[i % len(keys)] for i in range(500)]

    async def race() -> list[bytes | BaseException]:
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(ros.get_object_async(key, conf)) for key in wanted]
        for i, task in enumerate(tasks):
            if i % 5 == 0:
                task.cancel()  # before it starts: surely cancelled
            elif i % 5 != 1:  # every fifth, from 1, is never cancelled
                loop.call_later(rng.uniform(0, 0.2), task.cancel)
        done, _ = await asyncio.wait(tasks, timeout=GUARD)
        assert len(done) == len(tasks), "some gets hung"
        return [outcome(task) for task in tasks]

    outcomes = asyncio.run(race())
    kinds = {"bytes": 0, "cancelled": 0}
    for key, ended in zip(wanted, outcomes, strict=True):
        if isinstance(ended, asyncio.CancelledError):
            kinds["cancelled"] += 1
        else:
            assert ended == objects[key], f"{key}: {ended!r:.200}"
            kinds["bytes"] += 1
    assert kinds["bytes"] >= 100 and kinds["cancelled"] >= 100
    until(lambda: settled(pool), "every cancelled get's acknowledgement")
    assert ros.current_metrics().total.restarts == 0


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_cancelled_put_leaves_the_old_or_the_new_content_never_a_mix(
    kind: str, fault_pool: StartPool, tmp_path: Path
) -> None:
    # On file:// the upload goes on in a blocking thread after its future is dropped: the worker
    # must not answer the cancel (and so let Python reuse the region) before that thread is done.
    # An arena of 20 MiB: past half of it (10 MiB) a local store's put is a multipart upload.
    pool = fault_pool(n_workers=1, arena_size=20 * MiB)
    conf = memory_store() if kind == "memory" else file_store(tmp_path)
    rng = random.Random(7)
    current = b"\x00" * MiB
    ros.put_object("k", current, conf)
    outcomes = set()

    async def put_and_cancel(data: bytes, delay: float) -> bool:
        task = asyncio.create_task(ros.put_object_async("k", data, conf))
        await asyncio.sleep(delay)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=GUARD)
        assert done == {task}
        return task.cancelled()

    for round_ in range(1, 25):
        size = 12 * MiB if round_ % 2 else 8 * MiB  # a multipart upload, then a single put
        data = bytes([round_]) * size
        cancelled = asyncio.run(put_and_cancel(data, rng.uniform(0, 0.03)))
        until(lambda: settled(pool), "the cancelled put's acknowledgement")
        filler = b"\xff" * size  # reuses the cancelled put's region at once
        ros.put_object("other", filler, conf)
        got = ros.get_object("k", conf)
        assert got in (current, data), f"round {round_}: {len(got)} bytes of {set(got)}"
        assert ros.get_object("other", conf) == filler
        if got == data:
            current = data
        outcomes.add((cancelled, got == data))
    assert (True, False) in outcomes  # some puts were stopped in time
