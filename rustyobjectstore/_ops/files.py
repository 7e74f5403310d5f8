"""Objects to and from local files, in bounded memory: parts move between the file and the arena
with ``pread``/``pwrite``, never through a whole-object buffer; a download replaces its target
only once it is whole."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._ops.attributes import Attached
from rustyobjectstore._ops.calls import Progress
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.get import read
from rustyobjectstore._ops.put import PutMode, fill_from_file, write
from rustyobjectstore._ops.sinks import IntoFile
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step


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
def temp_beside(target: Path, fsync: bool = True) -> Iterator[int]:
    """An fd of a temp file next to ``target``, renamed over it only if the block succeeds, so a
    reader never sees a partial file and a failure leaves the old one untouched. With ``fsync``
    the bytes are on disk before the rename, so that a crash of the machine cannot leave a whole
    name over torn bytes either. A replaced file keeps its permissions; a new one gets the usual
    0666 less the umask."""
    mode = _kept_mode(target)
    fd, temp = _create_temp(target)
    try:
        yield fd
        if fsync:
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
    progress: Progress | None, when: Conditions = NONE, fsync: bool = True,
) -> Step[int]:  # fmt: skip
    """The object into ``local_path``, atomically: a partial download never replaces the file."""
    target = Path(local_path)
    with temp_beside(target, fsync) as fd:
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
