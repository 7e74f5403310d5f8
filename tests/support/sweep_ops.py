"""Every operation the library offers, each as one call that runs it to its end, and every way a
server refuses, for the refusal sweep (``test_sweep.py``) and the exit test (``test_exit.py``).

Each takes a store configuration and a scratch directory and works on the key ``KEY`` (and
``OTHER``). It imports nothing of pytest's: ``exit_child.py`` runs it on interpreters that have only the
library. Nothing is asserted here: a refusal is raised to the caller, so that each case can say
which typed error it expects. ``bulk_delete_objects`` reports failures instead of raising; its case
raises the first one it reports, so it can be judged like the rest.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from faultserver import Behaviour, CutShort, Reset, Stall, Status

import rustyobjectstore as ros
from rustyobjectstore._config import StoreConfig

KEY = "k"
OTHER = "k2"
MiB = 1024 * 1024
# Above the multipart threshold (10 MiB) and a write stream's buffer (10 MiB): a multipart upload.
BIG = os.urandom(11 * MiB)
SMALL = b"payload " * 12  # about 100 bytes: the write stream's single put

Operation = Callable[[StoreConfig, Path], object]


def fault_config(endpoint: str, **opts: float) -> StoreConfig:
    """An S3 store on the loopback fault server at ``endpoint``; ``opts`` go to ClientOptions."""
    options = {
        "region": "us-east-1",
        "access_key_id": "a",
        "secret_access_key": "s",
        "endpoint": endpoint,
        "allow_http": "true",
        "copy_if_not_exists": "multipart",
    }
    client = {"max_retries": 1, "initial_backoff_ms": 1, "max_backoff_ms": 5, **opts}
    return ros.Config("s3://bucket", options, ros.ClientOptions(**client))  # type: ignore[arg-type]


Expected = type[ros.ObjectStoreError] | None  # None: the operation succeeds


def _write_stream(data: bytes, compress: str | None = None) -> Operation:
    def run(conf: StoreConfig, scratch: Path) -> object:
        writer = ros.put_object_stream(KEY, conf, compress=compress)
        try:
            writer.write(data)
        except BaseException:
            writer.cancel()
            raise
        writer.close()
        return None

    return run


def _write_stream_async(conf: StoreConfig, scratch: Path) -> object:
    async def main() -> None:
        writer = await ros.put_object_stream_async(KEY, conf)
        try:
            await writer.write(SMALL)
        except BaseException:
            await writer.cancel()
            raise
        await writer.close()

    asyncio.run(main())
    return None


def _read_stream(decompress: str | None) -> Operation:
    def run(conf: StoreConfig, scratch: Path) -> object:
        with ros.get_object_stream(KEY, conf, decompress=decompress) as stream:
            return stream.read()

    return run


def _open_reader(conf: StoreConfig, scratch: Path) -> object:
    # Blocks far smaller than the object: the open's request, then ranged ones pinned to it.
    with ros.open_reader(KEY, conf, block_size=64) as reader:
        return reader.read()


def _open_reader_async(conf: StoreConfig, scratch: Path) -> object:
    async def main() -> bytes:
        async with await ros.open_reader_async(KEY, conf, block_size=64) as reader:
            return await reader.read()

    return asyncio.run(main())


def _put_from_file(data: bytes) -> Operation:
    def run(conf: StoreConfig, scratch: Path) -> object:
        source = scratch / f"upload-{len(data)}"
        source.write_bytes(data)
        return ros.put_object_from_file(KEY, source, conf)

    return run


def _get_into(conf: StoreConfig, scratch: Path) -> object:
    return ros.get_object_into(KEY, bytearray(64 * 1024), conf)


def _get_view(conf: StoreConfig, scratch: Path) -> object:
    with ros.get_object_view(KEY, conf) as view:
        return bytes(view)


def _list(conf: StoreConfig, scratch: Path) -> object:
    return list(ros.list_objects("", conf))


def _list_stream(conf: StoreConfig, scratch: Path) -> object:
    stream = ros.list_objects_stream("", conf)
    try:
        return list(stream)
    finally:
        stream.finish()


def _list_async(conf: StoreConfig, scratch: Path) -> object:
    async def main() -> list[ros.ObjectMeta]:
        return [meta async for meta in ros.list_objects_async("", conf)]

    return asyncio.run(main())


def _bulk_delete(conf: StoreConfig, scratch: Path) -> object:
    failures = ros.bulk_delete_objects([KEY, OTHER], conf)
    if failures:
        raise failures[0].error
    return None


OPERATIONS: dict[str, Operation] = {
    "put": lambda conf, scratch: ros.put_object(KEY, SMALL, conf),
    "put_multipart": lambda conf, scratch: ros.put_object(KEY, BIG, conf),
    "put_create": lambda conf, scratch: ros.put_object(KEY, SMALL, conf, mode="create"),
    "put_update": lambda conf, scratch: ros.put_object(
        KEY, SMALL, conf, mode=ros.UpdateVersion(e_tag='"0123"')
    ),
    "put_async": lambda conf, scratch: asyncio.run(ros.put_object_async(KEY, SMALL, conf)),
    "write_stream": _write_stream(SMALL),
    "write_stream_multipart": _write_stream(BIG),
    "write_stream_gzip": _write_stream(SMALL, "gzip"),
    "write_stream_zstd_multipart": _write_stream(BIG, "zstd"),
    "write_stream_async": _write_stream_async,
    "put_from_file": _put_from_file(SMALL),
    "put_from_file_multipart": _put_from_file(BIG),
    "get": lambda conf, scratch: ros.get_object(KEY, conf),
    "get_async": lambda conf, scratch: asyncio.run(ros.get_object_async(KEY, conf)),
    "get_into": _get_into,
    "get_range": lambda conf, scratch: ros.get_object_range(KEY, 2, 10, conf),
    "get_suffix": lambda conf, scratch: ros.get_object_range(KEY, -10, None, conf),
    "get_ranges": lambda conf, scratch: ros.get_object_ranges(
        KEY, [(20, 30), (0, 10)], conf, coalesce=0
    ),
    "get_view": _get_view,
    "get_to_file": lambda conf, scratch: ros.get_object_to_file(KEY, scratch / "download", conf),
    "read_stream": _read_stream(None),
    "read_stream_gzip": _read_stream("gzip"),
    "open_reader": _open_reader,
    "open_reader_async": _open_reader_async,
    "head": lambda conf, scratch: ros.head_object(KEY, conf),
    "list": _list,
    "list_stream": _list_stream,
    "list_async": _list_async,
    "list_one_level": lambda conf, scratch: ros.list_with_delimiter("", conf),
    "copy": lambda conf, scratch: ros.copy_object(KEY, OTHER, conf),
    "copy_if_absent": lambda conf, scratch: ros.copy_object(KEY, OTHER, conf, overwrite=False),
    "rename": lambda conf, scratch: ros.rename_object(KEY, OTHER, conf),
    "delete": lambda conf, scratch: ros.delete_object(KEY, conf),
    "bulk_delete": _bulk_delete,
}

# Every way a server refuses, as the loopback fault server plays it, and the error it means.
REFUSALS: dict[str, tuple[Behaviour, Expected]] = {
    "bad_request": (Status(400), ros.HTTPStatusError),
    "unauthenticated": (Status(401), ros.PermissionDeniedError),
    "wrong_key": (Status(403), ros.PermissionDeniedError),
    "missing_key": (Status(404), ros.NotFoundError),
    "missing_bucket": (Status(404, s3_code="NoSuchBucket"), ros.BucketNotFoundError),
    "precondition": (Status(412), ros.PreconditionFailedError),
    "conflict": (Status(409), ros.AlreadyExistsError),  # S3's answer to a conditional write race
    "server_error": (Status(503), ros.HTTPStatusError),
    "reset": (Reset(), ros.ObjectStoreConnectionError),
    "reset_mid_body": (CutShort(10, reset=True), ros.EarlyEOFError),
    "timeout": (Stall(20), ros.ObjectStoreTimeoutError),  # far past any client timeout used
}
