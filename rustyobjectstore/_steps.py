"""Drivers for operations written once as generators.

An operation is a generator that yields futures (or lists of futures, to wait for all of them) and is
sent their results; exceptions are thrown into it at the yield. ``run_sync`` drives it on the calling
thread, ``run_async`` on an asyncio loop, so the sync and async twins share every line of logic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from concurrent.futures import Future
from concurrent.futures import wait as wait_all
from typing import Any, TypeVar, Union

T = TypeVar("T")
Awaited = Union["Future[Any]", "list[Future[Any]]"]
Step = Generator[Awaited, Any, T]


def _first_error(futures: list[Future[Any]]) -> list[Any]:
    for future in futures:
        exc = future.exception()
        if exc is not None:
            raise exc
    return [future.result() for future in futures]


def run_sync(step: Step[T]) -> T:
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
            if isinstance(awaited, list):
                wait_all(awaited)
                value = _first_error(awaited)
            else:
                value = awaited.result()
        except BaseException as exc:  # thrown into the step, which cleans up and re-raises
            error = exc


async def run_async(step: Step[T]) -> T:
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
            if isinstance(awaited, list):
                await asyncio.wait([asyncio.wrap_future(f) for f in awaited])
                value = _first_error(awaited)
            else:
                value = await asyncio.wrap_future(awaited)
        except BaseException as exc:  # CancelledError too: the step releases what it holds
            error = exc
