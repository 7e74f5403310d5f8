"""``open_reader``: a seekable, read-only binary file over one version of an object, and its asyncio
twin. Both drive the steps of ``blocks``; what is here is the file-object surface."""

from __future__ import annotations

import asyncio
import io
import operator
import threading
from typing import Any

from typing_extensions import Buffer

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._ops.blocks import (
    Blocks,
    bytes_at_hand,
    into_at_hand,
    line_at_hand,
    next_line,
    open_blocks,
    read_bytes,
    read_into,
    read_line,
)
from rustyobjectstore._ops.conditions import NONE, Conditions
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.sinks import writable_view
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step, run_async, run_sync

MiB = 1024 * 1024
BLOCK_SIZE = 8 * MiB  # StaticConfig.multipart_get_part_size's default: a ranged get's sweet spot
CACHE_BLOCKS = 4
READ_AHEAD = 4  # as many as StaticConfig.max_parallel_parts keeps in flight for a whole get


def _count(name: str, value: Any, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{name} must be at least {least}, got {value}")
    return value


def opening(
    pool: Pool, conf: StoreConfig, path: str, block_size: int, cache_blocks: int, read_ahead: int,
    when: Conditions = NONE, fetch_first: bool = True, meta: ObjectMeta | None = None,
    fetch_tail: int = 0,
) -> Step[Blocks]:  # fmt: skip
    """The arguments checked before anything is sent, then the open step."""
    _count("block_size", block_size, 1)
    _count("cache_blocks", cache_blocks, 0)
    _count("read_ahead", read_ahead, 0)
    _count("fetch_tail", fetch_tail, 0)
    # A block, or the tail, bigger than half the arena could wait forever for room that blocks
    # of other readers, each kept while the arena was half free, hold.
    for name, value in (("block_size", block_size), ("fetch_tail", fetch_tail)):
        if value > pool.settings.arena_size // 2:
            raise ValueError(
                f"{name} ({value}) must be at most half of StaticConfig.arena_size "
                f"({pool.settings.arena_size})"
            )
    if not isinstance(fetch_first, bool):
        raise TypeError(f"fetch_first must be a bool, got {type(fetch_first).__name__}")
    if meta is not None:
        if not isinstance(meta, ObjectMeta):
            raise TypeError(f"meta must be an ObjectMeta, got {type(meta).__name__}")
        if meta.path != path:
            raise ValueError(f"meta is of {meta.path!r}, not of {path!r}")
    return open_blocks(
        pool, conf, path, block_size, cache_blocks, read_ahead, when, fetch_first, meta, fetch_tail
    )


def _size_arg(size: int | None) -> int:
    if size is None:
        return -1
    try:
        return operator.index(size)
    except TypeError:
        raise TypeError(
            f"argument should be integer or None, not {type(size).__name__!r}"
        ) from None


def _seek(blocks: Blocks, offset: int, whence: int) -> int:
    offset = operator.index(offset)
    if whence == io.SEEK_SET:
        pos = offset
    elif whence == io.SEEK_CUR:
        pos = blocks.pos + offset
    elif whence == io.SEEK_END:
        pos = blocks.size + offset
    else:
        raise ValueError(f"invalid whence ({whence!r}, should be 0, 1 or 2)")
    if pos < 0:
        raise ValueError(f"negative seek position {pos}")
    blocks.pos = pos
    return pos


def _in_block(blocks: Blocks, size: int) -> int:
    """``read1``'s limit: what is left of the block at the position, at most ``size``."""
    left = blocks.block_size - blocks.pos % blocks.block_size
    return left if size < 0 else min(size, left)


class RangeReader(io.BufferedIOBase):
    """What ``open_reader`` returns: a read-only, seekable binary file over one version of an
    object. ``size`` and ``meta`` are the object's; a read after the object changed raises
    ``PreconditionFailedError`` rather than mixing versions. Safe to share between threads (one
    operation at a time):
    ``with open_reader("t.bin", conf) as f: f.seek(-8, io.SEEK_END); footer = f.read()``."""

    mode = "rb"

    def __init__(self, blocks: Blocks) -> None:
        super().__init__()
        self._blocks = blocks
        self._lock = threading.Lock()
        self.name = blocks.path
        self.meta: ObjectMeta = blocks.meta

    @property
    def size(self) -> int:
        """The object's size in bytes (of the version opened)."""
        return self._blocks.size

    def _open_blocks(self) -> Blocks:
        if self._blocks.closed:  # closed with the reader, and cheaper to ask than IOBase
            raise ValueError("I/O operation on closed file.")
        return self._blocks

    def readable(self) -> bool:
        self._open_blocks()
        return True

    def seekable(self) -> bool:
        self._open_blocks()
        return True

    def writable(self) -> bool:
        self._open_blocks()
        return False

    def read(self, size: int | None = -1) -> bytes:
        n = _size_arg(size)
        with self._lock:
            blocks = self._open_blocks()
            data = bytes_at_hand(blocks, n)
            return run_sync(read_bytes(blocks, n)) if data is None else data

    def read1(self, size: int | None = -1) -> bytes:
        n = _size_arg(size)
        with self._lock:
            blocks = self._open_blocks()
            n = _in_block(blocks, n)
            data = bytes_at_hand(blocks, n)
            return run_sync(read_bytes(blocks, n)) if data is None else data

    def readinto(self, buffer: Buffer) -> int:
        """Reads from the position into ``buffer`` (any writable buffer) until it is full or the
        object ends; returns how many bytes, 0 at the end."""
        view = writable_view(buffer)
        with self._lock:
            blocks = self._open_blocks()
            got = into_at_hand(blocks, view)
            return run_sync(read_into(blocks, view)) if got is None else got

    def readinto1(self, buffer: Buffer) -> int:
        """``readinto``, but no further than the end of the block at the position."""
        view = writable_view(buffer)
        with self._lock:
            blocks = self._open_blocks()
            view = view[: _in_block(blocks, len(view))]
            got = into_at_hand(blocks, view)
            return run_sync(read_into(blocks, view)) if got is None else got

    def readline(self, size: int | None = -1) -> bytes:
        n = size if type(size) is int else _size_arg(size)  # as cheap as can be: once per line
        with self._lock:
            blocks = self._open_blocks()
            line = line_at_hand(blocks, n)
            return run_sync(read_line(blocks, n)) if line is None else line

    def __next__(self) -> bytes:
        # IOBase's would go through readline(); lines are the one read made by the million.
        with self._lock:
            blocks = self._open_blocks()
            line = next_line(blocks)
            if line is None:
                line = run_sync(read_line(blocks, -1))
        if not line:
            raise StopIteration
        return line

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with self._lock:
            return _seek(self._open_blocks(), offset, whence)

    def tell(self) -> int:
        return self._open_blocks().pos

    def close(self) -> None:
        if not self.closed:
            with self._lock:
                self._blocks.discard()
            super().close()

    def __del__(self) -> None:
        # Not IOBase's close(), which takes locks inside a finalizer: the blocks go later.
        blocks = getattr(self, "_blocks", None)
        if blocks is not None:
            blocks.abandoned()


class AsyncRangeReader:
    """What ``open_reader_async`` returns: ``await read()``, ``readinto()``, ``readline()``,
    ``seek()``, ``tell()``, ``close()``; ``async with`` and ``async for line in reader``:
    ``async with await open_reader_async("a.log", conf) as f: first = await f.readline()``."""

    def __init__(self, blocks: Blocks) -> None:
        self._blocks = blocks
        # One operation at a time: a read waits at its yields, and another must not move the
        # blocks under it.
        self._lock = asyncio.Lock()
        self.name = blocks.path
        self.meta: ObjectMeta = blocks.meta

    @property
    def size(self) -> int:
        """The object's size in bytes (of the version opened)."""
        return self._blocks.size

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._blocks.closed

    def _open_blocks(self) -> Blocks:
        if self._blocks.closed:
            raise ValueError("I/O operation on closed file.")
        return self._blocks

    async def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes from the position (to the end when ``size`` is negative or None);
        ``b""`` at the end."""
        n = _size_arg(size)
        async with self._lock:
            blocks = self._open_blocks()
            data = bytes_at_hand(blocks, n)
            return await run_async(read_bytes(blocks, n)) if data is None else data

    async def readinto(self, buffer: Buffer) -> int:
        """Reads from the position into ``buffer`` (any writable buffer) until it is full or the
        object ends; returns how many bytes, 0 at the end."""
        view = writable_view(buffer)
        async with self._lock:
            blocks = self._open_blocks()
            got = into_at_hand(blocks, view)
            return await run_async(read_into(blocks, view)) if got is None else got

    async def readline(self, size: int | None = -1) -> bytes:
        """The next line, its ``\\n`` included (at most ``size`` bytes); ``b""`` at the end."""
        n = _size_arg(size)
        async with self._lock:
            blocks = self._open_blocks()
            line = line_at_hand(blocks, n)
            return await run_async(read_line(blocks, n)) if line is None else line

    async def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Moves the position as ``io.IOBase.seek`` does (``whence`` 0, 1 or 2) and returns it;
        nothing is fetched until the next read."""
        async with self._lock:
            return _seek(self._open_blocks(), offset, whence)

    async def tell(self) -> int:
        """The position."""
        return self._open_blocks().pos

    async def close(self) -> None:
        """Lets go of the blocks and their shared memory; reads raise ``ValueError`` after."""
        async with self._lock:
            self._blocks.discard()

    def __del__(self) -> None:
        blocks = getattr(self, "_blocks", None)
        if blocks is not None:
            blocks.abandoned()

    async def __aenter__(self) -> AsyncRangeReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncRangeReader:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line
