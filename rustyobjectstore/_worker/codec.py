"""The frame codec, mirrored by ``worker/src/codec.rs``. ``protocol.md`` is the contract: change it
first, then both codecs, then ``tests/vectors/``.

A frame is a 4-byte big-endian length and one msgpack map. The decoder rejects an over-limit length
before it buffers the body.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

import msgpack

PROTOCOL_VERSION = 3
MAX_FRAME = 4 * 1024 * 1024
MAX_LIST_PAGE = 10_000

_HEADER = struct.Struct(">I")

Message = dict[str, Any]


class FrameError(Exception):
    """The byte stream broke the framing rules: nothing after this point can be trusted."""


_packers = threading.local()


def encode_frame(message: Message) -> bytes:
    # A packer per thread, kept: ``packb`` builds a new one (and its buffer) for every frame.
    packer: msgpack.Packer | None = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    body: bytes = packer.pack(message)
    if len(body) > MAX_FRAME:
        raise FrameError(f"a {len(body)}-byte frame is over the {MAX_FRAME}-byte limit")
    return _HEADER.pack(len(body)) + body


class FrameDecoder:
    """Bytes in, whole messages out."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        pos = 0
        while len(buffer) - pos >= 4:
            (length,) = _HEADER.unpack_from(buffer, pos)
            if length == 0 or length > self._max_frame:
                raise FrameError(f"frame length {length} is outside 1..{self._max_frame}")
            end = pos + 4 + length
            if end > len(buffer):
                break
            try:
                # timestamp=3: a msgpack timestamp (a list page's last_modified) becomes an
                # aware UTC datetime, made in C.
                message = msgpack.unpackb(buffer[pos + 4 : end], raw=False, timestamp=3)
            except Exception as exc:  # msgpack raises several unrelated types
                raise FrameError(f"undecodable frame: {type(exc).__name__}: {exc}") from None
            if not isinstance(message, dict):
                raise FrameError(f"a frame holds {type(message).__name__}, not a map")
            messages.append(message)
            pos = end
        del buffer[:pos]
        return messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buffer)


Region = tuple[int, int]


def register(
    store: int,
    url: str,
    options: dict[str, str],
    client: dict[str, Any],
    retry: dict[str, Any],
    credentials: int | None = None,
) -> Message:
    message: Message = {
        "op": "register",
        "store": store,
        "url": url,
        "options": options,
        "client": client,
        "retry": retry,
    }
    if credentials is not None:
        message["credentials"] = credentials
    return message


def credentials(provider: int, fields: dict[str, Any]) -> Message:
    """A provider's newest value: ``{"aws": {...}}`` or ``{"bearer": token}``."""
    return {"op": "credentials", "provider": provider, **fields}


def get(
    store: int,
    path: str,
    region: Region,
    *,
    whole: bool,
    range: tuple[int, int | None] | None = None,
    suffix: int | None = None,
    when: Message | None = None,
) -> Message:
    """``range`` is ``(start, end)`` or ``(start, None)``, to the end; ``suffix`` the last bytes;
    ``when``: the conditions' fields (``Conditions.first()`` or ``.pinned()``)."""
    message: Message = {
        "op": "get",
        "store": store,
        "path": path,
        "region": list(region),
        "whole": whole,
    }
    if range is not None:
        message["range"] = list(range)
    if suffix is not None:
        message["suffix"] = suffix
    if when:
        message.update(when)
    return message


def download(
    store: int, path: str, temp: str, target: str, limit: int, *, fsync: bool,
    when: Message | None = None,
) -> Message:  # fmt: skip
    """The object into the new file ``temp``, renamed over ``target`` once whole; at most ``limit``
    bytes are written by this request (protocol.md)."""
    message: Message = {
        "op": "download",
        "store": store,
        "path": path,
        "temp": temp,
        "target": target,
        "limit": limit,
        "fsync": fsync,
    }
    if when:
        message.update(when)
    return message


def download_part(
    store: int, path: str, file: str, target: str, range: tuple[int, int], when: Message
) -> Message:
    """Bytes ``range`` of the object into the existing ``file`` at the same offsets (the rest of
    a big download, into the temp file its first request handed over)."""
    message: Message = {
        "op": "download_part",
        "store": store,
        "path": path,
        "file": file,
        "target": target,
        "range": list(range),
    }
    message.update(when)
    return message


def download_many(store: int, files: list[list[str]], *, fsync: bool) -> Message:
    """Each ``[key, temp, target]`` of ``files`` as ``download`` does it, each written whole."""
    return {"op": "download_many", "store": store, "files": files, "fsync": fsync}


def upload_many(store: int, files: list[Message], *, mode: str | None, limit: int) -> Message:
    """Each ``{"file", "path"}`` of ``files`` (with what ``attached`` gives its object) read
    whole by the worker, at most ``limit`` bytes, and stored by one put; ``mode``: "overwrite"
    (``None``) or "create"."""
    message: Message = {"op": "upload_many", "store": store, "files": files, "limit": limit}
    if mode is not None:
        message["mode"] = mode
    return message


def path_op(op: str, store: int, path: str, fields: Message | None = None) -> Message:
    """``head`` (whose ``fields`` are a read's conditions, ``Conditions.first()``) and
    ``delete``."""
    message: Message = {"op": op, "store": store, "path": path}
    if fields:
        message.update(fields)
    return message


def put(
    store: int,
    path: str,
    region: Region,
    mode: str | None = None,
    e_tag: str | None = None,
    version: str | None = None,
    attached: Message | None = None,
) -> Message:
    """``attached``: the write's attributes and tags (``Attached.fields()``)."""
    message: Message = {"op": "put", "store": store, "path": path, "region": list(region)}
    if mode is not None:
        message["mode"] = mode
    if e_tag is not None:
        message["e_tag"] = e_tag
    if version is not None:
        message["version"] = version
    if attached:
        message.update(attached)
    return message


def multipart_start(store: int, path: str, size: int | None, attached: Message) -> Message:
    """``attached``: a write's attributes, ``Attached.fields()``. ``size``: the object's, where
    the uploader knows it (a store that keeps what it is given then gathers it in one buffer)."""
    message: Message = {"op": "multipart_start", "store": store, "path": path}
    if size is not None:
        message["size"] = size
    message.update(attached)
    return message


def multipart_part(upload: int, region: Region) -> Message:
    return {"op": "multipart_part", "upload": upload, "region": list(region)}


def upload_op(op: str, upload: int) -> Message:
    """``multipart_complete`` and ``multipart_abort``."""
    return {"op": op, "upload": upload}


def list_start(
    store: int, prefix: str, page: int, offset: str | None = None, *, delimiter: bool = False
) -> Message:
    """``delimiter``: one level only, objects and common prefixes."""
    message: Message = {"op": "list", "store": store, "prefix": prefix, "page": page}
    if offset is not None:
        message["offset"] = offset
    if delimiter:
        message["delimiter"] = True
    return message


def cursor_op(op: str, cursor: int) -> Message:
    """``list_next`` and ``list_close``."""
    return {"op": op, "cursor": cursor}


def bulk_delete(store: int, paths: list[str]) -> Message:
    return {"op": "bulk_delete", "store": store, "paths": paths}


def copy(op: str, store: int, from_path: str, to_path: str, overwrite: bool) -> Message:
    """``copy`` and ``rename``."""
    return {"op": op, "store": store, "from": from_path, "to": to_path, "overwrite": overwrite}


def stream_open(
    op: str, store: int, path: str, codec: str | None = None, fields: Message | None = None
) -> Message:
    """``read_open`` (whose ``fields`` are a read's conditions) and ``write_open`` (whose
    ``fields`` are a write's attributes and tags)."""
    message: Message = {"op": op, "store": store, "path": path}
    if codec is not None:
        message["codec"] = codec
    if fields:
        message.update(fields)
    return message


def sign(store: int, path: str, method: str, expires_secs: int) -> Message:
    return {"op": "sign", "store": store, "path": path, "method": method,
            "expires_secs": expires_secs}  # fmt: skip


def stream_chunk(op: str, stream: int, region: Region) -> Message:
    """``read_next`` and ``write_chunk``."""
    return {"op": op, "stream": stream, "region": list(region)}


def stream_op(op: str, stream: int) -> Message:
    """``read_close``, ``write_finish`` and ``write_abort``."""
    return {"op": op, "stream": stream}


def metrics() -> Message:
    return {"op": "metrics"}


def ping() -> Message:
    return {"op": "ping"}


def invalidate(store: int | None) -> Message:
    """Asks the worker to drop the built store ``store`` (every one when None)."""
    return {"op": "invalidate"} if store is None else {"op": "invalidate", "store": store}


def cancel(target: int) -> Message:
    """Asks the worker to stop request ``target``, which still gets its one response."""
    return {"op": "cancel", "target": target}
