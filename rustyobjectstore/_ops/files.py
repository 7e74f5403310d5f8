"""Objects to and from local files, in bounded memory: parts move between the file and the arena
with ``pread``/``pwrite`` (or the worker writes a download's file itself), never through a
whole-object buffer; a download replaces its target only once it is whole."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import stat
from collections import deque

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import (
    EarlyEOFError,
    LocalFileError,
    WorkerCrashedError,
    error_from_wire,
)
from rustyobjectstore._ops.attributes import Attached
from rustyobjectstore._ops.calls import Progress, call, crash_retried, route, windowed
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.put import PutMode, fill_from_file, write
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message
from rustyobjectstore._worker.connection import Call, Connection, response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step


def _kept_mode(target: str) -> int | None:
    """The permissions of the file being replaced, if there is one."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return None


_names = random.Random(secrets.randbits(64))  # no system call per name, unlike secrets
# A forked child would draw the parent's names: a temp file of the same name is refused, so the
# download would fail.
os.register_at_fork(after_in_child=lambda: _names.seed(secrets.randbits(64)))


def _temp_name(target: str) -> str:
    """A name for a new temp file beside ``target``; the worker creates it, and fails if it is
    taken (a crash retry picks a new one)."""
    head, tail = os.path.split(target)
    return os.path.join(head, f".{tail}.{_names.getrandbits(32):08x}.part")


@crash_retried(write=False)
def download(
    pool: Pool, conf: StoreConfig, path: str, local_path: str | os.PathLike[str],
    progress: Progress | None, when: Conditions = NONE, fsync: bool = True,
) -> Step[int]:  # fmt: skip
    """The object into ``local_path``, atomically: a temp file beside it, renamed over it only once
    whole, so a reader never sees a partial file and a failure leaves the old one untouched. With
    ``fsync`` the bytes are on disk before the rename, so that a crash of the machine cannot leave
    a whole name over torn bytes either. A replaced file keeps its permissions; a new one gets
    the usual 0666 less the umask.

    The worker writes the file: an object that fits in the first request (below the multipart
    threshold) is created, written and renamed by it, off this thread; a bigger one's first part
    is written there, and its other parts, asked for here a window at a time, are written by the
    worker into the same file, which is renamed here."""
    settings = pool.settings
    target = os.fspath(local_path)
    temp = _temp_name(target)
    conn, store = yield from route(pool, conf, path)
    first = settings.multipart_get_threshold
    message = codec.download(store, path, temp, target, first, fsync=fsync, when=when.first())
    try:
        response = yield from call(conn, message, "download", path)
    except LocalFileError as exc:
        raise _as_os_error(exc) from None
    except WorkerCrashedError:
        _remove(temp)  # a worker removes the temp files of failed downloads, unless it died
        raise
    size = int(response_field(response, "size"))
    written = int(response_field(response, "written"))
    if progress is not None:
        progress(written, size)
    if written < size:
        e_tag = ObjectMeta.from_wire(response_field(response, "meta")).e_tag
        try:
            yield from _rest_into(pool, conn, store, path, when.pinned(e_tag), temp, target,
                                  (written, size), progress, fsync)  # fmt: skip
        except BaseException:
            _remove(temp)  # handed over: ours to remove
            raise
    return size


def _remove(temp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)


def _as_os_error(error: LocalFileError) -> OSError:
    """The built-in error a write by Python would have raised (``FileNotFoundError``, ...)."""
    return OSError(error.errno, error.strerror, error.filename)


@crash_retried(write=False)
def download_many(
    pool: Pool, conf: StoreConfig, files: list[tuple[str, str]], fsync: bool = True
) -> Step[list[int | Exception]]:
    """Each ``(key, local path)`` of ``files`` as ``download`` does it, all in one request: the
    worker writes each file whole (not in parallel parts, so for small objects), and Python does
    nothing per file but name its temp file. A tree of 10,000 small files then costs Python a
    request per batch. Returns each file's size, or the error that stopped it (the others go
    on)."""
    conn, store = yield from route(pool, conf, *(key for key, _ in files))
    triples = [[key, _temp_name(target), target] for key, target in (
        (key, os.fspath(local)) for key, local in files)]  # fmt: skip
    message = codec.download_many(store, triples, fsync=fsync)
    try:
        response = yield from call(conn, message, "download_many", None)
    except WorkerCrashedError:
        for _, temp, _ in triples:
            _remove(temp)
        raise
    return _each_file(response, "download", [key for key, _ in files])


@crash_retried(write=True)
def upload_many(
    pool: Pool, conf: StoreConfig, files: list[tuple[str, str, Attached]], mode: PutMode,
    limit: int,
) -> Step[list[int | Exception]]:  # fmt: skip
    """Each ``(key, local path, attached)`` of ``files`` stored by one put, all in one request: the
    worker reads each file whole (at most ``limit`` bytes: for small files; one grown past it
    fails) and Python reads none of them. A tree of 10,000 small files then costs Python a
    request per batch. Returns each file's size, or the error that stopped it (the others go
    on)."""
    if mode not in ("overwrite", "create"):
        raise ValueError(f"mode must be 'overwrite' or 'create', not {mode!r}")
    conn, store = yield from route(pool, conf, *(key for key, _, _ in files))
    entries = [{"file": os.fspath(local), "path": key, **extra.fields()}
               for key, local, extra in files]  # fmt: skip
    message = codec.upload_many(store, entries, mode=None if mode == "overwrite" else mode,
                                limit=limit)  # fmt: skip
    response = yield from call(conn, message, "upload_many", None)
    return _each_file(response, "put", [key for key, _, _ in files])


def _each_file(response: Message, op: str, keys: list[str]) -> list[int | Exception]:
    """A batch's answer: each file's size, or its error (a local file's as the built-in one)."""
    results: list[int | Exception] = [int(size) for size in response_field(response, "sizes")]
    for failure in response_field(response, "failed"):
        index = int(failure["index"])
        error = error_from_wire(failure["error"], op, keys[index])
        results[index] = _as_os_error(error) if isinstance(error, LocalFileError) else error
    return results


# A download this big has its file's size set before its parts are fetched, so that a limit (a
# file size cap) fails before any part is fetched.
SIZED_FROM = 8 * 1024 * 1024


def _reserve(fd: int, size: int, target: str) -> None:
    if size < SIZED_FROM:
        return
    try:
        os.ftruncate(fd, size)
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot make room for {size} bytes: {exc.strerror}", target
        ) from exc


def _rest_into(
    pool: Pool, conn: Connection, store: int, path: str, pin: Message, temp: str, target: str,
    span: tuple[int, int], progress: Progress | None, fsync: bool,
) -> Step[None]:  # fmt: skip
    """The parts of a big object after its first (``span``: where they start, and the size) into
    the temp file the worker began, a window of them in flight, each written by the worker (no
    byte passes through here); the file then replaces ``target``. ``pin`` (the first answer's
    e_tag) keeps them on one version, so a changed object fails instead of being spliced."""
    done, size = span
    settings = pool.settings
    part = settings.multipart_get_part_size
    ranges = [(start, min(start + part, size)) for start in range(done, size, part)]
    mode = _kept_mode(target)
    fd = os.open(temp, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    in_flight: deque[tuple[Call, int]] = deque()

    def send(i: int) -> Step[None]:
        start, end = ranges[i]
        message = codec.download_part(store, path, temp, target, (start, end), pin)
        in_flight.append((conn.request(message, "download_part", path), end - start))
        yield from ()  # nothing to wait for: the worker writes the part

    def take_oldest() -> Step[None]:
        nonlocal done
        try:
            response: Message = yield in_flight[0][0]
        except LocalFileError as exc:
            raise _as_os_error(exc) from None
        length = in_flight.popleft()[1]
        if response_field(response, "written") != length:
            raise EarlyEOFError(f"a part returned {response_field(response, 'written')}"
                                f" of {length} bytes", op="get", path=path)  # fmt: skip
        done += length
        if progress is not None:
            progress(done, size)

    try:
        _reserve(fd, size, target)
        yield from windowed(len(ranges), settings.max_parallel_parts, in_flight, send, take_oldest)
        if fsync:
            os.fsync(fd)
    except BaseException:
        for future, _ in in_flight:
            conn.give_up(future, None)
        raise
    finally:
        os.close(fd)
    if mode is not None:
        os.chmod(temp, mode)
    os.replace(temp, target)


def upload(
    pool: Pool, conf: StoreConfig, path: str, local_path: str | os.PathLike[str],
    mode: PutMode, progress: Progress | None, attached: Attached,
) -> Step[int]:  # fmt: skip
    fd = os.open(local_path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        fill = fill_from_file(fd)
        return (yield from write(pool, conf, path, size, fill, mode, progress, attached))
    finally:
        os.close(fd)
