"""What a write attaches to an object besides its bytes: ``attributes`` (the headers a read answers
with, and user metadata) and ``tags``. Every write function takes both::

    put_object("a.csv", data, conf, attributes={"Content-Type": "text/csv", "owner": "etl"},
               tags={"team": "data"})
    head_object("a.csv", conf).attributes  # {"Content-Type": "text/csv", "owner": "etl"}

In ``attributes``, the names ``Cache-Control``, ``Content-Disposition``, ``Content-Encoding``,
``Content-Language`` and ``Content-Type`` (in any case) are those headers; every other name is user
metadata (``x-amz-meta-*``, ``x-ms-meta-*``, ``x-goog-meta-*``). Clouds keep metadata names in
lowercase, so they are lowercased here on every store, and read back that way. Values travel as HTTP
headers: printable ASCII only (percent-encode anything else). A store that cannot keep one of them
raises ``NotSupportedError`` naming it, and stores nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rustyobjectstore._worker.codec import Message

STANDARD = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
            "Content-Type")  # fmt: skip
_CANONICAL = {name.lower(): name for name in STANDARD}
# RFC 9110's token: what a header name (and so a metadata name) may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


class Attributes(Mapping[str, str]):
    """An object's attributes as a read answers them (``ObjectMeta.attributes``): the standard
    headers under their canonical names (``"Content-Type"``), user metadata in lowercase. Immutable
    and hashable, like the ``ObjectMeta`` that holds it. What a store sets by itself shows too (S3
    and Azure answer every read with a ``Content-Type``):
    ``kind = head_object("a.csv", conf).attributes.get("Content-Type")``."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items or {})

    def __getitem__(self, name: str) -> str:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Attributes({self._items!r})"


@dataclass(frozen=True)
class Attached:
    """A write's attributes and tags, checked and in their wire form."""

    attributes: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    def fields(self) -> Message:
        """The fields of the request that starts the write (``put``, ``multipart_start``,
        ``write_open``); none when there is nothing to attach."""
        wire: Message = {}
        if self.attributes:
            wire["attributes"] = dict(self.attributes)
        if self.tags:
            wire["tags"] = dict(self.tags)
        return wire


NOTHING = Attached()


def attached(attributes: Mapping[str, str] | None, tags: Mapping[str, str] | None) -> Attached:
    """The write functions' ``attributes`` and ``tags``, checked before anything is sent."""
    if not attributes and not tags:
        return NOTHING
    named: dict[str, str] = {}
    for name, value in _pairs(attributes, "attributes"):
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"attribute name {name!r} is not a valid HTTP header name")
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"attribute {name!r} has a value that is not printable ASCII, which "
                             f"an HTTP header cannot carry: {value!r} (percent-encode it)")  # fmt: skip
        key = _CANONICAL.get(name.lower(), name.lower())
        if key in named:
            raise ValueError(f"attribute {key!r} is given twice (names are case-insensitive)")
        named[key] = value
    labels = dict(_pairs(tags, "tags"))
    return Attached(tuple(named.items()), tuple(labels.items()))


def _pairs(given: Mapping[str, str] | None, what: str) -> list[tuple[str, str]]:
    if given is None:
        return []
    if not isinstance(given, Mapping):
        raise TypeError(f"{what} must be a mapping of str to str, got {type(given).__name__}")
    pairs = list(given.items())
    for name, value in pairs:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} names must be non-empty strs, got {name!r}")
        if not isinstance(value, str):
            raise TypeError(f"{what}[{name!r}] must be a str, got {type(value).__name__}")
    return pairs


def from_wire(attributes: Any) -> Attributes:
    """A meta's ``attributes`` map (protocol.md section 5)."""
    if not isinstance(attributes, dict):
        raise TypeError("attributes must be a map")
    if not all(type(k) is str and type(v) is str for k, v in attributes.items()):
        raise TypeError("attribute names and values must be strs")
    return Attributes(attributes)
