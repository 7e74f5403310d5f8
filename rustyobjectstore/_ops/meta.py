"""What is not a transfer: ``head``, ``delete``, ``bulk_delete``, and ``copy`` / ``rename`` within
one store."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import (
    ObjectStoreError,
    error_from_wire,
)
from rustyobjectstore._ops.calls import call, crash_retried, route
from rustyobjectstore._ops.conditions import Conditions
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import Message
from rustyobjectstore._worker.connection import response_field
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step


@crash_retried(write=False)
def head(pool: Pool, conf: StoreConfig, path: str, when: Conditions) -> Step[ObjectMeta]:
    conn, store = yield from route(pool, conf, path)
    message = codec.path_op("head", store, path, when.first())
    response = yield from call(conn, message, "head", path)
    return ObjectMeta.from_wire(response_field(response, "meta"))


@crash_retried(write=True)
def delete(pool: Pool, conf: StoreConfig, path: str) -> Step[None]:
    conn, store = yield from route(pool, conf, path)
    yield from call(conn, codec.path_op("delete", store, path), "delete", path)


@crash_retried(write=True)
def copy(pool: Pool, conf: StoreConfig, op: str, src: str, dst: str, overwrite: bool) -> Step[None]:
    """``copy`` or ``rename`` within one store."""
    conn, store = yield from route(pool, conf, src, dst)
    yield from call(conn, codec.copy(op, store, src, dst, overwrite), op, src)


@dataclass(frozen=True)
class BulkDeleteFailure:
    """A key that ``bulk_delete_objects`` could not delete (``path``), and why (``error``, an
    ``ObjectStoreError``): ``for f in bulk_delete_objects(keys, conf): print(f.path, f.error)``."""

    path: str
    error: ObjectStoreError


BULK_DELETE_BATCH = 1000  # keeps a frame far below the frame limit


@crash_retried(write=True)
def bulk_delete(pool: Pool, conf: StoreConfig, paths: list[str]) -> Step[list[BulkDeleteFailure]]:
    conn, store = yield from route(pool, conf, *paths)
    batches = [paths[i : i + BULK_DELETE_BATCH] for i in range(0, len(paths), BULK_DELETE_BATCH)]
    calls = [
        conn.request(codec.bulk_delete(store, batch), "bulk_delete", None) for batch in batches
    ]
    try:
        responses: list[Message] = yield list[Future[Any]](calls)
    except BaseException:
        for call_ in calls:
            conn.give_up(call_)
        raise
    failures = []
    for response in responses:
        for entry in response_field(response, "failed"):
            path = str(entry.get("path"))
            failures.append(
                BulkDeleteFailure(path, error_from_wire(entry.get("error"), "delete", path))
            )
    return failures
