"""Drivers for operations written once as generators.

An operation is a generator that yields futures (or lists of futures, to wait for all of them) and is
sent their results; exceptions are thrown into it at the yield. ``run_sync`` drives it on the calling
thread, ``run_async`` on an asyncio loop, so the sync and async twins share every line of logic.

Both drivers keep the call's deadline: the innermost ``deadline()`` block around the call, or else
``StaticConfig.call_timeout_secs`` from the call's start. When it passes, ``DeadlineExceededError`` is
thrown into the step at its yield, like a cancellation, and the step gives up what it waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from concurrent.futures import Future
from concurrent.futures import wait as wait_all
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol, TypeVar, Union

from rustyobjectstore._errors import WAIT_TIMEOUTS, DeadlineExceededError
from rustyobjectstore._worker.finalizers import run_queued

T = TypeVar("T")
Awaited = Union["Future[Any]", "list[Future[Any]]"]
Step = Generator[Awaited, Any, T]


def _first_error(futures: list[Future[Any]]) -> list[Any]:
    for future in futures:
        exc = future.exception()
        if exc is not None:
            raise exc
    return [future.result() for future in futures]


class Deadline(NamedTuple):
    at: float  # time.monotonic()
    seconds: float

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"the call did not finish within its {self.seconds:g} s deadline"
        )


_deadline: ContextVar[Deadline | None] = ContextVar("rustyobjectstore_deadline", default=None)
default_timeout: float | None = None
"""``StaticConfig.call_timeout_secs`` of the running pool, which sets it."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every call made in the block (on this thread, or in this asyncio task) must finish within
    ``seconds`` of entering it, or raise ``DeadlineExceededError``; its worker is told to stop the
    requests it was waiting for. Blocks nest: the earlier deadline wins:
    ``with deadline(5): data = get_object("a.csv", conf)``."""
    if not seconds > 0:
        raise ValueError(f"a deadline must be a positive number of seconds, got {seconds!r}")
    mine = Deadline(time.monotonic() + seconds, seconds)
    outer = _deadline.get()
    token = _deadline.set(mine if outer is None or mine.at < outer.at else outer)
    try:
        yield
    finally:
        _deadline.reset(token)


def _call_deadline() -> Deadline | None:
    set_by_block = _deadline.get()
    if set_by_block is not None or default_timeout is None:
        return set_by_block
    return Deadline(time.monotonic() + default_timeout, default_timeout)


def _wait_sync(awaited: Awaited, limit: Deadline | None) -> Any:
    timeout = None if limit is None else limit.left()
    if isinstance(awaited, list):
        _, not_done = wait_all(awaited, timeout=timeout)
        if not_done:
            raise (
                limit.expired() if limit else AssertionError("wait without timeout returned early")
            )
        return _first_error(awaited)
    try:
        return awaited.result(timeout=timeout)
    except WAIT_TIMEOUTS:
        if limit is None:
            raise  # the operation's own timeout error
        if awaited.done():  # its own timeout error, or an answer that came just as time ran out
            return awaited.result()
        raise limit.expired() from None


def run_sync(step: Step[T]) -> T:
    run_queued()
    limit = _call_deadline()
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            awaited = step.send(value) if error is None else step.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            value = _wait_sync(awaited, limit)
        except BaseException as exc:  # thrown into the step, which cleans up and re-raises
            error = exc


class Flushable(Protocol):
    def flush(self) -> None: ...


class _LoopBridge:
    """Batches both ways between one event loop and the workers.

    In: finished futures reach the loop in batches: the first completion of a burst wakes the loop
    once, and that wake-up resolves every completion queued by then (``asyncio.wrap_future`` would
    wake it once per response).
    Out: frames that the loop's tasks send during one turn of the loop are held and written together
    at the start of the next turn, one write per worker instead of one per request.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the bridges map loops weakly to bridges, which must not keep them alive.
        self._loop = weakref.ref(loop)
        self._lock = threading.Lock()
        self._ready: list[tuple[Future[Any], asyncio.Future[Any]]] = []
        self._dirty: set[Flushable] = set()

    def defer(self, transport: Flushable) -> None:
        if not self._dirty:
            self._running_loop().call_soon(self._flush)
        self._dirty.add(transport)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop, from code running on it (so it is alive)."""
        loop = self._loop()
        assert loop is not None
        return loop

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for transport in dirty:
            transport.flush()

    def wrap(self, future: Future[Any]) -> asyncio.Future[Any]:
        waiter = self._running_loop().create_future()
        future.add_done_callback(lambda done: self._finished(done, waiter))
        return waiter

    def _finished(self, done: Future[Any], waiter: asyncio.Future[Any]) -> None:
        with self._lock:
            self._ready.append((done, waiter))
            first = len(self._ready) == 1
        if first:
            loop = self._loop()
            if loop is not None:  # else the loop is gone, and nobody waits
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                    loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
        for done, waiter in ready:
            if waiter.cancelled():
                continue
            exc = done.exception()
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(done.result())


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBridge] = (
    weakref.WeakKeyDictionary()
)


def _bridge() -> _LoopBridge:
    loop = asyncio.get_running_loop()
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _bridges[loop] = _LoopBridge(loop)
    return bridge


_stepping = threading.local()


def deferring() -> _LoopBridge | None:
    """The loop bridge whose step is running on this thread right now, if any: its requests may be
    held until the end of the loop's turn."""
    bridge: _LoopBridge | None = getattr(_stepping, "bridge", None)
    return bridge


async def _wait_async(bridge: _LoopBridge, awaited: Awaited, limit: Deadline | None) -> Any:
    timeout = None if limit is None else limit.left()
    if isinstance(awaited, list):
        _, not_done = await asyncio.wait([bridge.wrap(f) for f in awaited], timeout=timeout)
        if not_done and limit is not None:
            raise limit.expired()
        return _first_error(awaited)
    if awaited.done():
        return awaited.result()  # no trip through the loop for what is already there
    if limit is None:
        return await bridge.wrap(awaited)
    try:
        return await asyncio.wait_for(bridge.wrap(awaited), timeout)
    except WAIT_TIMEOUTS:
        if awaited.done():  # its own timeout error, or an answer that came just as time ran out
            return awaited.result()
        raise limit.expired() from None


async def run_async(step: Step[T]) -> T:
    run_queued()
    bridge = _bridge()
    limit = _call_deadline()
    value: Any = None
    error: BaseException | None = None
    while True:
        _stepping.bridge = bridge
        try:
            awaited = step.send(value) if error is None else step.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            _stepping.bridge = None
        value, error = None, None
        try:
            value = await _wait_async(bridge, awaited, limit)
        except BaseException as exc:  # CancelledError too: the step releases what it holds
            error = exc
