"""One level of a "directory": ``list_with_delimiter``, the objects directly under a prefix and the
common prefixes below it, gathered from the worker's pages."""

from __future__ import annotations

from dataclasses import dataclass

from rustyobjectstore._config import StoreConfig
from rustyobjectstore._errors import ProtocolError
from rustyobjectstore._ops.calls import call, list_cursor, list_objects_of, retry_on_crash, route
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.steps import Step

PAGE_ENTRIES = 5000  # objects and prefixes per answer: far below the frame limit


@dataclass(frozen=True)
class ListResult:
    """``objects``: the objects directly under the prefix's "directory" whose keys start with the
    prefix; ``common_prefixes``: the "subdirectories" there, as keys without the trailing ``/``
    (``"data/year=2026"``). Each in key order:
    ``for sub in list_with_delimiter("data/", conf).common_prefixes: print(sub)``."""

    objects: list[ObjectMeta]
    common_prefixes: list[str]


def one_level(pool: Pool, conf: StoreConfig, prefix: str) -> Step[ListResult]:
    return (
        yield from retry_on_crash(pool, lambda: _one_level_once(pool, conf, prefix), write=False)
    )


def _one_level_once(pool: Pool, conf: StoreConfig, prefix: str) -> Step[ListResult]:
    conn, store = route(pool, conf, prefix)
    message = codec.list_start(store, prefix, PAGE_ENTRIES, delimiter=True)
    response = yield from call(conn, message, "list", prefix)
    objects: list[ObjectMeta] = []
    prefixes: list[str] = []
    while True:
        cursor = list_cursor(response)
        objects += list_objects_of(response)
        found = response.get("prefixes", [])
        if not isinstance(found, list) or not all(isinstance(p, str) for p in found):
            raise ProtocolError(f"bad list prefixes {found!r}")
        prefixes += found
        if cursor is None:
            return ListResult(objects, prefixes)
        response = yield from call(conn, codec.cursor_op("list_next", cursor), "list", prefix)
