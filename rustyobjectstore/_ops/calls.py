"""The plumbing every operation's steps share: the worker and store a call goes to, one request
and its answer, arena regions, and crash retries (``crash_retried``, which runs an operation again
on a fresh worker when its worker died under it).

Region rule: a region is released right after its response has been read, or, when the step is
abandoned with the request still in flight (cancelled, past its deadline, interrupted, or failed
elsewhere), the request is cancelled and its region released only once the worker has answered it
(``Connection.give_up``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sized
from typing import Concatenate, ParamSpec

from rustyobjectstore._auth.schemes import bucket_of
from rustyobjectstore._config import StoreConfig, _StoreConfig
from rustyobjectstore._errors import (
    DeadlineExceededError,
    NotFoundError,
    PermissionDeniedError,
    WorkerCrashedError,
)
from rustyobjectstore._worker.arena import Arena
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Connection
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.spec import StoreSpec
from rustyobjectstore._worker.steps import Step, T

P = ParamSpec("P")

# What a get's first part asks for once half the arena is taken: a gather of many small gets would
# otherwise hold the whole threshold (8 MiB) each for a round trip, and only a few dozen of them
# would be in flight per worker, however small the objects.
FIRST_PART_UNDER_PRESSURE = 1024 * 1024


def allocate(arena: Arena, length: int) -> Step[Region]:
    region_now = arena.take(length)  # the common case, without a future's cost
    if region_now is not None:
        return region_now
    future = arena.allocate(length)
    try:
        region: Region = yield future
    except BaseException:
        # Abandoned while waiting for room: give the region back whenever it is granted.
        future.add_done_callback(lambda f: arena.release(f.result()))
        raise
    return region


def room_for(
    arena: Arena, length: int, in_flight: Sized, take_oldest: Callable[[], Step[None]]
) -> Step[Region]:
    """A region for the next request of a step with requests of its own ``in_flight``, whose
    regions only it gives back, as it takes their answers: waiting for room then could wait
    forever, for room that is its own. While it holds any, it takes its oldest answer
    (``take_oldest``) until a region is free now; holding none, it waits its turn."""
    while in_flight:
        region = arena.take(length)
        if region is not None:
            return region
        yield from take_oldest()
    return (yield from allocate(arena, length))


def windowed(
    count: int,
    window: int,
    in_flight: Sized,
    send: Callable[[int], Step[None]],
    take_oldest: Callable[[], Step[None]],
) -> Step[None]:
    """Requests ``0`` to ``count - 1``, each made by ``send`` (which adds it to ``in_flight``), at
    most ``window`` in flight; ``take_oldest`` takes the oldest answer (and removes it). Every
    answer has been taken when it returns; on an error the caller gives up what is in flight."""
    for i in range(count):
        yield from send(i)
        while len(in_flight) >= window:
            yield from take_oldest()
    while in_flight:
        yield from take_oldest()


def allocate_first(arena: Arena, length: int) -> Step[Region]:
    """A region for a get's first part, before the object's size is known: ``length`` bytes while
    half the arena stays free besides, else ``FIRST_PART_UNDER_PRESSURE``. An object bigger than
    its region comes as ranged gets after it: a request more, only when many are in flight."""
    if arena.free_bytes - length < arena.size // 2:
        length = min(length, FIRST_PART_UNDER_PRESSURE)
    return (yield from allocate(arena, length))


def route(pool: Pool, conf: StoreConfig, *keys: str) -> Step[tuple[Connection, int]]:
    """The worker for a call on ``conf``, and the store's number on it. Arguments of the wrong type
    are a ``TypeError`` that says what was expected, before anything is sent (``get_object(conf,
    "key")`` has them the wrong way round). A credential provider due for new credentials is
    called on a thread while the step waits: an event loop driving the call is never blocked."""
    spec = checked(conf, *keys)
    if spec.provider is not None and spec.provider.due():
        yield spec.provider.refreshing()
    return pool.route(spec)


def route_now(pool: Pool, conf: StoreConfig, *keys: str) -> tuple[Connection, int]:
    """``route`` outside a step (a reader's blocks going to a fresh worker when theirs died):
    a due provider is called in place."""
    return pool.route(checked(conf, *keys))


def checked(conf: StoreConfig, *keys: str) -> StoreSpec:
    """``conf``'s spec, once the arguments are of the types a call takes."""
    if not isinstance(conf, _StoreConfig):
        raise TypeError(
            "expected a store configuration (Config, AWSConfig, AzureConfig or GCSConfig) after "
            f"the key, got {type(conf).__name__}; the key comes first: get_object(path, conf)"
        )
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"an object key must be a str, got {type(key).__name__}")
    return conf.spec()


def call(
    conn: Connection, message: Message, op: str, path: str | None, region: Region | None = None
) -> Step[Message]:
    try:
        future = conn.request(message, op, path, awaited=True)
    except BaseException:
        if region is not None:
            conn.arena.release(region)  # never sent (a frame over the limit): nothing writes it
        raise
    try:
        response: Message = yield future
    except BaseException as exc:
        conn.give_up(future, region)
        if isinstance(exc, DeadlineExceededError) and exc.op is None:
            exc.op, exc.path = op, path
        if isinstance(exc, NotFoundError):
            told_of_the_bucket(exc, conn.spec_of(message.get("store")))
        raise
    return response


def told_of_the_bucket(error: NotFoundError, spec: StoreSpec | None) -> None:
    """A key not found that starts with its store's bucket (``get_object("bucket/x.csv",
    Config("s3://bucket"))`` reads ``bucket/x.csv`` within the bucket) says what a key is."""
    if spec is None or error.path is None or "is the path within" in error.message:
        return
    bucket = bucket_of(spec.url)
    if not bucket:
        return
    first, _, within = error.path.partition("/")
    if within and first == bucket:
        error.message += (
            f" (the key starts with the bucket's name {bucket!r}: a key is the path within the "
            f"bucket, as in get_object({within!r}, conf))"
        )


def retry_on_crash(pool: Pool, make: Callable[[], Step[T]], *, write: bool) -> Step[T]:
    """Runs the step ``make()`` builds, again on a fresh worker if its worker died under it, as many
    times as the pool's settings allow for reads or for writes; and once more if a credential
    provider's credentials were refused (the provider is asked for new ones first)."""
    settings = pool.settings
    retries = settings.crash_retries_for_writes if write else settings.crash_retries_for_reads
    crashes, refreshed = 0, False
    while True:
        try:
            return (yield from make())
        except WorkerCrashedError:
            if crashes == retries:
                raise
            crashes += 1
        except PermissionDeniedError as exc:
            # Refused with a provider's credentials: once more with fresh ones (a refused request
            # changed nothing, so a write may be tried again too).
            if refreshed or not exc.stale_credentials:
                raise
            refreshed = True


def crash_retried(
    *, write: bool
) -> Callable[[Callable[Concatenate[Pool, P], Step[T]]], Callable[Concatenate[Pool, P], Step[T]]]:
    """An operation's steps (a function of the pool and its arguments) run by ``retry_on_crash``:
    again on a fresh worker if the worker died under them, as the settings allow for reads or
    for ``write``s."""

    def decorate(
        once: Callable[Concatenate[Pool, P], Step[T]],
    ) -> Callable[Concatenate[Pool, P], Step[T]]:
        @functools.wraps(once)
        def retried(pool: Pool, /, *args: P.args, **kwargs: P.kwargs) -> Step[T]:
            return (
                yield from retry_on_crash(pool, lambda: once(pool, *args, **kwargs), write=write)
            )

        return retried

    return decorate


Progress = Callable[[int, int | None], None]
"""Called with (bytes done, bytes in all or None when not known yet) as parts complete, on the
caller's thread or event loop."""
