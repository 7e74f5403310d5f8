"""Objects to and from local files and arena views, in bounded memory: parts move between the file
and the arena with ``pread``/``pwrite``, never through a whole-object buffer."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import NotSupportedError
from rustyobjectstore._ops.attributes import Attached
from rustyobjectstore._ops.calls import (
    Destination,
    Fill,
    IntoBytes,
    Progress,
    PutMode,
    allocate,
    call,
    fetch_ranges,
    read,
    retry_on_crash,
    route,
    write,
)
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message, Region
from rustyobjectstore._worker.connection import Connection, response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step


class IntoFile(Destination):
    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def open(self, size: int) -> None:
        try:
            os.ftruncate(self.fd, size)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot make room for {size} bytes: {exc.strerror}", str(self.path)
            ) from exc

    def put(self, at: int, data: memoryview) -> None:
        try:
            while data:
                written = os.pwrite(self.fd, data, at)
                data, at = data[written:], at + written
        except OSError as exc:  # a full disk, a file size limit: say which file
            raise OSError(
                exc.errno, f"writing at byte {at}: {exc.strerror}", str(self.path)
            ) from exc


def fill_from_file(fd: int) -> Fill:
    def fill(view: memoryview, at: int) -> None:
        while view:
            got = os.preadv(fd, [view], at)
            if got == 0:
                raise EOFError(f"the file ended at byte {at} while it was being uploaded")
            view, at = view[got:], at + got

    return fill


def _kept_mode(target: Path) -> int | None:
    """The permissions of the file being replaced, if there is one."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return None


def _create_temp(target: Path) -> tuple[int, Path]:
    """A new temp file beside ``target``, created 0666 so the kernel applies the umask, as for any
    new file (reading the umask would mean setting it, for every thread of the process at once)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue


@contextlib.contextmanager
def temp_beside(target: Path) -> Iterator[int]:
    """An fd of a temp file next to ``target``, renamed over it only if the block succeeds, so a
    reader never sees a partial file and a failure leaves the old one untouched. A replaced file
    keeps its permissions; a new one gets the usual 0666 less the umask."""
    mode = _kept_mode(target)
    fd, temp = _create_temp(target)
    try:
        yield fd
        os.fsync(fd)
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    finally:
        os.close(fd)


def download(
    pool: Pool, conf: StoreConfig, path: str, local_path: str | os.PathLike[str],
    progress: Progress | None, when: Conditions = NONE,
) -> Step[int]:  # fmt: skip
    """The object into ``local_path``, atomically: a partial download never replaces the file."""
    target = Path(local_path)
    with temp_beside(target) as fd:
        size = yield from read(pool, conf, path, IntoFile(fd, target), progress=progress,
                               when=when)  # fmt: skip
    return size


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


class IntoRegion(Destination):
    """Straight into one arena region: ranged gets are lent slices of it, so nothing is copied."""

    def __init__(self, conn: Connection, region: Region) -> None:
        self.conn = conn
        self.region = region
        self.unfinished: list[Future[Message]] = []

    def put(self, at: int, data: memoryview) -> None:
        view = self.conn.arena.read(self.region, self.region[1])
        try:
            view[at : at + len(data)] = data
        finally:
            view.release()

    def region_for(self, at: int, length: int) -> Region:
        return (self.region[0] + at, length)

    def abandon(self, unfinished: list[Future[Message]]) -> None:
        self.unfinished = unfinished


class _TooLargeForAView(NotSupportedError):
    pass


def view(
    pool: Pool, conf: StoreConfig, path: str, when: Conditions = NONE
) -> Step[tuple[Connection, Region, int]]:
    """An arena region holding the whole object, for a zero-copy view; the caller releases it. A
    worker that dies under it is replaced and the read tried again (a read's crash retries)."""
    return (
        yield from retry_on_crash(pool, lambda: _view_once(pool, conf, path, when), write=False)
    )


def _view_once(
    pool: Pool, conf: StoreConfig, path: str, when: Conditions
) -> Step[tuple[Connection, Region, int]]:
    """The first part says the size; the rest is fetched straight into a region of that size."""
    settings = pool.settings
    conn, store = route(pool, conf, path)
    first = yield from allocate(conn.arena, settings.multipart_get_threshold)
    message = codec.get(store, path, first, whole=False, when=when.first())
    response = yield from call(conn, message, "get", path, first)
    size = int(response_field(response, "size"))
    written = int(response_field(response, "written"))
    if written == size:
        return conn, first, size
    try:
        limit = settings.arena_size // 2
        if size > limit:
            raise _TooLargeForAView(
                f"a {size}-byte object is too large for a view (at most half the arena, {limit} "
                "bytes); use get_object_to_file or get_object_stream",
                op="get", path=path,
            )  # fmt: skip
        region = yield from allocate(conn.arena, size)
        target = IntoRegion(conn, region)
        target.put(0, conn.arena.read(first, written))
    finally:
        conn.arena.release(first)
    try:
        e_tag = ObjectMeta.from_wire(response_field(response, "meta")).e_tag
        part = settings.multipart_get_part_size
        ranges = [(s, min(s + part, size)) for s in range(written, size, part)]
        pin = when.pinned(e_tag)
        yield from fetch_ranges(pool, conn, store, path, pin, ranges, target, 0, lambda n: None)
    except BaseException:
        conn.arena.release_after(target.unfinished, region)
        raise
    return conn, region, size


def as_bytes(pool: Pool, conf: StoreConfig, path: str, when: Conditions = NONE) -> Step[bytes]:
    """The object as new bytes, copied once: the parts land in one arena region (as for a view) and
    leave it in one copy. An object too large for that goes part by part into a buffer instead."""
    try:
        conn, region, size = yield from view(pool, conf, path, when)
    except _TooLargeForAView:
        dest = IntoBytes()
        yield from read(pool, conf, path, dest, when=when)
        return dest.result()
    try:
        return bytes(conn.arena.read(region, size))
    finally:
        conn.arena.release(region)
