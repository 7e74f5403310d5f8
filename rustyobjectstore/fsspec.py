"""rustyobjectstore as an fsspec filesystem, for pandas, pyarrow, Dask, zarr and the rest of the
Python data stack.

Every method is a thin layer over the library's public operations (``head_object_async``,
``list_with_delimiter_async``, ``get_object_ranges_async``, ``open_reader``, ...): there is no
second I/O path. Stores have no directories, so a "directory" is a key prefix that some object
lies under, ``mkdir`` makes nothing (as s3fs has it), and an empty directory does not exist.

Two ways to make one:

- ``ObjectStoreFileSystem(conf)`` over one store configuration; paths are its keys:
  ``fs = ObjectStoreFileSystem(AWSConfig(...)); fs.ls("data")``.
- By protocol, with fsspec's ``storage_options`` (our field names, or s3fs's, gcsfs's and adlfs's
  spellings); paths start with the bucket (container), as with s3fs:
  ``fs = S3FileSystem(key=..., secret=..., endpoint_url=...); fs.cat_file("bucket/a.csv")``.
  The classes are ``fsspec.specs`` entry points under ``ros+s3``, ``ros+gs``, ``ros+az``,
  ``ros+file`` and ``ros+memory``; ``register()`` lets them serve ``s3://``, ``gs://``, ``az://``,
  ``abfs://``, ``file://`` and ``memory://`` too, so that
  ``pd.read_parquet("s3://bucket/t.parquet", storage_options={...})`` goes through this library.

Listings are cached only when asked (``use_listings_cache=True``); by default every call asks
the store. An instance pickles (Dask ships it to its workers) and keeps working after ``fork``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar

from fsspec.asyn import AsyncFileSystem, get_loop
from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.registry import register_implementation
from fsspec.utils import tokenize

from rustyobjectstore import _api as api
from rustyobjectstore._auth.schemes import AZURE, FSSPEC_PROTOCOLS, GCS, S3, cloud_of
from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import NotFoundError, NotSupportedError, ObjectStoreError
from rustyobjectstore._ops.lookahead import FOOTER_READ
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._storage_options import STORES, StoreOf
from rustyobjectstore._worker.lifetime import current_pool

__all__ = [
    "AzureBlobFileSystem",
    "GCSFileSystem",
    "LocalFileSystem",
    "MemoryFileSystem",
    "ObjectStoreFileSystem",
    "S3FileSystem",
    "register",
]

# Files opened through fsspec are mostly Parquet, ORC and zarr files, whose readers start at the
# footer and skip around: the open is a head (or, for Parquet, the footer's read), as s3fs's and
# obstore's are, not the first block, and blocks are smaller than open_reader's (8 MiB), so that
# a small read costs less. A scan (pyarrow reads a whole file in ranges of 32 MiB, back to back)
# keeps 32 MiB in flight ahead in requests of 4 MiB: at 20 ms of latency, a whole Parquet file
# read in 0.66 s against 0.82 s with 16 MiB in 2 MiB blocks, and 0.99 s with 64 MiB in 8 MiB.
BLOCK_SIZE = 4 * 1024 * 1024
READ_AHEAD = 8

# fsspec's cache types, all served by the library's block reader: the name only chooses how many
# blocks it reads ahead and keeps.
_NO_READ_AHEAD = {"none", "first"}
_CACHE_TYPES = {"none", "first", "bytes", "readahead", "blockcache", "background", "mmap",
                "all", "parts"}  # fmt: skip


HEAD_FRESH_SECS = 1.0
"""How long what a HEAD or a listing found serves the ``info`` calls of the same path that follow
it, and what a HEAD found, the opens (pyarrow lists a dataset, asks each file's info, one at a
time, asks again before each open, then opens it)."""
HEADS_KEPT = 100_000  # at most, however many a second's listings found
# Files read footer first: their open (or the info before it) reads the footer rather than heads
# the object, where a suffix range is one request (Azure's are two: a head, then the range).
FOOTER_FIRST = (".parquet", ".parq", ".pq")
TAIL_IN_ONE_REQUEST = (S3, GCS)


class ObjectStoreFileSystem(AsyncFileSystem):  # type: ignore[misc]
    """An fsspec filesystem over one store configuration (``config``), or, in the subclasses
    made per protocol, over every bucket of one kind of store."""

    protocol: ClassVar[str | tuple[str, ...]] = ("ros",)
    root_marker = ""
    #: The store kind of a per-protocol subclass (a key of ``_storage_options.STORES``).
    kind: ClassVar[str | None] = None
    # Paths of a per-protocol subclass start with the bucket; of the local ones, with "/".
    _bucketed: ClassVar[bool] = False
    # The instance cache keys on repr, which hides secrets: two configurations differing only in
    # a key would share an instance. Making a filesystem costs nothing here, so none is cached.
    cachable = False

    def __init__(
        self,
        config: StoreConfig | None = None,
        *,
        use_listings_cache: bool = False,
        listings_expiry_time: float | None = None,
        max_paths: int | None = None,
        asynchronous: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        batch_size: int | None = None,
        **storage_options: Any,
    ) -> None:
        if self.kind is None:
            if config is None:
                raise TypeError("ObjectStoreFileSystem needs a store configuration")
            if storage_options:
                raise TypeError(
                    f"storage options go with a protocol, not a configuration: "
                    f"{', '.join(sorted(storage_options))}"
                )
            fixed = config
            self._store_of: StoreOf = lambda _bucket: fixed
            spec = config.spec()
            material = repr((spec.url, spec.options, spec.client, spec.retry))
        else:
            if config is not None:
                raise TypeError(f"{type(self).__name__} is made from storage options")
            self._store_of = STORES[self.kind](storage_options)
            material = repr(sorted(storage_options.items()))
        super().__init__(
            use_listings_cache=use_listings_cache,
            listings_expiry_time=listings_expiry_time,
            max_paths=max_paths,
            asynchronous=asynchronous,
            loop=loop,
            batch_size=batch_size,
        )
        self._loop_pid = os.getpid()
        self._token: str = tokenize(type(self), hashlib.sha256(material.encode()).hexdigest())
        # What a HEAD just told of a file, for the infos and opens that come right after it: at a
        # cloud's latency each HEAD is a round trip waited for, and pyarrow makes three in a row.
        # Each with when it was heard, and whether an open may pin its reads to it: a listing's
        # e_tag is not always in the form a HEAD's is (Azure quotes only the HEAD's).
        self._heads: OrderedDict[str, tuple[ObjectMeta, float, bool]] = OrderedDict()

    @property
    def _fs_token(self) -> str:
        # fsspec's token (equality, hashing, Dask's keys) comes from the repr, which hides
        # secrets; ours covers them, hashed.
        return self._token

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        # fsspec refuses an instance inherited through fork; our pool starts afresh in the child,
        # and so does fsspec's own event loop thread, which is all the instance holds.
        if self._loop_pid != os.getpid():
            self._loop_pid = os.getpid()
            self._loop = None if self.asynchronous else get_loop()
        loop: asyncio.AbstractEventLoop | None = self._loop
        return loop

    # -- paths ----------------------------------------------------------------------------------

    def _split(self, path: str) -> tuple[StoreConfig, str]:
        """The store and key of a path."""
        path = self._strip_protocol(path)
        if self._bucketed:
            bucket, _, key = path.partition("/")
            if not bucket:
                raise NotSupportedError(f"{path!r} names no bucket; listing buckets is not offered")
            return self._store_of(bucket), key
        return self._store_of(""), path.lstrip("/")

    def _join(self, path: str, key: str) -> str:
        """The path of ``key``, in the store that ``path`` is in."""
        if self._bucketed:
            return f"{self._strip_protocol(path).partition('/')[0]}/{key}"
        return self.root_marker + key

    def _file_info(self, path: str, meta: ObjectMeta) -> dict[str, Any]:
        return {
            "name": self._join(path, meta.path),
            "size": meta.size,
            "type": "file",
            "mtime": meta.last_modified,
            # Without its quotes, as fsspec's checksum and ukey have always given it here.
            "e_tag": meta.e_tag.strip('"') if meta.e_tag else None,
            "version": meta.version,
        }

    def _heard(self, path: str, meta: ObjectMeta, listed: bool = False) -> None:
        heads = self._heads
        now = time.monotonic()
        heads.pop(path, None)
        heads[path] = (meta, now, not listed)
        # Oldest first: what is stale goes, so a big listing is not kept once it is of no use.
        while len(heads) > HEADS_KEPT or now - next(iter(heads.values()))[1] > HEAD_FRESH_SECS:
            heads.popitem(last=False)

    def _just_heard(self, path: str, pinnable: bool = False) -> ObjectMeta | None:
        """The version a HEAD (or, unless ``pinnable``, a listing) of ``path`` found at most
        ``HEAD_FRESH_SECS`` ago. An open it serves pins every read to it, so a change since is a
        ``PreconditionFailedError``, never bytes of two versions."""
        heard = self._heads.get(path)
        if heard is None or time.monotonic() - heard[1] > HEAD_FRESH_SECS:
            return None
        meta, _, from_head = heard
        return meta if from_head or not pinnable else None

    def _hint(self, path: str, key: str, options: Mapping[str, Any]) -> ObjectMeta | None:
        """The version a HEAD just found, for an open that names no version or condition."""
        unconditional = options.keys() <= {"block_size", "read_ahead", "fetch_first",
                                            "cache_blocks"}  # fmt: skip
        heard = self._just_heard(self._strip_protocol(path), pinnable=True)
        return heard if unconditional and heard is not None and heard.path == key else None

    def _listed(self, path: str, meta: ObjectMeta) -> dict[str, Any]:
        """A listing's entry, which serves the ``info`` calls that follow (pyarrow asks each file
        of a dataset it listed, one at a time: at a cloud's latency, a round trip each)."""
        info = self._file_info(path, meta)
        self._heard(info["name"], meta, listed=True)
        return info

    @staticmethod
    def _footer_first(conf: StoreConfig, key: str) -> bool:
        """Whether ``key`` names a file read from its footer, on a store where reading the footer
        costs no more requests than a head."""
        return (
            key.lower().endswith(FOOTER_FIRST) and cloud_of(conf.spec().url) in TAIL_IN_ONE_REQUEST
        )

    def _reading(
        self, path: str, conf: StoreConfig, key: str, block_size: int | str | None,
        cache_options: Mapping[str, Any] | None, kwargs: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        """``open_reader``'s options for an ``rb`` open: the version a HEAD just found, or else
        the footer read at once for a footer-first file."""
        options = _reader_options(block_size, cache_options, kwargs)
        # fsspec's block_size is a hint (s3fs's default is 50 MiB): one the arena cannot hold
        # twice is cut to what it can, where open_reader would refuse it.
        options["block_size"] = min(options["block_size"], current_pool().settings.arena_size // 2)
        options["meta"] = self._hint(path, key, options)
        if options["meta"] is None and self._footer_first(conf, key):
            options["fetch_tail"] = FOOTER_READ
        return options

    def _dir_info(self, name: str) -> dict[str, Any]:
        return {"name": name, "size": 0, "type": "directory"}

    def _is_root(self, path: str) -> bool:
        path = self._strip_protocol(path).strip("/")
        return path == "" or (self._bucketed and "/" not in path)

    # -- metadata -------------------------------------------------------------------------------

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        conf, key = self._split(path)
        if not key:
            # The bucket itself: listing it tells whether it exists.
            await api.list_with_delimiter_async("", conf)
            return self._dir_info(path)
        heard = None if kwargs else self._just_heard(path)
        if heard is not None and heard.path == key:
            return self._file_info(path, heard)
        try:
            if not kwargs and self._footer_first(conf, key):
                # The footer's read, which the open that follows then needs no request for.
                reader = await api.open_reader_async(key, conf, fetch_tail=FOOTER_READ,
                                                     read_ahead=0, cache_blocks=0)  # fmt: skip
                await reader.close()
                meta = reader.meta
            else:
                meta = await api.head_object_async(key, conf, **kwargs)
        except NotFoundError:
            pass
        else:
            if not kwargs:
                self._heard(path, meta)
            return self._file_info(path, meta)
        async for _ in api.list_objects_async(key.rstrip("/") + "/", conf):
            return self._dir_info(path)
        raise FileNotFoundError(path)

    async def _ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        try:
            entries = self.dircache[path]
        except KeyError:
            entries = await self._list_level(path)
            self.dircache[path] = entries
        return entries if detail else [e["name"] for e in entries]

    async def _list_level(self, path: str) -> list[dict[str, Any]]:
        conf, key = self._split(path)
        prefix = key.rstrip("/") + "/" if key else ""
        level = await api.list_with_delimiter_async(prefix, conf)
        entries = [self._dir_info(self._join(path, p)) for p in level.common_prefixes]
        entries += [self._listed(path, meta) for meta in level.objects]
        if entries or not key:
            return sorted(entries, key=lambda e: e["name"])
        # Not a directory: a file lists as itself, as fsspec has it.
        return [self._file_info(path, await api.head_object_async(key, conf))]

    async def _find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, **kwargs: Any
    ) -> Any:
        if maxdepth is not None:
            return await super()._find(path, maxdepth=maxdepth, withdirs=withdirs, **kwargs)
        detail = kwargs.pop("detail", False)
        path = self._strip_protocol(path)
        conf, key = self._split(path)
        prefix = key.rstrip("/") + "/" if key else ""
        found: dict[str, dict[str, Any]] = {}
        async for meta in api.list_objects_async(prefix, conf):
            info = self._listed(path, meta)
            found[info["name"]] = info
            if withdirs:
                # Every directory between the path and the object.
                parts = meta.path[len(prefix) :].split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    name = self._join(path, prefix + "/".join(parts[:depth]))
                    found.setdefault(name, self._dir_info(name))
        if found and withdirs and path:
            found.setdefault(path, self._dir_info(path))
        if not found and key:
            try:
                found[path] = self._file_info(path, await api.head_object_async(key, conf))
            except NotFoundError:
                pass
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    async def _isdir(self, path: str) -> bool:
        if self._is_root(path):
            return True
        conf, key = self._split(path)
        async for _ in api.list_objects_async(key.rstrip("/") + "/", conf):
            return True
        return False

    def modified(self, path: str) -> datetime:
        """When the object was last written (UTC)."""
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(path)
        return info["mtime"]  # type: ignore[no-any-return]

    def ukey(self, path: str) -> str:
        """The object's e_tag: it changes whenever the object does."""
        info = self.info(path)
        return str(info.get("e_tag") or tokenize(info["name"], info["size"], info.get("mtime")))

    def checksum(self, path: str) -> int:
        return int(hashlib.md5(self.ukey(path).encode(), usedforsecurity=False).hexdigest(), 16)

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        """A pre-signed GET URL valid for ``expiration`` seconds (``sign_url``)."""
        method = kwargs.pop("method", "GET")
        if kwargs:
            raise TypeError(f"sign() got unexpected arguments: {', '.join(sorted(kwargs))}")
        conf, key = self._split(path)
        return api.sign_url(method, key, expiration, conf)

    # -- reads ----------------------------------------------------------------------------------

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        conf, key = self._split(path)
        if start is None and end is None:
            return await api.get_object_async(key, conf, **kwargs)
        start = start or 0
        if end is None and start < 0:
            return await api.get_object_range_async(key, start, None, conf, **kwargs)
        if start < 0 or (end is not None and end < 0):
            size = (await api.head_object_async(key, conf, **kwargs)).size
            start, end = _absolute(start, end, size)
        return await api.get_object_range_async(key, start, end, conf, **kwargs)

    async def _cat_ranges(
        self,
        paths: list[str],
        starts: int | list[int | None] | None,
        ends: int | list[int | None] | None,
        max_gap: int | None = None,
        batch_size: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """Ranges of one object are fetched together, nearby ones in one request
        (``get_object_ranges``); objects run concurrently."""
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        n = len(paths)
        starts_ = list(starts) if isinstance(starts, Iterable) else [starts] * n
        ends_ = list(ends) if isinstance(ends, Iterable) else [ends] * n
        if len(starts_) != n or len(ends_) != n:
            raise ValueError("paths, starts and ends must be of one length")
        by_path: dict[str, list[int]] = {}
        for i, p in enumerate(paths):
            by_path.setdefault(self._strip_protocol(p), []).append(i)
        out: list[Any] = [None] * n

        async def one_object(path: str, indices: list[int]) -> None:
            try:
                conf, key = self._split(path)
                ranges = [(starts_[i], ends_[i]) for i in indices]
                if any(s is None or s < 0 or e is None or e < 0 for s, e in ranges):
                    size = (await api.head_object_async(key, conf)).size
                    ranges = [_absolute(s or 0, e, size) for s, e in ranges]
                got = await api.get_object_ranges_async(key, ranges, conf, **_coalesce(max_gap))  # type: ignore[arg-type]
                for i, data in zip(indices, got, strict=True):
                    out[i] = data
            except Exception as exc:
                for i in indices:
                    out[i] = exc

        await asyncio.gather(*(one_object(p, ix) for p, ix in by_path.items()))
        if on_error != "return":
            for item in out:
                if isinstance(item, Exception):
                    raise item
        return out

    async def _get_file(
        self, rpath: str, lpath: str, callback: Any = DEFAULT_CALLBACK, **kwargs: Any
    ) -> None:
        if os.path.isdir(lpath):
            return  # a directory: fsspec's get has made it, and objects have none
        conf, key = self._split(rpath)
        await api.get_object_to_file_async(key, lpath, conf, progress=_progress(callback), **kwargs)

    # -- writes ---------------------------------------------------------------------------------

    async def _pipe_file(
        self, path: str, value: Any, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        conf, key = self._split(path)
        await api.put_object_async(key, value, conf, mode=_put_mode(mode), **kwargs)
        self.invalidate_cache(path)

    async def _put_file(
        self, lpath: str, rpath: str, mode: str = "overwrite", callback: Any = DEFAULT_CALLBACK,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        if os.path.isdir(lpath):
            return  # stores have no directories: its files come on their own
        conf, key = self._split(rpath)
        await api.put_object_from_file_async(
            key, lpath, conf, mode=_put_mode(mode), progress=_progress(callback), **kwargs
        )
        self.invalidate_cache(rpath)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        src_conf, src = self._split(path1)
        dst_conf, dst = self._split(path2)
        try:
            if src_conf == dst_conf:
                await api.copy_object_async(src, dst, src_conf)
            else:
                await api.stream_copy_async(src, src_conf, dst, dst_conf)
        except ObjectStoreError:
            # A recursive copy lists directories too; their objects are copied one by one.
            if await self._isdir(path1):
                return
            raise
        self.invalidate_cache(path2)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        conf, key = self._split(path)
        await api.delete_object_async(key, conf)
        self.invalidate_cache(path)

    async def _rm(
        self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        """Bulk deletes, per store. A directory's objects go when ``recursive``; the directory
        then is gone too."""
        paths = await self._expand_path(path, recursive=recursive, maxdepth=maxdepth)
        # A name with another below it is a directory, not an object.
        dirs = {p.rsplit("/", i)[0] for p in paths for i in range(1, p.count("/") + 1)}
        leaves = [p for p in paths if p not in dirs]
        by_store: dict[StoreConfig, list[str]] = {}
        for p in leaves:
            conf, key = self._split(p)
            if key:
                by_store.setdefault(conf, []).append(key)
        results = await asyncio.gather(
            *(api.bulk_delete_objects_async(keys, conf) for conf, keys in by_store.items())
        )
        for p in paths:
            self.invalidate_cache(p)
        for failures in results:
            for failure in failures:
                raise failure.error
        self._remove_directories(p for p in paths if p in dirs)

    def _remove_directories(self, names: Iterable[str]) -> None:
        """Object stores have no directories to remove; local files do."""

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        pass  # a directory exists while an object lies under it

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        pass

    def invalidate_cache(self, path: str | None = None) -> None:
        # Every write through this filesystem comes here: what an info found before it is stale.
        self._heads.clear()
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        while path:
            self.dircache.pop(path, None)
            parent = self._parent(path)
            if parent == path:
                break
            path = parent
        self.dircache.pop(path, None)

    # -- files ----------------------------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | str | None = None,
        autocommit: bool = True,
        cache_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """``rb``: the library's seekable block reader (``open_reader``); ``wb``: its write
        stream (``put_object_stream``), stored when closed and dropped when a ``with`` block
        ends by an exception; ``xb`` likewise, after checking that nothing is at the path."""
        conf, key = self._split(path)
        if mode == "rb":
            options = self._reading(path, conf, key, block_size, cache_options, kwargs)
            return api.open_reader(key, conf, **options)
        writing = self._writing(path, mode, autocommit, kwargs)
        if mode == "xb" and self.exists(path):
            raise FileExistsError(path)
        self.invalidate_cache(path)
        return api.put_object_stream(key, conf, **writing)

    async def open_async(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """``_open`` for asyncio: ``AsyncRangeReader`` or ``AsyncObjectWriter``."""
        conf, key = self._split(path)
        block_size = kwargs.pop("block_size", None)
        cache_options = kwargs.pop("cache_options", None)
        if mode == "rb":
            options = self._reading(path, conf, key, block_size, cache_options, kwargs)
            return await api.open_reader_async(key, conf, **options)
        writing = self._writing(path, mode, kwargs.pop("autocommit", True), kwargs)
        if mode == "xb" and await self._exists(path):
            raise FileExistsError(path)
        self.invalidate_cache(path)
        return await api.put_object_stream_async(key, conf, **writing)

    def _writing(
        self, path: str, mode: str, autocommit: bool, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        if mode not in ("wb", "xb"):
            raise NotSupportedError(
                f"mode {mode!r} on {path!r}: objects are read ('rb') or written whole ('wb', 'xb')"
            )
        if not autocommit:
            raise NotSupportedError("transactions (autocommit=False) are not supported")
        known = {"attributes", "tags", "compress"}
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"open() got unexpected arguments: {', '.join(sorted(unknown))}")
        return kwargs

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "b" in mode or "r" in mode:
            return super().open(path, mode, **kwargs)
        # fsspec's text wrapper would store what a failed with block had written so far.
        text = {k: kwargs.pop(k) for k in ("encoding", "errors", "newline") if k in kwargs}
        binary = super().open(path, mode.replace("t", "") + "b", **kwargs)
        return _TextWriter(binary, **text)


class _TextWriter(io.TextIOWrapper):
    """Text written to an object; a with block that fails drops it, as the binary writer does."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        cancel = getattr(self.buffer, "cancel", None)
        if exc_type is not None and cancel is not None:
            cancel()
        super().__exit__(exc_type, exc, traceback)


def _absolute(start: int, end: int | None, size: int) -> tuple[int, int]:
    if start < 0:
        start = max(0, size + start)
    if end is None:
        end = size
    elif end < 0:
        end = max(0, size + end)
    return start, end


def _coalesce(max_gap: int | None) -> dict[str, int]:
    return {} if max_gap is None else {"coalesce": max_gap}


def _put_mode(mode: str) -> Any:
    if mode not in ("overwrite", "create"):
        raise ValueError(f"mode must be 'overwrite' or 'create', got {mode!r}")
    return mode


def _progress(callback: Any) -> Callable[[int, int | None], None] | None:
    if callback is DEFAULT_CALLBACK or callback is None:
        return None

    def report(done: int, total: int | None) -> None:
        if total is not None:
            callback.set_size(total)
        callback.absolute_update(done)

    return report


def _reader_options(
    block_size: int | str | None,
    cache_options: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """fsspec's ``block_size``, ``cache_type`` and ``cache_options`` as the block reader's."""
    cache_type = kwargs.pop("cache_type", "readahead")
    if cache_type not in _CACHE_TYPES:
        raise ValueError(f"unknown cache_type {cache_type!r} (known: {sorted(_CACHE_TYPES)})")
    options: dict[str, Any] = {"block_size": BLOCK_SIZE, "read_ahead": READ_AHEAD,
                               "fetch_first": False}  # fmt: skip
    if block_size is not None and block_size != "default":
        options["block_size"] = int(block_size)
    if cache_type in _NO_READ_AHEAD:
        options["read_ahead"] = 0
    maxblocks = (cache_options or {}).get("maxblocks")
    if maxblocks is not None:
        options["cache_blocks"] = int(maxblocks)
    conditions = {"version", "if_match", "if_none_match", "if_modified_since",
                  "if_unmodified_since"}  # fmt: skip
    unknown = set(kwargs) - conditions
    if unknown:
        raise TypeError(f"open() got unexpected arguments: {', '.join(sorted(unknown))}")
    options.update(kwargs)
    return options


class S3FileSystem(ObjectStoreFileSystem):
    """``s3://bucket/key`` (and S3-compatible servers) with s3fs's options: ``key``, ``secret``,
    ``token``, ``anon``, ``endpoint_url``, ``client_kwargs={"endpoint_url", "region_name"}``,
    or ``AWSConfig``'s field names."""

    protocol = ("ros+s3", *FSSPEC_PROTOCOLS[S3])
    kind = S3
    _bucketed = True


class GCSFileSystem(ObjectStoreFileSystem):
    """``gs://bucket/key`` with gcsfs's ``token`` (``"anon"``, a service-account key or its
    file), ``endpoint_url`` and ``project``, or ``GCSConfig``'s field names."""

    protocol = ("ros+gs", *FSSPEC_PROTOCOLS[GCS])
    kind = GCS
    _bucketed = True


class AzureBlobFileSystem(ObjectStoreFileSystem):
    """``az://container/key`` (``abfs://``) with adlfs's ``account_name``, ``account_key``,
    ``sas_token``, ``connection_string``, ``account_host`` and ``anon``, or ``AzureConfig``'s
    field names."""

    protocol = ("ros+az", *FSSPEC_PROTOCOLS[AZURE])
    kind = AZURE
    _bucketed = True


class _RootedFileSystem(ObjectStoreFileSystem):
    """Paths that start at "/": local files and memory."""

    root_marker = "/"

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return cls._rooted(super()._strip_protocol(path))

    @staticmethod
    def _rooted(path: str) -> str:
        return "/" + path.strip("/")


class LocalFileSystem(_RootedFileSystem):
    """Local files (``file:///abs/path``), through the worker's file store."""

    protocol = ("ros+file", "file", "local")
    kind = "file"

    @staticmethod
    def _rooted(path: str) -> str:
        from fsspec.implementations.local import make_path_posix

        posix: str = make_path_posix(path)  # relative paths made absolute, as fsspec's are
        return posix.rstrip("/") or "/"

    def _remove_directories(self, names: Iterable[str]) -> None:
        # The worker's file store deletes files and leaves their emptied directories behind,
        # which would go on being listed.
        for name in sorted(names, key=lambda n: n.count("/"), reverse=True):
            try:
                os.rmdir(name)
            except OSError:
                pass  # not empty (a file was written there meanwhile) or already gone


class MemoryFileSystem(_RootedFileSystem):
    """The worker's in-memory store (``memory://``): one per process, shared by its workers."""

    protocol = ("ros+memory", "memory")
    kind = "memory"


_BY_PROTOCOL: tuple[type[ObjectStoreFileSystem], ...] = (
    S3FileSystem, GCSFileSystem, AzureBlobFileSystem, LocalFileSystem, MemoryFileSystem,
)  # fmt: skip


def register(protocols: Iterable[str] | None = None) -> None:
    """Makes fsspec use this library for ``protocols`` (all of ``s3``, ``s3a``, ``gs``, ``gcs``,
    ``az``, ``abfs``, ``abfss``, ``file``, ``local`` and ``memory`` by default), replacing
    s3fs, gcsfs, adlfs and fsspec's own local and memory filesystems for this process:
    ``register(); pd.read_parquet("s3://bucket/t.parquet", storage_options={...})``."""
    classes = {name: cls for cls in _BY_PROTOCOL for name in cls.protocol}
    wanted = list(protocols) if protocols is not None else [
        n for n in classes if not n.startswith("ros+")
    ]  # fmt: skip
    for name in wanted:
        if name not in classes:
            raise ValueError(f"no filesystem for protocol {name!r} (known: {sorted(classes)})")
    for name in wanted:
        register_implementation(name, classes[name], clobber=True)
