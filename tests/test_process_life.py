"""Process life (issue 4): the parent SIGKILLed, Ctrl-C, interpreter exit with calls in flight,
``shutdown_object_store()`` twice or from another thread, configurations crossing into other
processes. Everything here is real: child interpreters, real signals, real workers, no mocks.

Every worker a child starts inherits a marker in its environment, so a scan of ``/proc`` finds every
worker of one test (however late it was started, whoever its parent is now) and proves none is left.
A deadline in this file is a hang guard, never a timed assertion.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import pytest
from conftest import HANG_GUARD, SilentServer, s3_config
from emulators import RunningServer

import rustyobjectstore as ros
from rustyobjectstore._config import StaticConfig
from rustyobjectstore._worker import lifetime

WORKER_NAME = "rustyobjectstore-worker"
MARK_VAR = "ROS_PROCESS_LIFE_MARK"
REPO = Path(__file__).resolve().parent.parent

StoreConfig = ros.Config | ros.AWSConfig


# ---------------------------------------------------------------------------------------------
# /proc: which worker processes are alive


def _read_proc(pid: int, name: str) -> bytes | None:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:  # gone, or not ours to read
        return None


def _state(pid: int) -> str | None:
    """The process's state letter ("R", "S", "Z"...), None when there is no such process."""
    stat = _read_proc(pid, "stat")
    if stat is None:
        return None
    return stat[stat.rindex(b")") + 2 :].split()[0].decode()


def _parent(pid: int) -> int | None:
    stat = _read_proc(pid, "stat")
    return None if stat is None else int(stat[stat.rindex(b")") + 2 :].split()[1])


def _is_live_worker(pid: int) -> bool:
    """A running (not exited, not a zombie) rustyobjectstore worker."""
    cmdline = _read_proc(pid, "cmdline")
    if not cmdline or os.path.basename(cmdline.split(b"\0")[0]) != WORKER_NAME.encode():
        return False
    return _state(pid) not in (None, "Z", "X")


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _marked_workers(mark: str) -> set[int]:
    """Every live worker whose environment carries ``mark``."""
    needle = f"{MARK_VAR}={mark}".encode()
    found = set()
    for pid in _all_pids():
        environ = _read_proc(pid, "environ")
        if environ is not None and needle in environ.split(b"\0") and _is_live_worker(pid):
            found.add(pid)
    return found


def _worker_children(parent: int) -> set[int]:
    return {pid for pid in _all_pids() if _parent(pid) == parent and _is_live_worker(pid)}


def _wait_until_gone(mark: str, pids: frozenset[int] = frozenset()) -> set[int]:
    """Polls (hang guard, not a timing) until no worker of ``mark`` and none of ``pids`` is alive;
    returns those still alive when the guard ran out."""
    deadline = time.monotonic() + HANG_GUARD
    while True:
        alive = _marked_workers(mark) | {pid for pid in pids if _is_live_worker(pid)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _kill_leftovers(mark: str) -> None:
    """After a failed test: workers this test started must not outlive it."""
    for pid in _marked_workers(mark):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# Child interpreters


class Child:
    """``python -c script`` with the marker in its environment; its stdout read line by line."""

    def __init__(self, script: str, *args: str) -> None:
        self.mark = uuid.uuid4().hex
        env = {**os.environ, MARK_VAR: self.mark, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        self._pending = b""
        self.stdout_lines: list[str] = []

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def expect(self, word: str) -> list[str]:
        """Waits for a stdout line starting with ``word``; returns that line's other words."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + HANG_GUARD
        while True:
            while b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
                line = raw.decode()
                self.stdout_lines.append(line)
                words = line.split()
                if words and words[0] == word:
                    return words[1:]
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError(
                    f"the child never printed {word!r} (exit status {self.process.poll()}); "
                    f"its output: {self.stdout_lines}, stderr: {self._stderr_so_far()}"
                )
            self._pending += chunk

    def _stderr_so_far(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")

    def finish(self) -> tuple[int, str]:
        """Waits for the child to exit (hang guard) and returns its exit status and stderr."""
        try:
            out, err = self.process.communicate(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise AssertionError(
                f"the child hung; stdout {self.stdout_lines} {out!r}, stderr {err!r}"
            ) from None
        self.stdout_lines.extend((self._pending + out).decode().splitlines())
        self._pending = b""
        return self.process.returncode, err.decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(ValueError, OSError):
            self.process.communicate(timeout=HANG_GUARD)
        _kill_leftovers(self.mark)


@pytest.fixture
def spawn_child() -> Iterator[Callable[..., Child]]:
    children: list[Child] = []

    def start(script: str, *args: str) -> Child:
        child = Child(script, *args)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()


# The prelude of every child script: a pool, a file store, a store whose calls never end, and
# helpers that loop calls and say so on stdout.
PRELUDE = """
import asyncio, atexit, os, signal, sys, threading, time

# Python leaves SIGINT alone when it starts ignored (a test run launched in the background): make
# Ctrl-C a KeyboardInterrupt here whatever the parent did.
signal.signal(signal.SIGINT, signal.default_int_handler)

after_exit = []  # run after the library's own exit handler (atexit runs the last registered first)

def print(*parts, flush=True):  # one write per line: threads print at once
    sys.stdout.write(" ".join(map(str, parts)) + "\\n")
    sys.stdout.flush()
atexit.register(lambda: [report() for report in after_exit])

import rustyobjectstore as ros
from rustyobjectstore._worker import lifetime
ROOT, SILENT = sys.argv[1], sys.argv[2]
ros.init_object_store(ros.StaticConfig(n_workers=2))
conf = ros.Config(ROOT)
silent = ros.AWSConfig(
    "us-east-1", "bucket", access_key_id="a", secret_access_key="s", host=SILENT,
    opts=ros.ClientOptions(max_retries=0, request_timeout_secs=120),
)
print("workers", *[c.pid for c in lifetime.current_pool().connections], flush=True)

def busy(n, rounds=None):
    data = os.urandom(100_000)
    i = 0
    while rounds is None or i < rounds:
        ros.put_object(f"busy/{n}", data, conf)
        if ros.get_object(f"busy/{n}", conf) != data:
            raise SystemExit("wrong bytes")
        i += 1
        if i == 5:
            print("busy", n, flush=True)
    print("done", n, flush=True)

def stuck():
    print("stuck", flush=True)
    ros.get_object("never/answered", silent)

cut = []

def cut_off(target, *args):
    # For daemon threads: calls after the exit's shutdown fail, with WorkerCrashedError only.
    while True:
        try:
            target(*args)
        except ros.WorkerCrashedError as exc:
            cut.append(exc)
            time.sleep(0.001)

async def busy_async(n):
    data = os.urandom(100_000)
    i = 0
    while True:
        await ros.put_object_async(f"async/{n}", data, conf)
        if await ros.get_object_async(f"async/{n}", conf) != data:
            raise SystemExit("wrong bytes")
        i += 1
        if i == 5:
            print("busy", n, flush=True)
"""


def _start(
    spawn_child: Callable[..., Child], tmp_path: Path, server: SilentServer, body: str
) -> tuple[Child, set[int]]:
    """Starts a child running PRELUDE then ``body``; returns it and its first workers' pids, which
    the marker scan must also find (else the scan proves nothing)."""
    root = tmp_path / "store"
    root.mkdir()
    child = spawn_child(PRELUDE + textwrap.dedent(body), root.as_uri(), server.endpoint)
    pids = {int(pid) for pid in child.expect("workers")}
    assert len(pids) == 2
    assert pids <= _marked_workers(child.mark)
    assert pids == _worker_children(child.process.pid)
    return child, pids


# ---------------------------------------------------------------------------------------------
# 1. The parent SIGKILLed


def test_a_sigkilled_parent_leaves_no_worker_behind(
    spawn_child: Callable[..., Child], tmp_path: Path, silent_server: SilentServer
) -> None:
    child, pids = _start(
        spawn_child,
        tmp_path,
        silent_server,
        """
        for n in range(3):
            threading.Thread(target=busy, args=(n,), daemon=True).start()
        threading.Thread(target=stuck, daemon=True).start()
        threading.Event().wait()
        """,
    )
    silent_server.wait_for_request()  # one call surely in flight, on a worker busy with nothing else
    for _ in range(3):
        child.expect("busy")  # and three threads looping calls
    os.kill(child.process.pid, signal.SIGKILL)
    returncode, _ = child.finish()
    assert returncode == -signal.SIGKILL
    # Nobody closed the workers' stdin but the kernel: they saw EOF and exited.
    assert _wait_until_gone(child.mark, frozenset(pids)) == set()


# ---------------------------------------------------------------------------------------------
# 2. Ctrl-C


SIGINT_BODIES = {
    "sync-loop": """
        busy(0)
        """,
    "sync-blocked": """
        threading.Thread(target=cut_off, args=(busy, 0), daemon=True).start()
        stuck()
        """,
    "asyncio": """
        async def main():
            tasks = [asyncio.create_task(busy_async(n)) for n in range(3)]
            tasks.append(asyncio.create_task(ros.get_object_async("never/async", silent)))
            await asyncio.gather(*tasks)
        asyncio.run(main())
        """,
}


@pytest.mark.parametrize("body", list(SIGINT_BODIES))
def test_ctrl_c_in_the_middle_of_calls_raises_keyboard_interrupt_and_stops_the_workers(
    spawn_child: Callable[..., Child], tmp_path: Path, silent_server: SilentServer, body: str
) -> None:
    child, pids = _start(spawn_child, tmp_path, silent_server, SIGINT_BODIES[body])
    child.expect("busy")
    if body != "sync-loop":
        silent_server.wait_for_request()  # a call that never ends is in flight
    os.kill(child.process.pid, signal.SIGINT)
    returncode, stderr = child.finish()
    assert returncode != 0
    assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
    assert "WorkerCrashedError" not in stderr and "Exception ignored" not in stderr, stderr
    assert _wait_until_gone(child.mark, frozenset(pids)) == set()


# ---------------------------------------------------------------------------------------------
# 3. Interpreter exit with calls in flight


EXIT_BODIES = {
    # Threads that are not daemons: the interpreter waits for them, then shuts the pool down.
    "threads": """
        threads = [threading.Thread(target=busy, args=(n, 40)) for n in range(3)]
        for t in threads:
            t.start()
        print("leaving", flush=True)
        """,
    # Daemon threads looping calls, one of them stuck on a server that never answers. They go on
    # calling after the exit has shut the pool down: every such call fails, none starts a new pool.
    "daemon-threads": """
        def report():
            deadline = time.monotonic() + 10
            while len(cut) < 100 and time.monotonic() < deadline:
                time.sleep(0.01)
            print("after-exit", lifetime.running_pool() is None, len(cut), flush=True)

        after_exit.append(report)
        for n in range(3):
            threading.Thread(target=cut_off, args=(busy, n), daemon=True).start()
        threading.Thread(target=cut_off, args=(stuck,), daemon=True).start()
        while sys.stdin.readline().strip() != "go":
            pass
        print("leaving", flush=True)
        """,
    # Tasks never awaited: asyncio.run cancels them on the way out.
    "asyncio-tasks": """
        async def main():
            tasks = [asyncio.create_task(busy_async(n)) for n in range(3)]
            tasks.append(asyncio.create_task(ros.get_object_async("never/async", silent)))
            while True:
                line = await asyncio.to_thread(sys.stdin.readline)
                if line.strip() == "go":
                    break
            print("leaving", flush=True)
        asyncio.run(main())
        """,
}


@pytest.mark.parametrize("body", list(EXIT_BODIES))
def test_the_interpreter_exits_promptly_with_calls_in_flight(
    spawn_child: Callable[..., Child], tmp_path: Path, silent_server: SilentServer, body: str
) -> None:
    child, pids = _start(spawn_child, tmp_path, silent_server, EXIT_BODIES[body])
    if body == "threads":
        returncode, stderr = child.finish()
        assert returncode == 0, stderr
        # Every thread finished its calls before the interpreter went.
        assert sorted(line for line in child.stdout_lines if line.startswith("done")) == [
            "done 0",
            "done 1",
            "done 2",
        ]
    else:
        for _ in range(3):
            child.expect("busy")
        silent_server.wait_for_request()
        child.say("go")
        child.expect("leaving")
        if body == "daemon-threads":
            # The daemon threads' calls after the exit's shutdown got WorkerCrashedError (and
            # nothing else, or they would have died with a traceback); no new pool was started.
            pool_is_gone, cut = child.expect("after-exit")
            assert pool_is_gone == "True" and int(cut) >= 100
        returncode, stderr = child.finish()
        assert returncode == 0, stderr
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
    assert _wait_until_gone(child.mark, frozenset(pids)) == set()


# ---------------------------------------------------------------------------------------------
# 4. shutdown_object_store() twice, and from other threads while calls run


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    """Runs the test with its own pool and restores the session's afterwards."""
    saved = lifetime.current_pool().settings
    ros.shutdown_object_store()
    yield
    ros.shutdown_object_store()
    ros.init_object_store(saved)


def test_shutdown_twice_and_from_other_threads_while_calls_run(
    fresh_pool: None, tmp_path: Path
) -> None:
    ros.init_object_store(StaticConfig(n_workers=2))
    conf = ros.Config(tmp_path.as_uri())
    stop = threading.Event()
    successes = [0] * 4
    errors: list[BaseException] = []

    def caller(n: int) -> None:
        data = bytes([n]) * 100_000
        while not stop.is_set():
            try:
                ros.put_object(f"k{n}", data, conf)
                if ros.get_object(f"k{n}", conf) != data:
                    raise AssertionError(f"caller {n} read back other bytes")
                successes[n] += 1
            except BaseException as exc:  # every outcome is recorded, none is lost
                errors.append(exc)

    def progress_past(marks: list[int]) -> None:
        """Waits (hang guard) until every caller has completed more calls than ``marks``."""
        deadline = time.monotonic() + HANG_GUARD
        while any(now <= then for now, then in zip(successes, marks, strict=True)):
            assert time.monotonic() < deadline, f"the callers stalled at {successes}"
            time.sleep(0.01)

    callers = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for thread in callers:
        thread.start()
    retired: list[subprocess.Popen[bytes]] = []
    try:
        progress_past([0] * 4)
        for _ in range(5):
            retired += [c.transport.process for c in lifetime.current_pool().connections]
            # Two threads shut down at once while four call; then this thread, twice.
            shutters = [threading.Thread(target=ros.shutdown_object_store) for _ in range(2)]
            for thread in shutters:
                thread.start()
            for thread in shutters:
                thread.join(HANG_GUARD)
            assert not any(thread.is_alive() for thread in shutters)
            ros.shutdown_object_store()
            ros.shutdown_object_store()
            # Calls made afterwards start a fresh pool and work.
            progress_past(list(successes))
    finally:
        stop.set()
        for thread in callers:
            thread.join(HANG_GUARD)
    assert not any(thread.is_alive() for thread in callers)
    # The calls cut off by a shutdown get the typed error, and only that.
    unexpected = [e for e in errors if not isinstance(e, ros.WorkerCrashedError)]
    assert unexpected == [], "".join(traceback.format_exception(unexpected[0]))
    assert all(process.poll() is not None for process in retired)
    for n in range(4):
        assert ros.get_object(f"k{n}", conf) == bytes([n]) * 100_000
    # Whatever pools came and went, only the current one's workers are alive.
    assert _worker_children(os.getpid()) == {c.pid for c in lifetime.current_pool().connections}


# ---------------------------------------------------------------------------------------------
# 5. Configurations cross into other processes (pickled) and work there


def _put(conf: StoreConfig, key: str, data: bytes) -> StoreConfig:
    ros.put_object(key, data, conf)
    return conf


def _get(conf: StoreConfig, key: str) -> bytes:
    return ros.get_object(key, conf)


def _roundtrip(conf: StoreConfig, key: str, data: bytes) -> bytes:
    """For memory:// stores, whose objects live in one worker of one process."""
    ros.put_object(key, data, conf)
    return ros.get_object(key, conf)


CALLS: dict[str, Callable[..., object]] = {"put": _put, "get": _get, "roundtrip": _roundtrip}


def _serve(inbox: Any, outbox: Any) -> None:
    """A multiprocessing child: runs the calls it is sent (through queues, so pickled under fork
    too) and sends back their results."""
    while True:
        request = inbox.get()
        if request is None:
            return
        name, args = request
        try:
            outbox.put(("ok", CALLS[name](*args)))
        except BaseException as exc:
            outbox.put(("error", repr(exc)))


class _QueueRunner:
    """Runs calls in one ``multiprocessing.Process`` child."""

    def __init__(self, context: BaseContext) -> None:
        self.inbox: Any = context.Queue()
        self.outbox: Any = context.Queue()
        self.process: Any = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(self.inbox, self.outbox)
        )
        self.process.start()

    def __call__(self, name: str, *args: object) -> Any:
        self.inbox.put((name, args))
        status, value = self.outbox.get(timeout=HANG_GUARD)
        assert status == "ok", value
        return value

    def close(self) -> None:
        self.inbox.put(None)
        self.process.join(HANG_GUARD)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        assert self.process.exitcode == 0
        self.process.close()
        for queue in (self.inbox, self.outbox):
            queue.close()
            queue.join_thread()


class _ExecutorRunner:
    """Runs calls in a ``ProcessPoolExecutor`` worker."""

    def __init__(self, context: BaseContext) -> None:
        self.executor = ProcessPoolExecutor(max_workers=1, mp_context=context)

    def __call__(self, name: str, *args: object) -> Any:
        return self.executor.submit(CALLS[name], *args).result(timeout=HANG_GUARD)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


@pytest.fixture(scope="session")
def resource_tracker() -> None:
    """multiprocessing's resource tracker: one process (and one pipe to it) for the rest of the
    session, started by the first spawn-context lock; started by a session fixture, so that the
    leak check does not take it for a leak of the test."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


@pytest.mark.parametrize("method", ["spawn", "fork"])
@pytest.mark.parametrize("runner", ["process", "executor"])
def test_configurations_pickle_into_other_processes_and_work_there(
    method: str,
    runner: str,
    tmp_path: Path,
    moto_server: RunningServer,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    resource_tracker: None,
) -> None:
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK_VAR, mark)  # the children inherit it, and their workers
    file_conf = ros.Config(tmp_path.as_uri())
    memory_conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    s3_conf = s3_config(moto_server, s3_bucket)
    for conf in (file_conf, memory_conf, s3_conf):
        assert pickle.loads(pickle.dumps(conf)) == conf
    context = multiprocessing.get_context(method)
    run: _QueueRunner | _ExecutorRunner = (
        _QueueRunner(context) if runner == "process" else _ExecutorRunner(context)
    )
    try:
        for conf in (file_conf, s3_conf):
            # Put in the child, get in the parent...
            data = os.urandom(200_000)
            assert run("put", conf, "from-child", data) == conf
            assert ros.get_object("from-child", conf) == data
            # ...and the other way round.
            data = os.urandom(200_000)
            ros.put_object("from-parent", data, conf)
            assert run("get", conf, "from-parent") == data
        data = os.urandom(200_000)
        assert run("roundtrip", memory_conf, "in-child", data) == data
    finally:
        run.close()
    parent_workers = {c.pid for c in lifetime.current_pool().connections}
    try:
        assert _wait_until_gone(mark) - parent_workers == set()
    finally:
        for pid in _marked_workers(mark) - parent_workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def test_at_eof_a_worker_whose_abort_gets_no_answer_exits_by_itself_after_its_grace(
    fresh_pool: None, minio_server: RunningServer, minio_bucket: str
) -> None:
    """A stream's multipart upload is open on MinIO, behind a toxiproxy that then passes nothing
    more. ``shutdown_object_store()`` closes the worker's stdin: the worker tries to abort the
    upload, and its 3 s grace for that ends the wait, so it exits on its own with status 0 before
    Python's 5 s would kill it (SIGKILL, status -9)."""
    from emulators import (
        MINIO_KEY,
        MINIO_SECRET,
        _toxiproxy_call,
        add_proxy,
        s3_client,
        start_toxiproxy,
    )  # fmt: skip

    client = s3_client(minio_server.endpoint)
    with start_toxiproxy() as toxiproxy, contextlib.closing(client):
        through = add_proxy(toxiproxy.endpoint, "stall", minio_server.endpoint)
        conf = ros.AWSConfig("us-east-1", minio_bucket, MINIO_KEY, MINIO_SECRET, host=through)
        ros.init_object_store(StaticConfig(n_workers=1))
        (connection,) = lifetime.current_pool().connections
        process = connection.transport.process
        writer = ros.put_object_stream("open-upload", conf)
        writer.write(os.urandom(24 * 1024 * 1024))  # past the buffered 10 MiB: a multipart upload
        deadline = time.monotonic() + HANG_GUARD
        while not client.list_multipart_uploads(Bucket=minio_bucket).get("Uploads"):
            assert time.monotonic() < deadline, "no multipart upload was started"
            time.sleep(0.05)
        _toxiproxy_call(toxiproxy.endpoint, "/proxies/stall/toxics", {
            "name": "stall", "type": "timeout", "stream": "upstream", "attributes": {"timeout": 0},
        })  # fmt: skip
        started = time.monotonic()
        ros.shutdown_object_store()
        took = time.monotonic() - started
        # Killed by Python, it would be -9; a worker that never tried the abort would not wait.
        assert process.returncode == 0 and took >= 2.5, (process.returncode, took)
        del writer
