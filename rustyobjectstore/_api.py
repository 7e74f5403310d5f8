"""The public API: the pool's life, and every operation with its ``_async`` twin.

Both twins drive the same step generator from ``_ops``; sync calls are safe from many threads at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta

from typing_extensions import Buffer, Unpack

from rustyobjectstore._auth.chain import forget_probes
from rustyobjectstore._config import StoreConfig, _StoreConfig
from rustyobjectstore._ops import files as _files
from rustyobjectstore._ops import get as _get
from rustyobjectstore._ops import list as _list
from rustyobjectstore._ops import meta as _meta
from rustyobjectstore._ops import metrics as _metrics
from rustyobjectstore._ops import put as _put
from rustyobjectstore._ops import ranges as _ranges
from rustyobjectstore._ops import sign as _signing
from rustyobjectstore._ops import sinks as _sinks
from rustyobjectstore._ops.attributes import attached
from rustyobjectstore._ops.calls import Progress
from rustyobjectstore._ops.conditions import ReadOptions, conditions
from rustyobjectstore._ops.list import (
    AsyncListIterator,
    AsyncListStream,
    ListIterator,
    ListResult,
    ListStream,
)
from rustyobjectstore._ops.meta import BulkDeleteFailure
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._ops.put import PutMode
from rustyobjectstore._ops.ranges import COALESCE
from rustyobjectstore._ops.reader import (
    BLOCK_SIZE,
    CACHE_BLOCKS,
    READ_AHEAD,
    AsyncRangeReader,
    RangeReader,
    opening,
)
from rustyobjectstore._ops.stream import (
    READ_CHUNK,
    AsyncObjectReader,
    AsyncObjectWriter,
    ObjectReader,
    ObjectStreamReader,
    ObjectWriter,
    check_codec,
    get_stream,
    put_stream,
)
from rustyobjectstore._worker.codec import Region
from rustyobjectstore._worker.connection import Connection
from rustyobjectstore._worker.finalizers import later
from rustyobjectstore._worker.lifetime import current_pool, running_pool
from rustyobjectstore._worker.metrics import Metrics
from rustyobjectstore._worker.steps import run_async, run_sync


def get_object_into(
    path: str, buffer: Buffer, conf: StoreConfig, **options: Unpack[ReadOptions]
) -> int:
    """Reads the object into ``buffer`` (any writable buffer) and returns its size. A buffer too small
    raises ``BufferTooSmallError`` with the object's size; nothing is written beyond the buffer.
    Every read function takes the conditions ``if_match``, ``if_none_match``,
    ``if_modified_since``, ``if_unmodified_since`` and ``version`` (``ReadOptions``):
    ``n = get_object_into("a.csv", buf, conf, if_none_match=etag)`` raises ``NotModifiedError``
    while the object is still at ``etag``."""
    view = _sinks.writable_view(buffer)
    dest = _sinks.IntoBuffer(view, path)
    when = conditions(options)
    return run_sync(_get.read(current_pool(), conf, path, dest, capacity=len(view), when=when))


async def get_object_into_async(
    path: str, buffer: Buffer, conf: StoreConfig, **options: Unpack[ReadOptions]
) -> int:
    """The async twin of :func:`get_object_into`:
    ``n = await get_object_into_async("a.csv", buf, conf)``."""
    view = _sinks.writable_view(buffer)
    dest = _sinks.IntoBuffer(view, path)
    when = conditions(options)
    step = _get.read(current_pool(), conf, path, dest, capacity=len(view), when=when)
    return await run_async(step)


def get_object(path: str, conf: StoreConfig, **options: Unpack[ReadOptions]) -> bytes:
    """The whole object as bytes: ``data = get_object("a.csv", conf, version=v)``."""
    return run_sync(_get.as_bytes(current_pool(), conf, path, conditions(options)))


async def get_object_async(path: str, conf: StoreConfig, **options: Unpack[ReadOptions]) -> bytes:
    """The async twin of :func:`get_object`: ``data = await get_object_async("a.csv", conf)``."""
    return await run_async(_get.as_bytes(current_pool(), conf, path, conditions(options)))


def get_object_range(
    path: str, start: int, end: int | None, conf: StoreConfig, **options: Unpack[ReadOptions]
) -> bytes:
    """Bytes ``start`` (inclusive) to ``end`` (exclusive), cut at the object's end as ``data[start:end]``
    cuts them. ``end=None`` reads to the end; a negative ``start`` with ``end=None`` reads the last
    ``-start`` bytes in one request: ``footer = get_object_range("t.parquet", -8, None, conf)``."""
    when = conditions(options)
    return run_sync(_ranges.one_range(current_pool(), conf, path, start, end, when))


async def get_object_range_async(
    path: str, start: int, end: int | None, conf: StoreConfig, **options: Unpack[ReadOptions]
) -> bytes:
    """The async twin of :func:`get_object_range`:
    ``footer = await get_object_range_async("t.parquet", -8, None, conf)``."""
    when = conditions(options)
    return await run_async(_ranges.one_range(current_pool(), conf, path, start, end, when))


def get_object_ranges(
    path: str, ranges: Sequence[tuple[int, int]], conf: StoreConfig, *, coalesce: int = COALESCE,
    **options: Unpack[ReadOptions],
) -> list[bytes]:  # fmt: skip
    """The bytes of each ``(start, end)`` range, in the order given, each cut at the object's end as
    slicing cuts it. Ranges at most ``coalesce`` bytes apart (1 MiB) share one request, requests run
    ``StaticConfig.max_parallel_parts`` at a time, all pinned to one version of the object (a change
    meanwhile is a ``PreconditionFailedError``). Ranges may be unsorted, overlap or be empty:
    ``header, footer = get_object_ranges("t.bin", [(0, 4), (size - 8, size)], conf)``."""
    when = conditions(options)
    return run_sync(_ranges.ranges_bytes(current_pool(), conf, path, ranges, coalesce, when))


async def get_object_ranges_async(
    path: str, ranges: Sequence[tuple[int, int]], conf: StoreConfig, *, coalesce: int = COALESCE,
    **options: Unpack[ReadOptions],
) -> list[bytes]:  # fmt: skip
    """The async twin of :func:`get_object_ranges`:
    ``a, b = await get_object_ranges_async("t.bin", [(0, 4), (64, 72)], conf)``."""
    when = conditions(options)
    return await run_async(_ranges.ranges_bytes(current_pool(), conf, path, ranges, coalesce, when))


def get_object_ranges_into(
    path: str,
    ranges: Sequence[tuple[int, int]],
    buffers: Sequence[Buffer],
    conf: StoreConfig,
    *,
    coalesce: int = COALESCE,
    **options: Unpack[ReadOptions],
) -> list[int]:
    """``get_object_ranges`` into one writable buffer per range (each must hold its range's length);
    returns how many bytes each got (fewer at the object's end):
    ``sizes = get_object_ranges_into(key, [(0, 1024)], [bytearray(1024)], conf)``."""
    step = _ranges.ranges_into(current_pool(), conf, path, ranges, buffers, coalesce,
                               conditions(options))  # fmt: skip
    return run_sync(step)


async def get_object_ranges_into_async(
    path: str,
    ranges: Sequence[tuple[int, int]],
    buffers: Sequence[Buffer],
    conf: StoreConfig,
    *,
    coalesce: int = COALESCE,
    **options: Unpack[ReadOptions],
) -> list[int]:
    """The async twin of :func:`get_object_ranges_into`:
    ``sizes = await get_object_ranges_into_async(key, [(0, 1024)], [bytearray(1024)], conf)``."""
    step = _ranges.ranges_into(current_pool(), conf, path, ranges, buffers, coalesce,
                               conditions(options))  # fmt: skip
    return await run_async(step)


def open_reader(
    path: str, conf: StoreConfig, *, block_size: int = BLOCK_SIZE,
    cache_blocks: int = CACHE_BLOCKS, read_ahead: int = READ_AHEAD, fetch_first: bool = True,
    meta: ObjectMeta | None = None, fetch_tail: int = 0, **options: Unpack[ReadOptions],
) -> RangeReader:  # fmt: skip
    """A read-only, seekable binary file object (an ``io.BufferedIOBase``) over the object, read in
    blocks of ``block_size`` bytes by ranged gets. Opening makes one request, the first block,
    which tells ``size`` and ``meta``; every later one is pinned to that version, so a change
    meanwhile is a ``PreconditionFailedError``, never bytes of two versions. While reads are
    sequential the next ``read_ahead`` blocks are requested before they are needed; the last
    ``cache_blocks`` blocks read from are kept. A read of 64 KiB or more that jumps where no block
    is at hand (a Parquet column chunk) fetches just its bytes. ``fetch_first=False`` opens with a
    head instead of the first block, for readers that start elsewhere; ``fetch_tail=n`` with the
    object's last ``n`` bytes instead (one request where the store takes a suffix range), for
    those that start at a footer (Parquet's reads 64 KiB from the end first), which the reads of
    those bytes then need no request for, in this open or another of the same version; ``meta``,
    the answer of a ``head_object`` or a listing, opens that version with no request.
    ``block_size`` is at most half of ``StaticConfig.arena_size``.
    For its reads it holds at most a budget of the worker's shared memory, ``block_size *
    (read_ahead + 1)`` bytes or ``max_parallel_parts`` parts of ``multipart_get_part_size``,
    whichever is more; on a Parquet file being scanned, up to twice that more of the chunks to
    come, fetched ahead and served to reads in any order (pyarrow's threads take turns in no set
    order); nothing ahead once the arena is half taken; and ``block_size * cache_blocks`` of its
    own memory. Close it (or use ``with``). Works where a file is expected, pyarrow's readers
    included:
    ``with open_reader("t.parquet", conf) as f: table = pyarrow.parquet.read_table(f)``."""
    step = opening(current_pool(), conf, path, block_size, cache_blocks, read_ahead,
                   conditions(options), fetch_first, meta, fetch_tail)  # fmt: skip
    return RangeReader(run_sync(step))


async def open_reader_async(
    path: str, conf: StoreConfig, *, block_size: int = BLOCK_SIZE,
    cache_blocks: int = CACHE_BLOCKS, read_ahead: int = READ_AHEAD, fetch_first: bool = True,
    meta: ObjectMeta | None = None, fetch_tail: int = 0, **options: Unpack[ReadOptions],
) -> AsyncRangeReader:  # fmt: skip
    """``open_reader`` for asyncio: ``async with await open_reader_async("a.bin", conf) as f:
    await f.seek(-8, 2); footer = await f.read()``."""
    step = opening(current_pool(), conf, path, block_size, cache_blocks, read_ahead,
                   conditions(options), fetch_first, meta, fetch_tail)  # fmt: skip
    return AsyncRangeReader(await run_async(step))


def get_object_to_file(
    path: str, local_path: str | os.PathLike[str], conf: StoreConfig, *,
    progress: Progress | None = None, fsync: bool = True, **options: Unpack[ReadOptions],
) -> int:  # fmt: skip
    """Downloads into ``local_path`` in bounded memory, parts in parallel; the file is replaced only
    when the whole object has arrived (a temporary file beside it, renamed). Returns the size.
    ``progress``, if given, is called with (bytes done, bytes in all) as parts arrive. With
    ``fsync`` (the default) the bytes are on disk before the rename, so that not even a crash of
    the machine leaves the name over torn bytes; ``fsync=False`` leaves that to the kernel, as
    most tools do, and is faster for big files:
    ``size = get_object_to_file("big.bin", "/tmp/big.bin", conf)``."""
    when = conditions(options)
    step = _files.download(current_pool(), conf, path, local_path, progress, when, fsync)
    return run_sync(step)


async def get_object_to_file_async(
    path: str, local_path: str | os.PathLike[str], conf: StoreConfig, *,
    progress: Progress | None = None, fsync: bool = True, **options: Unpack[ReadOptions],
) -> int:  # fmt: skip
    """The async twin of :func:`get_object_to_file`:
    ``size = await get_object_to_file_async("big.bin", "/tmp/big.bin", conf)``."""
    when = conditions(options)
    step = _files.download(current_pool(), conf, path, local_path, progress, when, fsync)
    return await run_async(step)


async def get_objects_to_files_async(
    files: list[tuple[str, str]], conf: StoreConfig, *, fsync: bool = True
) -> list[int | Exception]:
    """Each ``(key, local path)`` of ``files`` downloaded as :func:`get_object_to_file` does it,
    in one request to one worker, which writes every file itself and whole: for many small
    objects (the command line's trees). Returns each file's size or its error, in order."""
    return await run_async(_files.download_many(current_pool(), conf, files, fsync))


async def put_objects_from_files_async(
    files: Sequence[tuple[str, str, Mapping[str, str] | None]], conf: StoreConfig, *,
    mode: PutMode = "overwrite", limit: int,
) -> list[int | Exception]:  # fmt: skip
    """Each ``(key, local path, attributes)`` of ``files`` stored as :func:`put_object_from_file`
    does it (``mode``: ``"overwrite"`` or ``"create"``), in one request to one worker, which reads
    every file itself: for many small files (the command line's trees), each at most ``limit``
    bytes. Returns each file's size or its error, in order."""
    checked = [(key, local, attached(attributes, None)) for key, local, attributes in files]
    return await run_async(_files.upload_many(current_pool(), conf, checked, mode, limit))


def put_object_from_file(
    path: str, local_path: str | os.PathLike[str], conf: StoreConfig, *,
    mode: PutMode = "overwrite", progress: Progress | None = None,
    attributes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    """Uploads ``local_path`` in bounded memory (a multipart upload above the threshold, parts in
    parallel), atomically, with the ``mode``, ``attributes`` and ``tags`` that ``put_object``
    takes. Returns the size:
    ``size = put_object_from_file("big.bin", "/tmp/big.bin", conf, mode="create")``."""
    extra = attached(attributes, tags)
    return run_sync(_files.upload(current_pool(), conf, path, local_path, mode, progress, extra))


async def put_object_from_file_async(
    path: str, local_path: str | os.PathLike[str], conf: StoreConfig, *,
    mode: PutMode = "overwrite", progress: Progress | None = None,
    attributes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    """The async twin of :func:`put_object_from_file`:
    ``size = await put_object_from_file_async("big.bin", "/tmp/big.bin", conf)``."""
    extra = attached(attributes, tags)
    step = _files.upload(current_pool(), conf, path, local_path, mode, progress, extra)
    return await run_async(step)


@contextlib.contextmanager
def get_object_view(
    path: str, conf: StoreConfig, **options: Unpack[ReadOptions]
) -> Iterator[memoryview]:
    """A read-only view of the object in the worker's shared memory, without a copy; the memory is
    given back when the block ends, after which the view raises ``ValueError`` on use:
    ``with get_object_view("a.csv", conf) as view: total = sum(view)``."""
    conn, region, size = run_sync(_get.view(current_pool(), conf, path, conditions(options)))
    with _lease(conn, region, size) as view:
        yield view


@contextlib.asynccontextmanager
async def get_object_view_async(
    path: str, conf: StoreConfig, **options: Unpack[ReadOptions]
) -> AsyncIterator[memoryview]:
    """The async twin of :func:`get_object_view`:
    ``async with get_object_view_async("a.csv", conf) as view: total = sum(view)``."""
    step = _get.view(current_pool(), conf, path, conditions(options))
    conn, region, size = await run_async(step)
    with _lease(conn, region, size) as view:
        yield view


@contextlib.contextmanager
def _lease(conn: Connection, region: Region, size: int) -> Iterator[memoryview]:
    view = conn.arena.read(region, size).toreadonly()
    collected = False
    try:
        yield view
    except GeneratorExit:
        collected = True  # a block never left, closed by the garbage collector
        raise
    finally:
        view.release()
        if collected:
            later(lambda: conn.arena.release(region))  # no lock inside a finalizer
        else:
            conn.arena.release(region)


def put_object(
    path: str, data: Buffer, conf: StoreConfig, *, mode: PutMode = "overwrite",
    attributes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    """Stores ``data`` (any bytes-like) atomically and returns its size. ``mode="create"`` fails with
    ``AlreadyExistsError`` if the key exists; ``mode=UpdateVersion(e_tag)`` fails with
    ``PreconditionFailedError`` if the object changed; a backend that cannot do either raises
    ``NotSupportedError``. ``attributes`` (``Content-Type`` and the other standard headers, or user
    metadata) and ``tags`` go with the object where the store keeps them, else
    ``NotSupportedError``: ``put_object("a.csv", data, conf, attributes={"Content-Type":
    "text/csv"})``."""
    extra = attached(attributes, tags)
    view = _sinks.readable_view(data)
    fill = _put.fill_from(view)
    return run_sync(_put.write(current_pool(), conf, path, len(view), fill, mode, None, extra))


async def put_object_async(
    path: str, data: Buffer, conf: StoreConfig, *, mode: PutMode = "overwrite",
    attributes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    """The async twin of :func:`put_object`:
    ``n = await put_object_async("a.csv", data, conf, mode="create")``."""
    extra = attached(attributes, tags)
    view = _sinks.readable_view(data)
    fill = _put.fill_from(view)
    return await run_async(
        _put.write(current_pool(), conf, path, len(view), fill, mode, None, extra)
    )


def delete_object(path: str, conf: StoreConfig) -> None:
    """Deletes the object at ``path``. A key that is not there is no error on S3 or ``memory://``
    but a ``NotFoundError`` on ``file://``, as each backend answers (``bulk_delete_objects``
    skips it everywhere): ``delete_object("a.csv", conf)``."""
    run_sync(_meta.delete(current_pool(), conf, path))


async def delete_object_async(path: str, conf: StoreConfig) -> None:
    """The async twin of :func:`delete_object`: ``await delete_object_async("a.csv", conf)``."""
    await run_async(_meta.delete(current_pool(), conf, path))


def head_object(path: str, conf: StoreConfig, **options: Unpack[ReadOptions]) -> ObjectMeta:
    """The object's metadata, under the same conditions as a read:
    ``meta = head_object("a.csv", conf, if_modified_since=since)``."""
    return run_sync(_meta.head(current_pool(), conf, path, conditions(options)))


async def head_object_async(
    path: str, conf: StoreConfig, **options: Unpack[ReadOptions]
) -> ObjectMeta:
    """The async twin of :func:`head_object`: ``meta = await head_object_async("a.csv", conf)``."""
    return await run_async(_meta.head(current_pool(), conf, path, conditions(options)))


def list_objects(prefix: str, conf: StoreConfig, *, offset: str | None = None) -> ListIterator:
    """Every object whose key starts with ``prefix`` (a plain string prefix), in key order, as pages
    arrive; with ``offset``, only keys after it. ``close()`` stops early:
    ``for meta in list_objects("logs/", conf, offset="logs/2026-01"): print(meta.path)``."""
    return ListIterator(current_pool(), prefix, conf, offset)


def list_objects_async(
    prefix: str, conf: StoreConfig, *, offset: str | None = None
) -> AsyncListIterator:
    """The async twin of :func:`list_objects`:
    ``async for meta in list_objects_async("logs/", conf): ...``."""
    return AsyncListIterator(current_pool(), prefix, conf, offset)


def list_with_delimiter(prefix: str, conf: StoreConfig) -> ListResult:
    """One level of a "directory": the objects directly under ``prefix``'s directory whose keys
    start with ``prefix`` (a plain string prefix, as ``list_objects`` has it), and the common
    prefixes below it, each in key order:
    ``top = list_with_delimiter("data/", conf); top.common_prefixes  # ["data/year=2026"]``."""
    return run_sync(_list.one_level(current_pool(), conf, prefix))


async def list_with_delimiter_async(prefix: str, conf: StoreConfig) -> ListResult:
    """The async twin of :func:`list_with_delimiter`:
    ``top = await list_with_delimiter_async("data/", conf)``."""
    return await run_async(_list.one_level(current_pool(), conf, prefix))


def list_objects_stream(prefix: str, conf: StoreConfig, *, offset: str | None = None) -> ListStream:
    """The listing of ``list_objects`` in chunks of at most ``max_entries_per_chunk()`` metas:
    ``next_chunk()`` (None at the end), ``finish()`` to stop early, or iterate over it:
    ``s = list_objects_stream("logs/", conf); chunk = s.next_chunk(); s.finish()``."""
    return ListStream(current_pool(), prefix, conf, offset)


def list_objects_stream_async(
    prefix: str, conf: StoreConfig, *, offset: str | None = None
) -> AsyncListStream:
    """The async twin of :func:`list_objects_stream`:
    ``async for chunk in list_objects_stream_async("logs/", conf): ...``."""
    return AsyncListStream(current_pool(), prefix, conf, offset)


def bulk_delete_objects(paths: Iterable[str], conf: StoreConfig) -> list[BulkDeleteFailure]:
    """Deletes many keys, batched the way the backend allows; returns the keys that failed, with
    their errors (empty on success). A key that was already gone is not a failure:
    ``failed = bulk_delete_objects(keys, conf); assert not failed, failed[0].error``."""
    return run_sync(_meta.bulk_delete(current_pool(), conf, list(paths)))


async def bulk_delete_objects_async(
    paths: Iterable[str], conf: StoreConfig
) -> list[BulkDeleteFailure]:
    """The async twin of :func:`bulk_delete_objects`:
    ``failed = await bulk_delete_objects_async(keys, conf)``."""
    return await run_async(_meta.bulk_delete(current_pool(), conf, list(paths)))


def copy_object(src: str, dst: str, conf: StoreConfig, *, overwrite: bool = True) -> None:
    """Copies within the store; with ``overwrite=False`` an existing ``dst`` is an
    ``AlreadyExistsError`` (or ``NotSupportedError`` where the backend cannot check atomically):
    ``copy_object("a.csv", "backup/a.csv", conf, overwrite=False)``."""
    run_sync(_meta.copy(current_pool(), conf, "copy", src, dst, overwrite))


async def copy_object_async(
    src: str, dst: str, conf: StoreConfig, *, overwrite: bool = True
) -> None:
    """The async twin of :func:`copy_object`:
    ``await copy_object_async("a.csv", "b.csv", conf)``."""
    await run_async(_meta.copy(current_pool(), conf, "copy", src, dst, overwrite))


def rename_object(src: str, dst: str, conf: StoreConfig, *, overwrite: bool = True) -> None:
    """Moves within the store (a copy then a delete where the backend has no rename);
    ``overwrite=False`` as for ``copy_object``: ``rename_object("b.csv", "c.csv", conf)``."""
    run_sync(_meta.copy(current_pool(), conf, "rename", src, dst, overwrite))


async def rename_object_async(
    src: str, dst: str, conf: StoreConfig, *, overwrite: bool = True
) -> None:
    """The async twin of :func:`rename_object`:
    ``await rename_object_async("b.csv", "c.csv", conf)``."""
    await run_async(_meta.copy(current_pool(), conf, "rename", src, dst, overwrite))


def get_object_stream(
    path: str,
    conf: StoreConfig,
    *,
    decompress: str | None = None,
    progress: Progress | None = None,
    **options: Unpack[ReadOptions],
) -> ObjectStreamReader:
    """A readable binary file object over the object, decompressed in the worker when
    ``decompress`` is "gzip", "deflate", "zlib" or "zstd"; its ``meta`` is the object's. Close it
    (or use ``with``):
    ``with get_object_stream("a.csv.gz", conf, decompress="gzip") as f: header = f.readline()``."""
    check_codec(decompress)
    reader, meta = run_sync(
        get_stream(current_pool(), conf, path, decompress, progress, conditions(options))
    )
    return ObjectStreamReader(ObjectReader(reader, meta), buffer_size=READ_CHUNK)


async def get_object_stream_async(
    path: str,
    conf: StoreConfig,
    *,
    decompress: str | None = None,
    progress: Progress | None = None,
    **options: Unpack[ReadOptions],
) -> AsyncObjectReader:
    """The async twin of :func:`get_object_stream`: ``async with await
    get_object_stream_async("a.gz", conf, decompress="gzip") as f: data = await f.read()``."""
    check_codec(decompress)
    reader, meta = await run_async(
        get_stream(current_pool(), conf, path, decompress, progress, conditions(options))
    )
    return AsyncObjectReader(reader, meta)


def put_object_stream(
    path: str,
    conf: StoreConfig,
    *,
    compress: str | None = None,
    progress: Progress | None = None,
    attributes: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> ObjectWriter:
    """A writable binary file object; ``close()`` stores the object atomically, ``cancel()`` drops
    it. Compressed in the worker when ``compress`` names a codec. ``attributes`` and ``tags`` as
    ``put_object`` takes them; leaving a ``with`` block by an exception cancels:
    ``with put_object_stream("a.csv.zst", conf, compress="zstd") as f: f.write(b"1,2")``."""
    check_codec(compress)
    extra = attached(attributes, tags)
    step = put_stream(current_pool(), conf, path, compress, progress, extra)
    return ObjectWriter(run_sync(step))


async def put_object_stream_async(
    path: str,
    conf: StoreConfig,
    *,
    compress: str | None = None,
    progress: Progress | None = None,
    attributes: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> AsyncObjectWriter:
    """The async twin of :func:`put_object_stream`: ``async with await
    put_object_stream_async("a.zst", conf, compress="zstd") as f: await f.write(data)``."""
    check_codec(compress)
    extra = attached(attributes, tags)
    step = put_stream(current_pool(), conf, path, compress, progress, extra)
    return AsyncObjectWriter(await run_async(step))


async def stream_copy_async(
    src: str, src_conf: StoreConfig, dst: str, dst_conf: StoreConfig, *,
    progress: Progress | None = None, attributes: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    """Copies an object to another store, streamed in bounded memory; nothing is stored unless all
    of it arrived. Returns the size. (Within one store, ``copy_object`` copies server-side.)"""
    reader = await get_object_stream_async(src, src_conf, progress=progress)
    try:
        writer = await put_object_stream_async(dst, dst_conf, attributes=attributes)
        async with writer:
            while chunk := await reader.read(STREAM_COPY_CHUNK):
                await writer.write(chunk)
    finally:
        await reader.close()
    return reader.meta.size


STREAM_COPY_CHUNK = 8 * 1024 * 1024


def sign_url(method: str, path: str, expires_in: float | timedelta, conf: StoreConfig) -> str:
    """A pre-signed URL that lets a plain HTTP client ``GET`` or ``PUT`` the object at ``path`` for
    ``expires_in`` (seconds, or a ``timedelta``), made with the store's credentials: S3's query
    signature, an Azure service SAS (with the account key), a GCS signed URL (with a service
    account). A store that cannot sign (``memory://``, ``file://``, ``http(s)://``) raises
    ``NotSupportedError``. An Azure PUT must send ``x-ms-blob-type: BlockBlob``:
    ``url = sign_url("GET", "report.csv", 3600, conf); urllib.request.urlopen(url).read()``."""
    return run_sync(_signing.sign(current_pool(), conf, method, path, expires_in))


async def sign_url_async(
    method: str, path: str, expires_in: float | timedelta, conf: StoreConfig
) -> str:
    """The async twin of :func:`sign_url`:
    ``url = await sign_url_async("GET", "a.csv", 600, conf)``."""
    return await run_async(_signing.sign(current_pool(), conf, method, path, expires_in))


def invalidate_config(conf: StoreConfig | None = None) -> None:
    """Drops what was built for ``conf``, as RustyObjectStore.jl's ``invalidate_config``: the
    credentials its default chain found and, in every worker, its HTTP client and the
    credentials object_store fetched. The next call resolves and builds them anew, so keys
    rotated in the environment, a profile or a metadata service are picked up. With no
    argument, every worker drops every built store (memory stores keep their objects), and the
    metadata-service probes are forgotten; configuration objects resolve their chain again only
    when passed here themselves.

    ``invalidate_config(conf)`` after ``os.environ["AWS_SECRET_ACCESS_KEY"] = new``."""
    if conf is not None and not isinstance(conf, _StoreConfig):
        raise TypeError(f"expected a store configuration or None, got {type(conf).__name__}")
    spec = None if conf is None else conf._forget_spec()
    if conf is None:
        forget_probes()
    elif spec is None:
        return  # never used: nothing was resolved or built
    pool = running_pool()
    if pool is not None:
        for connection in pool.connections:
            connection.invalidate(spec)


def current_metrics() -> Metrics:
    """Counters of the running pool, per worker and in total: requests by operation, bytes in and
    out, failures by kind, HTTP requests and retries, calls in flight, worker restarts:
    ``retries = current_metrics().total.retries``."""
    return run_sync(_metrics.metrics(current_pool()))


async def current_metrics_async() -> Metrics:
    """The async twin of :func:`current_metrics`: ``metrics = await current_metrics_async()``."""
    return await run_async(_metrics.metrics(current_pool()))
