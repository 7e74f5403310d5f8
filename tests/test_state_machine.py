"""A state machine over submit / reply / error / cancel / crash / respawn, against an in-process fake
worker that plays the worker's side of the protocol frame by frame: every call resolves exactly once,
a given-up region comes back only with its request's answer or the worker's death, and a cancel is
sent once per give_up, only for a request still in flight."""

from __future__ import annotations

import asyncio
import concurrent.futures
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rustyobjectstore._config import StaticConfig
from rustyobjectstore._errors import (
    ERROR_CLASSES,
    CancelledByCallerError,
    DeadlineExceededError,
    ObjectStoreError,
    ProtocolError,
    UnknownError,
    WorkerCrashedError,
    WorkerProtocolError,
)
from rustyobjectstore._ops.calls import call
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import MAX_FRAME, FrameDecoder, FrameError, Message, Region
from rustyobjectstore._worker.connection import Call, Connection
from rustyobjectstore._worker.steps import Awaited, Step, T, deadline, run_async, run_sync
from rustyobjectstore._worker.transport import Closed, Transport

MiB = 1024 * 1024
# worker_path only has to name an executable: the fake stands where the process would.
SETTINGS = StaticConfig(n_workers=1, worker_path=sys.executable, arena_size=20 * MiB)
WAIT = 5.0  # seconds a thread or task may take to react; only reached when something is wrong
# How a request is made and waited for: Connection.request alone; call() driven by hand; run_sync on
# a thread, without a deadline or with one that passes before any answer; run_async on a loop.
KINDS = ["raw", "step", "thread", "deadline", "async"]
WIRE_KINDS = [kind for kind in ERROR_CLASSES if kind not in ("deadline", "buffer_too_small")]


def aligned(region: Region) -> int:
    return (region[1] + 63) // 64 * 64


class FakeWorker(Transport):
    """Stands where ``Transport`` stands: what the connection writes is decoded frame by frame, and
    what the test makes the worker say goes through a frame decoder the way the reader thread's
    does (a bad frame kills the worker, reported as a protocol error). No process."""

    def __init__(
        self,
        argv: Sequence[str],
        pass_fds: Sequence[int],
        on_message: Callable[[Message], None],
        on_close: Callable[[Closed], None],
        hello: Message | None = None,
    ) -> None:
        self.argv = list(argv)
        self.pass_fds = list(pass_fds)
        self._fake_deliver = on_message
        self._fake_end = on_close
        self._fake_guard = threading.Condition()
        self._fake_frames_in = FrameDecoder()
        self._fake_frames_out = FrameDecoder()
        self._fake_on_hold: list[bytes] = []
        self.requests: dict[int, Message] = {}
        self.cancels: list[int] = []
        self.registers: list[Message] = []
        self.dead: Closed | None = None
        if hello is None:
            hello = {
                "t": "hello",
                "protocol": codec.PROTOCOL_VERSION,
                "worker_version": "0.1.0",
                "max_frame": MAX_FRAME,
                "arena_size": int(self.argv[self.argv.index("--arena-size") + 1]),
                "concurrency": int(self.argv[self.argv.index("--concurrency") + 1]),
                "features": ["memory"],
            }
        self.emit(codec.encode_frame(hello))

    @property
    def pid(self) -> int:
        return 0

    # The connection's side.

    def queue(self, frame: bytes) -> None:
        with self._fake_guard:
            self._fake_on_hold.append(frame)

    def flush(self) -> None:
        try:
            self.send(b"")
        except OSError:
            pass

    def send(self, frames: bytes) -> None:
        with self._fake_guard:
            if self._fake_on_hold:
                frames = b"".join([*self._fake_on_hold, frames])
                self._fake_on_hold.clear()
            if self.dead is not None:
                raise BrokenPipeError("the fake worker is gone")
            for message in self._fake_frames_in.feed(frames):
                op = message["op"]
                if op == "cancel":
                    self.cancels.append(message["target"])
                elif op == "register":
                    self.registers.append(message)
                else:
                    request_id = message["id"]
                    assert request_id not in self.requests, f"id {request_id} sent twice"
                    self.requests[request_id] = message
            assert self._fake_frames_in.pending == 0, "a frame was written in pieces"
            self._fake_guard.notify_all()

    def expect(self) -> None:
        pass  # the test reads for everyone: it decides when each answer arrives

    def lead(self, done: Callable[[], bool], timeout: float | None = None) -> None:
        pass  # someone else (the test) is reading: the caller just waits for its future

    def kill(self, reason: str) -> None:
        self._fake_die(Closed(-9, "", reason))

    def abandon(self) -> None:
        self.dead = self.dead or Closed(-1, "", "abandoned")

    def close(self, timeout: float = 5.0) -> None:
        self._fake_die(Closed(0, "", "shut down before it answered"))

    # The test's side: the worker speaks, or dies.

    def wait_for_request(self, request_id: int) -> Message:
        with self._fake_guard:
            assert self._fake_guard.wait_for(lambda: request_id in self.requests, timeout=WAIT), (
                f"request {request_id} never reached the worker"
            )
            return self.requests[request_id]

    def emit(self, data: bytes) -> None:
        assert self.dead is None, "a dead worker says nothing"
        try:
            messages = self._fake_frames_out.feed(data)
        except FrameError as exc:
            self._fake_die(
                Closed(-9, "", f"protocol error in its output: {exc}", protocol_error=True)
            )
            return
        for message in messages:
            self._fake_deliver(message)

    def crash(self) -> None:
        self._fake_die(Closed(-9, "", "killed by the test"))

    def _fake_die(self, closed: Closed) -> None:
        with self._fake_guard:
            if self.dead is not None:
                return
            self.dead = closed
        self._fake_end(closed)


def observed(step: Step[T], seen: Callable[[Awaited], None]) -> Step[T]:
    """``step`` unchanged, but every future it waits for is shown to ``seen`` first."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            awaited = step.send(value) if error is None else step.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        seen(awaited)
        value, error = None, None
        try:
            value = yield awaited
        except BaseException as exc:
            error = exc


def settle_into(outcome: Future[Message], work: Callable[[], Message]) -> None:
    try:
        outcome.set_result(work())
    except BaseException as exc:  # CancelledError too: it is what the caller saw
        outcome.set_exception(exc)


def hurried(step: Step[Message]) -> Message:
    with deadline(0.001):
        return run_sync(step)


async def settle_async(outcome: Future[Message], step: Step[Message]) -> None:
    try:
        outcome.set_result(await run_async(step))
    except BaseException as exc:
        outcome.set_exception(exc)


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def start(self, outcome: Future[Message], step: Step[Message]) -> asyncio.Task[None]:
        async def create() -> asyncio.Task[None]:
            return asyncio.get_running_loop().create_task(settle_async(outcome, step))

        return asyncio.run_coroutine_threadsafe(create(), self.loop).result(WAIT)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        self.loop.close()


@dataclass(eq=False)
class Tracked:
    call: Call
    kind: str
    conn: Connection
    op: str
    path: str | None
    region: Region | None
    outcome: Future[Message]  # what the caller saw: the step's result or error
    step: Step[Message] | None = None
    task: asyncio.Task[None] | None = None
    thread: threading.Thread | None = None
    fired: int = 0  # done-callbacks run
    given_up: bool = False
    resolved: bool = False  # its answer arrived, or its worker died
    outcome_seen: bool = False


class CallsResolveOnce(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.conn = Connection(SETTINGS, transport=FakeWorker)
        self.generation: list[Connection] = [self.conn]
        self.tracked: list[Tracked] = []
        self.held: list[Region] = []  # regions of the current arena not given back yet
        self.expected_cancels: list[int] = []
        self.loop: LoopThread | None = None

    @property
    def fake(self) -> FakeWorker:
        assert isinstance(self.conn.transport, FakeWorker)
        return self.conn.transport

    def unresolved(self) -> list[Tracked]:
        return [t for t in self.tracked if not t.resolved and t.conn is self.conn]

    def cancellable(self) -> list[Tracked]:
        return [
            t for t in self.unresolved() if not t.given_up and t.kind not in ("thread", "deadline")
        ]

    # Resolution: the call's future, then what its caller saw, then its region.

    def death_class(self) -> type[WorkerCrashedError]:
        closed = self.conn.closed
        assert closed is not None
        return WorkerProtocolError if closed.protocol_error else WorkerCrashedError

    def resolved(self, t: Tracked, expect: Message | type[BaseException]) -> None:
        assert t.call.done(), f"request {t.call.request_id} still pending after its answer"
        assert t.fired == 1, f"request {t.call.request_id} resolved {t.fired} times"
        t.resolved = True
        if isinstance(expect, dict):
            assert t.call.exception() is None
            assert t.call.result() is expect or t.call.result() == expect
        else:
            assert type(t.call.exception()) is expect, (t.call.exception(), expect)
        if t.given_up:
            if t.region is not None:
                self.held.remove(t.region)  # the library gave it back, now and not before
            return
        self.see_outcome(t)

    def see_outcome(self, t: Tracked) -> None:
        """What the caller saw is what the call resolved with, and the region goes back."""
        if t.kind == "step":
            assert t.step is not None
            error = t.call.exception()
            settle_into(
                t.outcome,
                lambda: self.drive(t.step, t.call.result() if error is None else None, error),
            )
        elif t.kind == "thread":
            assert t.thread is not None
            t.thread.join(WAIT)
            assert not t.thread.is_alive()
        t.outcome_seen = True
        error = t.call.exception()
        if t.kind == "raw":
            settle_into(t.outcome, t.call.result)  # a bare request: its caller reads the call
            if t.region is not None:
                # Given up after the fact: no cancel goes out, and the region comes back at once.
                if t.call.request_id % 2:
                    self.conn.arena.release(t.region)
                else:
                    t.conn.give_up(t.call, t.region)
                self.held.remove(t.region)
            return
        t.outcome.exception(WAIT)  # the async task or thread settles it
        if error is None:
            assert t.outcome.result() is t.call.result()
            if t.region is not None:
                t.conn.arena.release(t.region)
                self.held.remove(t.region)
        else:
            assert t.outcome.exception() is error
            if t.region is not None:
                self.held.remove(t.region)  # call() gave it back on the way out

    @staticmethod
    def drive(
        step: Step[Message] | None, value: Message | None, error: BaseException | None
    ) -> Message:
        """One turn of ``run_sync``, by hand."""
        assert step is not None
        try:
            step.send(value) if error is None else step.throw(error)
        except StopIteration as stop:
            result: Message = stop.value
            return result
        raise AssertionError("call() waited twice")

    # Submitting.

    def track(self, t: Tracked) -> None:
        def fired(_: Future[Message]) -> None:
            t.fired += 1

        t.call.add_done_callback(fired)
        self.tracked.append(t)
        if t.region is not None:
            self.held.append(t.region)
        if self.conn.closed is None:
            sent = self.fake.wait_for_request(t.call.request_id)
            assert sent["op"] == t.op
            assert sent.get("region") == (list(t.region) if t.region else None)
        else:
            self.resolved(t, self.death_class())

    def message(self, size: int | None) -> tuple[Message, str, str | None, Region | None]:
        if size is None:
            return codec.path_op("head", 1, "a/b"), "head", "a/b", None
        region = self.conn.arena.allocate(size).result(0)
        return codec.get(1, "a/b", region, whole=True), "get", "a/b", region

    @rule(
        kind=st.sampled_from(KINDS),
        size=st.none() | st.integers(min_value=1, max_value=5000),
    )
    def submit(self, kind: str, size: int | None) -> None:
        try:
            message, op, path, region = self.message(size)
        except WorkerCrashedError:
            # A shut-down connection's arena, once nothing is lent from it, is gone.
            assert self.conn.closed is not None and not self.held
            return
        outcome: Future[Message] = Future()
        seen: Future[Awaited] = Future()
        if kind == "raw":
            t = Tracked(
                self.conn.request(message, op, path), kind, self.conn, op, path, region, outcome
            )
        elif kind == "step":
            step = call(self.conn, message, op, path, region)
            first = next(step)
            assert isinstance(first, Call)
            t = Tracked(first, kind, self.conn, op, path, region, outcome, step=step)
        else:
            step = observed(call(self.conn, message, op, path, region), seen.set_result)
            thread: threading.Thread | None = None
            task: asyncio.Task[None] | None = None
            if kind == "async":
                if self.loop is None:
                    self.loop = LoopThread()
                task = self.loop.start(outcome, step)
            else:
                wait = run_sync if kind == "thread" else hurried
                thread = threading.Thread(target=settle_into, args=(outcome, lambda: wait(step)))
                thread.start()
            first = seen.result(WAIT)
            assert isinstance(first, Call)
            t = Tracked(first, kind, self.conn, op, path, region, outcome, task=task, thread=thread)
            if kind == "deadline":
                # Nobody answers meanwhile: the deadline passes and the step gives up.
                assert thread is not None
                thread.join(WAIT)
                assert not thread.is_alive()
                if self.conn.closed is None:
                    error = outcome.exception(0)
                    assert isinstance(error, DeadlineExceededError)
                    assert (error.op, error.path) == (op, path)
                    t.given_up = t.outcome_seen = True
                    self.expected_cancels.append(first.request_id)
        self.track(t)

    # The caller stops waiting.

    @precondition(lambda self: bool(self.cancellable()))
    @rule(pick=st.integers(min_value=0), how=st.sampled_from(["cancelled", "deadline"]))
    def give_up(self, pick: int, how: str) -> None:
        candidates = self.cancellable()
        t = candidates[pick % len(candidates)]
        if t.kind == "raw":
            t.conn.give_up(t.call, t.region)
            t.outcome.set_exception(asyncio.CancelledError())  # its caller walked away
        elif t.kind == "step":
            thrown: BaseException = (
                asyncio.CancelledError() if how == "cancelled" else DeadlineExceededError("late")
            )
            settle_into(t.outcome, lambda: self.drive(t.step, None, thrown))
            assert t.outcome.exception(0) is thrown
            if isinstance(thrown, DeadlineExceededError):
                assert (thrown.op, thrown.path) == (t.op, t.path)
        else:
            assert self.loop is not None and t.task is not None
            self.loop.loop.call_soon_threadsafe(t.task.cancel)
            assert isinstance(t.outcome.exception(WAIT), asyncio.CancelledError)
        t.given_up = t.outcome_seen = True
        self.expected_cancels.append(t.call.request_id)
        assert not t.call.done(), "giving up resolved the call before the worker answered"

    @precondition(
        lambda self: bool([t for t in self.unresolved() if t.given_up and t.kind == "raw"])
    )
    @rule(pick=st.integers(min_value=0))
    def give_up_again(self, pick: int) -> None:
        candidates = [t for t in self.unresolved() if t.given_up and t.kind == "raw"]
        t = candidates[pick % len(candidates)]
        t.conn.give_up(t.call)
        self.expected_cancels.append(t.call.request_id)

    # The worker answers.

    def answer(self, t: Tracked, response: Message, cut: int) -> None:
        frame = codec.encode_frame(response)
        cut = cut % len(frame)
        if cut:
            self.fake.emit(frame[:cut])
            assert not t.call.done(), "resolved by half a frame"
        self.fake.emit(frame[cut:])

    @precondition(lambda self: bool(self.unresolved()))
    @rule(pick=st.integers(min_value=0), cut=st.integers(min_value=0), written=st.integers(0, 99))
    def reply_ok(self, pick: int, cut: int, written: int) -> None:
        candidates = self.unresolved()
        t = candidates[pick % len(candidates)]
        response: Message = {
            "id": t.call.request_id,
            "ok": True,
            "written": written,
            "size": written,
        }
        self.answer(t, response, cut)
        self.resolved(t, response)

    @precondition(lambda self: bool(self.unresolved()))
    @rule(
        pick=st.integers(min_value=0),
        cut=st.integers(min_value=0),
        error=st.builds(
            lambda kind, status: {"kind": kind, "message": "no", "status": status},
            st.sampled_from([*WIRE_KINDS, "no_such_kind"]),
            st.none() | st.integers(400, 599),
        )
        | st.sampled_from(["not a map", None, 7]),
    )
    def reply_error(self, pick: int, cut: int, error: object) -> None:
        candidates = self.unresolved()
        t = candidates[pick % len(candidates)]
        expect: type[ObjectStoreError]
        if isinstance(error, dict):
            expect = ERROR_CLASSES.get(error["kind"], UnknownError)
        else:
            expect = ProtocolError
        self.answer(t, {"id": t.call.request_id, "ok": False, "error": error}, cut)
        self.resolved(t, expect)
        failure = t.call.exception()
        assert isinstance(failure, ObjectStoreError)
        assert (failure.op, failure.path) == (t.op, t.path)

    @precondition(lambda self: bool([t for t in self.unresolved() if t.given_up]))
    @rule(pick=st.integers(min_value=0))
    def acknowledge_cancel(self, pick: int) -> None:
        candidates = [t for t in self.unresolved() if t.given_up]
        t = candidates[pick % len(candidates)]
        error = {"kind": "cancelled", "message": "cancelled by the caller"}
        self.answer(t, {"id": t.call.request_id, "ok": False, "error": error}, 0)
        self.resolved(t, CancelledByCallerError)

    @precondition(
        lambda self: self.conn.closed is None and any(t.conn is self.conn for t in self.tracked)
    )
    @rule(
        which=st.sampled_from(["never issued", "answered", "zero", "text", "none"]),
        ok=st.booleans(),
    )
    def reply_to_nobody(self, which: str, ok: bool) -> None:
        answered = [t.call.request_id for t in self.tracked if t.conn is self.conn and t.resolved]
        stray: object = {
            "never issued": 10**9,
            "answered": answered[-1] if answered else 10**9 + 1,
            "zero": 0,
            "text": "1",
            "none": None,
        }[which]
        response: Message = {"ok": ok, "id": stray}
        if not ok:
            response["error"] = {"kind": "protocol", "message": "a stray"}
        before = [(t.fired, t.call.done()) for t in self.tracked]
        self.fake.emit(codec.encode_frame(response))
        assert [(t.fired, t.call.done()) for t in self.tracked] == before
        assert self.conn.closed is None

    # The worker dies.

    def died(self, expect: type[WorkerCrashedError]) -> None:
        assert self.conn.closed is not None
        assert self.death_class() is expect
        assert self.conn.in_flight == 0
        for t in self.unresolved():
            self.resolved(t, expect)

    @precondition(lambda self: self.conn.closed is None)
    @rule(
        how=st.sampled_from(["crash", "garbage", "shutdown"]),
        garbage=st.sampled_from(
            [
                struct.pack(">I", 0),
                struct.pack(">I", MAX_FRAME + 1),
                struct.pack(">I", 3) + b"\xc1\xc1\xc1",
                struct.pack(">I", 2) + b"\x80\x01",  # a map, then a stray byte
                struct.pack(">I", 3) + msgpack.packb([1, 2]),
                struct.pack(">I", 1) + msgpack.packb(7),
            ]
        ),
        answer_first=st.booleans(),
    )
    def die(self, how: str, garbage: bytes, answer_first: bool) -> None:
        """The worker is killed, or writes a bad frame (which kills it: even an answer in the same
        read is not trusted), or the connection is shut down with calls in flight."""
        if how == "crash":
            self.fake.crash()
            self.died(WorkerCrashedError)
        elif how == "garbage":
            pending = self.unresolved()
            if answer_first and pending:
                answer = {"id": pending[0].call.request_id, "ok": True}
                garbage = codec.encode_frame(answer) + garbage
            self.fake.emit(garbage)
            self.died(WorkerProtocolError)
        else:
            self.conn.close()
            self.died(WorkerCrashedError)

    @precondition(lambda self: self.conn.closed is not None)
    @rule()
    def respawn(self) -> None:
        """A fresh worker, as the pool starts one: nothing of the old one is owed any more."""
        old = self.conn
        assert not self.held, f"regions still held by a dead worker: {self.held}"
        assert old.arena.free_bytes == old.arena.size
        old.close()
        self.conn = Connection(SETTINGS, transport=FakeWorker)
        self.generation.append(self.conn)

    # What must hold after every step.

    @invariant()
    def each_call_resolves_once(self) -> None:
        for t in self.tracked:
            assert t.fired == (1 if t.call.done() else 0), (t.call.request_id, t.fired)
            assert t.call.done() == t.resolved, f"request {t.call.request_id}: done {t.call.done()}"
            assert not t.call.cancelled()
            if t.outcome_seen:
                assert t.outcome.done()

    @invariant()
    def in_flight_is_what_is_unanswered(self) -> None:
        assert self.conn.in_flight == len(self.unresolved())

    @invariant()
    def regions_come_back_only_with_their_answers(self) -> None:
        arena = self.conn.arena
        assert arena.free_bytes == arena.size - sum(aligned(region) for region in self.held)
        assert arena.free_bytes == sum(length for _, length in arena._free)  # the kept total

    @invariant()
    def cancels_once_per_give_up_while_pending(self) -> None:
        sent = [target for conn in self.generation for target in self.cancels_of(conn)]
        assert sent == self.expected_cancels

    @staticmethod
    def cancels_of(conn: Connection) -> list[int]:
        assert isinstance(conn.transport, FakeWorker)
        return conn.transport.cancels

    def teardown(self) -> None:
        try:
            if self.conn.closed is None:
                self.conn.close()
                self.died(WorkerCrashedError)
                assert not self.held
            for t in self.tracked:
                assert t.call.done() and t.fired == 1
                assert t.outcome.done(), f"the caller of {t.call.request_id} never heard"
        finally:
            self.conn.close()
            wait_all([t.outcome for t in self.tracked if t.kind in ("thread", "async")], WAIT)
            for t in self.tracked:
                if t.thread is not None:
                    t.thread.join(WAIT)
            if self.loop is not None:
                self.loop.stop()


CallsResolveOnce.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
TestCallsResolveOnce = CallsResolveOnce.TestCase


def test_a_fake_that_speaks_another_protocol_is_refused() -> None:
    def other(
        argv: Sequence[str],
        fds: Sequence[int],
        on_message: Callable[[Message], None],
        on_close: Callable[[Closed], None],
    ) -> FakeWorker:
        return FakeWorker(
            argv,
            fds,
            on_message,
            on_close,
            hello={"t": "hello", "protocol": codec.PROTOCOL_VERSION + 1},
        )

    with pytest.raises(ProtocolError, match=f"speaks protocol {codec.PROTOCOL_VERSION + 1}"):
        Connection(SETTINGS, transport=other)


def test_a_worker_that_dies_before_its_hello_fails_to_start() -> None:
    class Mute(FakeWorker):
        def emit(self, data: bytes) -> None:
            self.crash()

    with pytest.raises(WorkerCrashedError, match="failed to start"):
        Connection(SETTINGS, transport=Mute)


def test_the_fake_sees_each_request_once_and_a_crash_fails_them() -> None:
    conn = Connection(SETTINGS, transport=FakeWorker)
    fake = conn.transport
    assert isinstance(fake, FakeWorker)
    try:
        calls = [conn.request(codec.ping(), "ping", None) for _ in range(3)]
        assert sorted(fake.requests) == [c.request_id for c in calls]
        fake.emit(codec.encode_frame({"id": calls[1].request_id, "ok": True}))
        started = time.monotonic()
        fake.crash()
        assert calls[1].result(0) == {"id": calls[1].request_id, "ok": True}
        for c in (calls[0], calls[2]):
            assert type(c.exception(0)) is WorkerCrashedError
        assert time.monotonic() - started < WAIT
    finally:
        conn.close()


# Call is a Future with a cheaper condition: every way of waiting for one still works.


def _no_lead(call: Call, timeout: float | None) -> None:
    pass


def test_a_call_wakes_every_kind_of_waiter() -> None:
    calls = [Call(i, _no_lead) for i in range(3)]
    assert all(c.running() and not c.done() and not c.cancel() for c in calls)
    seen: list[object] = []
    calls[0].add_done_callback(lambda c: seen.append(c.result()))
    with pytest.raises(concurrent.futures.TimeoutError):  # the builtin one from Python 3.11
        calls[0].result(timeout=0.01)
    got: dict[str, object] = {}

    def waiters() -> None:
        got["result"] = calls[0].result(timeout=10)
        got["exception"] = calls[1].exception(timeout=10)
        done, _ = wait_all(calls, timeout=10)
        got["wait"] = len(done)

    threads = [threading.Thread(target=waiters) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)  # the waiters are blocked by now
    calls[0].set_result({"ok": True})
    calls[1].set_exception(UnknownError("boom"))
    calls[2].set_result({"ok": False})
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert got["result"] == {"ok": True} and isinstance(got["exception"], UnknownError)
    assert got["wait"] == 3 and seen == [{"ok": True}]
    # Asked again once done (no lock taken then): the same outcome, every time.
    for _ in range(2):
        assert calls[0].result(0) == {"ok": True}
        with pytest.raises(UnknownError, match="boom"):
            calls[1].result(0)
    late: list[object] = []
    calls[2].add_done_callback(late.append)  # already done: runs at once
    assert late == [calls[2]]
