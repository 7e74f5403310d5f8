"""The connection: one worker, its arena, and the table from request id to future.

Every request gets a ``Call``, a ``concurrent.futures.Future`` that is already running, so only a
response or the worker's death resolves it: nothing else can cancel it while the worker may still write
its region. A caller that stops waiting (cancelled, past its deadline, interrupted) ``give_up``s the call:
the worker is told to stop, and the call's region stays reserved until the worker's answer arrives.
"""

from __future__ import annotations

import errno
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures._base import FINISHED, RUNNING
from typing import Any

from rustyobjectstore._errors import (
    WAIT_TIMEOUTS,
    ObjectStoreError,
    PermissionDeniedError,
    ProtocolError,
    WorkerCrashedError,
    WorkerProtocolError,
    error_from_wire,
)
from rustyobjectstore._version import __version__
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.arena import Arena
from rustyobjectstore._worker.binary import find_worker, foreign_binary, start_hint
from rustyobjectstore._worker.codec import (
    PROTOCOL_VERSION,
    FrameError,
    Message,
    Region,
    encode_frame,
    register,
)
from rustyobjectstore._worker.metrics import SlotCounters
from rustyobjectstore._worker.settings import StaticConfig
from rustyobjectstore._worker.spec import CredentialSource, StoreSpec
from rustyobjectstore._worker.steps import deferring
from rustyobjectstore._worker.transport import Closed, Transport

HANDSHAKE_TIMEOUT = 30.0

TransportFactory = Callable[
    [Sequence[str], Sequence[int], Callable[[Message], None], Callable[[Closed], None]], Transport
]
"""What starts a worker: ``Transport`` itself, or an in-process fake in the tests."""


class _Condition:
    """What a ``Future`` asks of its condition, at a fraction of ``threading.Condition``'s cost
    (making one per call was about a tenth of an asyncio call's time): a plain lock, and the
    condition proper only once a thread waits. Waiting and notifying both hold the lock."""

    __slots__ = ("_lock", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: threading.Condition | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        if self._waiting is None:
            self._waiting = threading.Condition(self._lock)
        return self._waiting.wait(timeout)

    def notify_all(self) -> None:
        if self._waiting is not None:
            self._waiting.notify_all()


class Call(Future[Message]):
    """The future of one request, knowing its id so that it can be cancelled. A thread that waits
    for its result reads the answer itself when nobody else is reading (``Transport.lead``)."""

    def __init__(self, request_id: int, lead: Callable[[Call, float | None], None]) -> None:
        # Future.__init__'s fields, with the cheap condition, already running (never cancelled).
        self._condition = _Condition()  # type: ignore[assignment]
        self._state = RUNNING
        self._result = None
        self._exception = None
        self._waiters = []
        self._done_callbacks: list[Callable[[Future[Message]], object]] = []
        self.request_id = request_id
        self._lead = lead

    # A call is never cancelled (its future is running from the start), so it is done exactly when
    # finished; `set_result`/`set_exception` write the outcome before the state, so once the state
    # reads FINISHED the outcome is there, without taking the lock (done() is asked several times
    # per call).
    def done(self) -> bool:
        return self._state == FINISHED

    def result(self, timeout: float | None = None) -> Message:
        if self._state != FINISHED:
            until = None if timeout is None else time.monotonic() + timeout
            self._lead(self, timeout)
            if until is not None:
                timeout = max(0.0, until - time.monotonic())
            if self._state != FINISHED:
                return super().result(timeout)
        exception = self._exception
        if exception is not None:
            try:
                raise exception
            finally:
                # As Future does: the traceback's frame must not keep the call, and so the error
                # itself, alive in a cycle.
                del self, exception
        return self._result  # type: ignore[return-value]


class _Pending:
    __slots__ = ("future", "op", "path", "provider", "signed_with")

    def __init__(
        self,
        future: Call,
        op: str,
        path: str | None,
        provider: CredentialSource | None,
        signed_with: int,
    ) -> None:
        self.future = future
        self.op = op
        self.path = path
        # The credential provider of the request's store, and the version it was sent under.
        self.provider = provider
        self.signed_with = signed_with


class Connection:
    def __init__(
        self,
        settings: StaticConfig,
        counters: SlotCounters | None = None,
        transport: TransportFactory = Transport,
    ) -> None:
        self.counters = counters or SlotCounters()
        self.worker_path = find_worker(settings.worker_path)
        self.arena = Arena(settings.arena_size)
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._stores: dict[StoreSpec, int] = {}
        # Stores signed by a credential provider, and the newest version of each provider's
        # credentials this worker holds.
        self._store_providers: dict[int, CredentialSource] = {}
        self._held: dict[int, int] = {}
        self.last_heard = time.monotonic()
        self._ping: tuple[float, Future[Message]] | None = None
        self._hello: Future[Message] = Future()
        self._hello.set_running_or_notify_cancel()
        self._greeted = False  # `_hello.done()` without its lock, asked on every read
        self.closed: Closed | None = None
        argv = [
            self.worker_path,
            "--arena-fd",
            str(self.arena.fd),
            "--arena-size",
            str(settings.arena_size),
            "--concurrency",
            str(settings.concurrency_limit),
            "--cache-capacity",
            str(settings.cache_capacity),
            "--cache-ttl-secs",
            str(settings.cache_ttl_secs),
            "--cache-tti-secs",
            str(settings.cache_tti_secs),
        ]
        try:
            self.transport = transport(argv, [self.arena.fd], self._on_message, self._on_close)
        except BaseException as e:
            self.arena.close()
            if isinstance(e, OSError) and e.errno == errno.ENOEXEC:
                raise foreign_binary(self.worker_path) from None
            raise
        self.transport.wants_reader = self._owed
        try:
            try:
                hello = self._hello.result(timeout=HANDSHAKE_TIMEOUT)
            except WAIT_TIMEOUTS:
                raise WorkerCrashedError(
                    f"worker {self.worker_path} sent no handshake within {HANDSHAKE_TIMEOUT:g} s",
                    op="start",
                ) from None
            self.hello = self._check_hello(hello)
        except BaseException:
            self.close()
            raise

    def _check_hello(self, hello: Message) -> Message:
        if hello.get("t") != "hello" or hello.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolError(
                f"worker {self.worker_path} (version {hello.get('worker_version')!r}) speaks protocol "
                f"{hello.get('protocol')!r}; rustyobjectstore {__version__} speaks protocol "
                f"{PROTOCOL_VERSION}"
            )
        return hello

    @property
    def pid(self) -> int:
        return self.transport.pid

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        return self.closed is None

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def store_id(self, spec: StoreSpec) -> int:
        """The number ``spec`` is registered under on this worker, registering it on first use;
        a store signed by a credential provider gets the provider's current credentials first."""
        number = self._stores.get(spec)
        if number is None:
            number = self._register(spec)
        if spec.provider is not None:
            spec.provider.push(self)
        return number

    def spec_of(self, number: object) -> StoreSpec | None:
        """The spec registered under ``number`` on this worker, if any."""
        with self._lock:
            return next((spec for spec, n in self._stores.items() if n == number), None)

    def _register(self, spec: StoreSpec) -> int:
        with self._lock:
            number = self._stores.get(spec)
            if number is None:
                number = len(self._stores) + 1
                provider = spec.provider
                message = register(
                    number, spec.url, dict(spec.options), dict(spec.client), dict(spec.retry),
                    None if provider is None else provider.number,
                )  # fmt: skip
                try:
                    self._send(message)
                except OSError:
                    pass  # the worker is gone: the request that follows fails as crashed
                if provider is not None:
                    self._store_providers[number] = provider
                self._stores[spec] = number
        return number

    def invalidate(self, spec: StoreSpec | None) -> None:
        """Has the worker drop its built store of ``spec`` (every one when None), if it has one."""
        with self._lock:
            number = None if spec is None else self._stores.get(spec)
            if spec is not None and number is None:
                return  # never registered here: nothing built
            try:
                self._send(codec.invalidate(number))
            except OSError:
                pass  # the worker is gone, and its stores with it

    def hold_credentials(self, source: int, version: int, fields: dict[str, Any]) -> None:
        """Sends a credential source's credentials, unless the worker holds these or newer ones already."""
        if self._held.get(source, 0) >= version:
            return
        with self._lock:
            if self._held.get(source, 0) >= version:
                return
            try:
                self._send(codec.credentials(source, fields))
            except OSError:
                pass  # the worker is gone: the request that follows fails as crashed
            self._held[source] = version

    def _owed(self) -> bool:
        return bool(self._pending) or not self._greeted

    def _lead(self, call: Call, timeout: float | None) -> None:
        lead = getattr(self.transport, "lead", None)
        if lead is not None:
            lead(call.done, timeout)

    def _expect(self) -> None:
        expect = getattr(self.transport, "expect", None)
        if expect is not None:
            expect()

    def request(
        self, message: Message, op: str, path: str | None, *, awaited: bool = False
    ) -> Call:
        """Sends ``message`` with a fresh id; the call resolves with the response map, or fails with
        the error it carries, or with ``WorkerCrashedError`` if the worker dies first. ``awaited``:
        the caller waits for this call's result next (and so reads its answer if nobody else is)."""
        request_id = next(self._ids)
        future = Call(request_id, self._lead)
        message["id"] = request_id
        try:
            frame = encode_frame(message)
        except FrameError as exc:
            # Over the limit: refused here, before anything is owed.
            raise ProtocolError(f"the request cannot be sent: {exc}", op=op, path=path) from None
        with self._lock:
            if self.closed is not None:
                future.set_exception(self._crashed(op, path))
                return future
            store = message.get("store") if self._store_providers else None
            provider = self._store_providers.get(store) if isinstance(store, int) else None
            signed_with = 0 if provider is None else self._held.get(provider.number, 0)
            self._pending[request_id] = _Pending(future, op, path, provider, signed_with)
        self.counters.sent(message["op"], message.get("region"))
        try:
            bridge = deferring()
            if bridge is None:
                self.transport.send(frame)
            else:
                self.transport.queue(frame)
                bridge.defer(self.transport)
        except OSError:
            # The reader will see the death and fail every pending call, this one included.
            pass
        if bridge is not None or not awaited:
            self._expect()
        return future

    def give_up(self, call: Call, region: Region | None = None) -> None:
        """Nobody waits for ``call`` any more: asks the worker to stop it, and gives ``region`` (the
        memory the request names) back only once the worker has answered or died."""
        if region is not None:
            self.arena.release_after(call, region)
        if call.done():
            return
        self._expect()  # its answer is still owed, and its caller no longer reads it
        try:
            # After any frame still held for this loop turn, so the request is never behind it.
            self._send(codec.cancel(call.request_id))
        except OSError:
            pass  # the worker is gone: its death resolves the call

    def _send(self, message: Message) -> None:
        self.transport.send(encode_frame(message))

    def _on_message(self, message: Message) -> None:
        self.last_heard = time.monotonic()
        if not self._greeted:
            self._greeted = True
            self._hello.set_result(message)
            return
        request_id = message.get("id")
        with self._lock:
            pending = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if pending is None:
            # id 0 is the worker's farewell protocol error (its exit fails the calls); any other is
            # an answer nobody waits for any more: dropped on purpose.
            return
        if message.get("ok") is True:
            self.counters.received(message.get("written"))
            pending.future.set_result(message)
        else:
            error = error_from_wire(message.get("error"), pending.op, pending.path)
            if pending.provider is not None and isinstance(error, PermissionDeniedError):
                pending.provider.refused(pending.signed_with)
                error.stale_credentials = True
            self.counters.failed(error.kind)
            pending.future.set_exception(error)

    def check_stalled(self, stall: float) -> None:
        """Called by the pool's watchdog: pings a worker that owes answers and has been silent for
        ``stall`` seconds, and kills it if the ping goes unanswered as long."""
        now = time.monotonic()
        if self.closed is not None or not self._pending:
            self._ping = None
            return
        if self._ping is not None:
            sent_at, answer = self._ping
            if answer.done():
                self._ping = None
            elif now - sent_at >= stall:
                self.transport.kill(f"it answered nothing, not even a ping, for {2 * stall:g} s")
            return
        if now - self.last_heard >= stall:
            self._ping = (now, self.request(codec.ping(), "ping", None))

    def _crashed(self, op: str, path: str | None) -> ObjectStoreError:
        closed = self.closed
        detail = closed.describe() if closed else "the worker is gone"
        cls = WorkerProtocolError if closed and closed.protocol_error else WorkerCrashedError
        return cls(detail, op=op, path=path)

    def _on_close(self, closed: Closed) -> None:
        with self._lock:
            self.closed = closed
            pending, self._pending = self._pending, {}
        if not self._hello.done():
            why = closed.describe()
            self._hello.set_exception(
                WorkerCrashedError(
                    f"worker {self.worker_path} failed to start: {why}{start_hint(why)}",
                    op="start",
                )
            )
        if pending:
            self.counters.failed("worker_crashed", len(pending))
        for call in pending.values():
            call.future.set_exception(self._crashed(call.op, call.path))

    def close(self) -> None:
        self.transport.close()
        self.arena.close()

    def abandon(self) -> None:
        """In a forked child: let go of the parent's worker without talking to it."""
        self.transport.abandon()
        self.arena.abandon()


def response_field(response: Message, name: str) -> Any:
    if name not in response:
        raise ProtocolError(f"response lacks {name!r}: {sorted(response)}")
    return response[name]
