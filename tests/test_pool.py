"""The pool and its workers: finding the binary, the handshake, EOF, death and respawn."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SilentServer, s3_at

import rustyobjectstore as ros
from rustyobjectstore._config import StaticConfig
from rustyobjectstore._worker import binary as _binary
from rustyobjectstore._worker import lifetime
from rustyobjectstore._worker.codec import PROTOCOL_VERSION
from rustyobjectstore._worker.connection import Connection


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    """Runs the test with its own pool and restores the session's afterwards."""
    saved = lifetime.current_pool().settings
    ros.shutdown_object_store()
    yield
    ros.shutdown_object_store()
    ros.init_object_store(saved)


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-worker"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_missing_binary_lists_every_place_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_binary.ENV_VAR, raising=False)
    monkeypatch.setattr(_binary, "_candidates", lambda: [Path("/nowhere/a"), Path("/nowhere/b")])
    monkeypatch.setenv("PATH", "/nowhere/either")
    with pytest.raises(ros.ConfigurationError) as caught:
        _binary.find_worker()
    message = str(caught.value)
    assert "/nowhere/a" in message and "/nowhere/b" in message and "PATH" in message
    assert _binary.ENV_VAR in message


def test_the_env_var_must_name_an_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_executable = tmp_path / "worker"
    not_executable.write_text("")
    monkeypatch.setenv(_binary.ENV_VAR, str(not_executable))
    with pytest.raises(ros.ConfigurationError, match="not an executable"):
        _binary.find_worker()


def test_a_worker_speaking_another_protocol_is_refused(tmp_path: Path) -> None:
    fake = _script(
        tmp_path,
        "import msgpack, struct, sys\n"
        "body = msgpack.packb({'t': 'hello', 'protocol': 99, 'worker_version': '9.9.9'})\n"
        "sys.stdout.buffer.write(struct.pack('>I', len(body)) + body)\n"
        "sys.stdout.flush()\n"
        "sys.stdin.buffer.read()\n",
    )
    with pytest.raises(ros.ProtocolError) as caught:
        Connection(StaticConfig(n_workers=1, worker_path=fake))
    message = str(caught.value)
    assert "99" in message and str(PROTOCOL_VERSION) in message and "9.9.9" in message
    assert fake in message


def test_a_worker_that_dies_at_start_is_a_clear_error(tmp_path: Path) -> None:
    fake = _script(
        tmp_path, "import sys\nprint('cannot start: no arena', file=sys.stderr)\nsys.exit(7)\n"
    )
    with pytest.raises(ros.WorkerCrashedError) as caught:
        Connection(StaticConfig(n_workers=1, worker_path=fake))
    message = str(caught.value)
    assert "status 7" in message and "cannot start: no arena" in message


def test_the_worker_exits_on_stdin_eof() -> None:
    connection = Connection(StaticConfig(n_workers=1))
    process = connection.transport.process
    connection.close()
    assert process.returncode == 0


def test_a_killed_worker_fails_its_calls_and_is_replaced(fresh_pool: None, tmp_path: Path) -> None:
    ros.init_object_store(StaticConfig(n_workers=1))
    conf = ros.Config(tmp_path.as_uri())
    ros.put_object("k", b"v", conf)
    (connection,) = lifetime.current_pool().connections
    os.kill(connection.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while connection.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not connection.alive
    assert connection.closed is not None and "SIGKILL" in connection.closed.describe()
    assert ros.get_object("k", conf) == b"v"  # a fresh worker serves the next call
    (replacement,) = lifetime.current_pool().connections
    assert replacement.pid != connection.pid


def test_a_call_in_flight_on_a_dying_worker_gets_a_crash_error(
    fresh_pool: None, silent_server: SilentServer
) -> None:
    # A silent server keeps the call in flight while the worker is killed.
    ros.init_object_store(StaticConfig(n_workers=1, crash_retries_for_reads=0))
    conf = s3_at(silent_server.endpoint, request_timeout_secs=60, max_retries=0)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            ros.get_object("slow/key", conf)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    silent_server.wait_for_request()  # the request has reached the server
    (connection,) = lifetime.current_pool().connections
    os.kill(connection.pid, signal.SIGKILL)
    thread.join(timeout=10)
    assert not thread.is_alive()
    (error,) = errors
    assert isinstance(error, ros.WorkerCrashedError)
    assert error.op == "get" and error.path == "slow/key"
    assert "SIGKILL" in str(error)


def test_a_memory_store_is_always_served_by_the_same_worker(fresh_pool: None) -> None:
    ros.init_object_store(StaticConfig(n_workers=3))
    conf = ros.Config("memory:///pinned")
    ros.put_object("k", b"value", conf)
    for _ in range(30):
        assert ros.get_object("k", conf) == b"value"


def test_init_twice_with_another_config_is_an_error(fresh_pool: None) -> None:
    ros.init_object_store(StaticConfig(n_workers=1))
    ros.init_object_store(StaticConfig(n_workers=1))  # the same: nothing happens
    with pytest.raises(ros.ConfigurationError, match="shutdown_object_store"):
        ros.init_object_store(StaticConfig(n_workers=2))


def test_shutdown_stops_every_worker_and_a_later_call_starts_a_pool(
    fresh_pool: None, tmp_path: Path
) -> None:
    ros.init_object_store(StaticConfig(n_workers=2))
    processes = [c.transport.process for c in lifetime.current_pool().connections]
    ros.shutdown_object_store()
    ros.shutdown_object_store()  # twice is fine
    assert all(p.returncode == 0 for p in processes)
    conf = ros.Config(tmp_path.as_uri())
    assert ros.put_object("after", b"x", conf) == 1


def test_bad_static_config_values_are_refused() -> None:
    with pytest.raises(ros.ConfigurationError, match="n_workers"):
        StaticConfig(n_workers=0)
    with pytest.raises(ros.ConfigurationError, match="5 MiB"):
        StaticConfig(multipart_put_part_size=1024)
    with pytest.raises(ros.ConfigurationError, match="arena_size"):
        StaticConfig(arena_size=1024 * 1024)


def test_a_forked_child_gets_its_own_workers_and_leaves_the_parents_alone(
    fresh_pool: None, tmp_path: Path
) -> None:
    ros.init_object_store(StaticConfig(n_workers=1))
    conf = ros.Config(tmp_path.as_uri())
    ros.put_object("from-parent", b"p", conf)
    (parent_worker,) = lifetime.current_pool().connections
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: exit status tells the parent what happened
        os.close(read_end)
        status = 1
        try:
            ok = ros.get_object("from-parent", conf) == b"p"
            ros.put_object("from-child", b"c", conf)
            (child_worker,) = lifetime.current_pool().connections
            status = 0 if ok and child_worker.pid != parent_worker.pid else 2
            os.write(write_end, b"ready")
            time.sleep(3)  # stay alive while the parent shuts its pool down
        finally:
            os._exit(status)
    os.close(write_end)
    assert os.read(read_end, 5) == b"ready"
    os.close(read_end)
    assert ros.get_object("from-child", conf) == b"c"
    assert ros.get_object("from-parent", conf) == b"p"  # the parent's worker still answers
    process = parent_worker.transport.process
    started = time.monotonic()
    ros.shutdown_object_store()
    # The child holds no copy of the worker's stdin: it saw EOF and exited at once.
    assert process.returncode == 0
    assert time.monotonic() - started < 2
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


class _StallFirst:
    """A loopback HTTP server whose first request stalls until released; the rest answer at once.
    Only a fake server can hold a request open on cue while its worker is killed."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.stalled = threading.Event()
        self.release = threading.Event()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bytes) -> None:
                outer.requests += 1
                if outer.requests == 1:
                    outer.stalled.set()
                    outer.release.wait(10)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(b"the object")

            def do_PUT(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer(b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.conf = ros.Config(
            f"http://127.0.0.1:{self.server.server_address[1]}/",
            {"allow_http": "true"},
            ros.ClientOptions(max_retries=0, request_timeout_secs=30),
        )

    def kill_worker_when_stalled(self) -> threading.Thread:
        def kill() -> None:
            assert self.stalled.wait(10)
            (connection,) = lifetime.current_pool().connections
            os.kill(connection.pid, signal.SIGKILL)

        thread = threading.Thread(target=kill)
        thread.start()
        return thread

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def stall_first() -> Iterator[_StallFirst]:
    server = _StallFirst()
    yield server
    server.close()


def test_a_read_whose_worker_dies_is_retried_on_a_fresh_worker(
    fresh_pool: None, stall_first: _StallFirst
) -> None:
    ros.init_object_store(StaticConfig(n_workers=1))
    killer = stall_first.kill_worker_when_stalled()
    assert ros.get_object("obj", stall_first.conf) == b"the object"
    killer.join()
    assert stall_first.requests == 2
    assert ros.current_metrics().total.restarts == 1


def test_a_write_whose_worker_dies_is_not_retried_by_default(
    fresh_pool: None, stall_first: _StallFirst
) -> None:
    ros.init_object_store(StaticConfig(n_workers=1))
    killer = stall_first.kill_worker_when_stalled()
    with pytest.raises(ros.WorkerCrashedError) as caught:
        ros.put_object("obj", b"data", stall_first.conf)
    killer.join()
    assert caught.value.op == "put" and "SIGKILL" in str(caught.value)
    assert stall_first.requests == 1


def test_writes_retry_on_a_crash_when_configured(
    fresh_pool: None, stall_first: _StallFirst
) -> None:
    ros.init_object_store(StaticConfig(n_workers=1, crash_retries_for_writes=1))
    killer = stall_first.kill_worker_when_stalled()
    assert ros.put_object("obj", b"data", stall_first.conf) == 4
    killer.join()
    assert stall_first.requests == 2


def test_a_worker_that_stops_answering_is_killed_and_its_read_retried(
    fresh_pool: None, stall_first: _StallFirst
) -> None:
    ros.init_object_store(StaticConfig(n_workers=1, worker_stall_secs=0.5))
    (stopped,) = lifetime.current_pool().connections

    def stop_when_stalled() -> None:
        assert stall_first.stalled.wait(10)
        os.kill(stopped.pid, signal.SIGSTOP)

    stopper = threading.Thread(target=stop_when_stalled)
    stopper.start()
    started = time.monotonic()
    assert ros.get_object("obj", stall_first.conf) == b"the object"
    stopper.join()
    assert time.monotonic() - started < 10
    assert stopped.transport.process.returncode == -signal.SIGKILL
    assert stopped.closed is not None and "not even a ping" in stopped.closed.describe()
    assert ros.current_metrics().total.restarts == 1
    assert "ping" not in ros.current_metrics().total.requests


def test_a_busy_worker_answers_pings_and_is_left_alone(
    fresh_pool: None, stall_first: _StallFirst
) -> None:
    ros.init_object_store(StaticConfig(n_workers=1, worker_stall_secs=0.3))
    (worker,) = lifetime.current_pool().connections
    releaser = threading.Timer(2.0, stall_first.release.set)
    releaser.start()
    # The first request stalls for 2 s, far past the stall time, but the worker answers its pings.
    with pytest.raises(ros.ObjectStoreError):
        ros.get_object("obj", stall_first.conf)  # the released handler closes without answering
    releaser.join()
    assert worker.alive
    assert lifetime.current_pool().connections == [worker]


def test_a_worker_that_never_says_hello_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rustyobjectstore._worker import connection as _connection

    monkeypatch.setattr(_connection, "HANDSHAKE_TIMEOUT", 0.5)
    fake = _script(tmp_path, "import sys\nsys.stdin.buffer.read()\n")
    with pytest.raises(ros.WorkerCrashedError, match="no handshake"):
        Connection(StaticConfig(n_workers=1, worker_path=fake))
