"""Objects to and from local files, in bounded memory: parts move between the file and the arena
with ``pread``/``pwrite`` (or the worker writes a download's file itself), never through a
whole-object buffer; a download replaces its target only once it is whole."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import stat

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import LocalFileError, error_from_wire
from rustyobjectstore._ops.attributes import Attached
from rustyobjectstore._ops.calls import Progress, call, crash_retried, route
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.get import fetch_ranges
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.put import PutMode, fill_from_file, write
from rustyobjectstore._ops.sinks import IntoFile
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message
from rustyobjectstore._worker.connection import Connection, response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step


def _kept_mode(target: str) -> int | None:
    """The permissions of the file being replaced, if there is one."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return None


_names = random.Random(secrets.randbits(64))  # no system call per name, unlike secrets


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
    is written there, and its other parts are fetched in parallel into the same file here."""
    settings = pool.settings
    target = os.fspath(local_path)
    temp = _temp_name(target)
    conn, store = yield from route(pool, conf, path)
    first = settings.multipart_get_threshold
    message = codec.download(store, path, temp, target, first, fsync=fsync, when=when.first())
    try:
        try:
            response = yield from call(conn, message, "download", path)
        except LocalFileError as exc:
            raise _as_os_error(exc) from None
        size = int(response_field(response, "size"))
        written = int(response_field(response, "written"))
        if progress is not None:
            progress(written, size)
        if written < size:
            e_tag = ObjectMeta.from_wire(response_field(response, "meta")).e_tag
            yield from _rest_into(pool, conn, store, path, when.pinned(e_tag), temp, target,
                                  (written, size), progress, fsync)  # fmt: skip
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)  # the worker removes its own; this one is for a worker that died
        raise
    return size


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
    except BaseException:
        for _, temp, _ in triples:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # the worker removes its own; these are for a worker that died
        raise
    results: list[int | Exception] = [int(size) for size in response_field(response, "sizes")]
    for failure in response_field(response, "failed"):
        index = int(failure["index"])
        error = error_from_wire(failure["error"], "download", files[index][0])
        results[index] = _as_os_error(error) if isinstance(error, LocalFileError) else error
    return results


def _rest_into(
    pool: Pool, conn: Connection, store: int, path: str, pin: Message, temp: str, target: str,
    span: tuple[int, int], progress: Progress | None, fsync: bool,
) -> Step[None]:  # fmt: skip
    """The parts of a big object after its first (``span``: where they start, and the size) into
    the temp file the worker began, which then replaces ``target``."""
    done, size = span
    part = pool.settings.multipart_get_part_size
    ranges = [(start, min(start + part, size)) for start in range(done, size, part)]

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, size)

    mode = _kept_mode(target)
    fd = os.open(temp, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        into = IntoFile(fd, target)
        into.open(size)
        yield from fetch_ranges(pool, conn, store, path, pin, ranges, into, 0, advance)
        if fsync:
            os.fsync(fd)
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
