"""``ObjectMeta``: what a head or a listing says of one object.

No ``from __future__ import annotations`` here: a named tuple's ``__new__`` keeps its annotations
as strings that nothing outside this module can resolve (the API reference would show them
unresolved), so they are evaluated when the class is made.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import repeat
from typing import Any, NamedTuple

from rustyobjectstore._errors import ProtocolError
from rustyobjectstore._ops import attributes as _attributes
from rustyobjectstore._ops.attributes import Attributes

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_COLUMNS = ("path", "size", "last_modified", "e_tag", "version")
_make = tuple.__new__
_STR = {str}
_DATETIME = {datetime}
_INT = {int}
_STR_OR_NONE = {str, type(None)}


class ObjectMeta(NamedTuple):
    """One object: its key, size in bytes, last modification (UTC), the version tokens a
    conditional write or read names (``e_tag``, and ``version`` where the store keeps versions),
    and the ``attributes`` a read answers with: ``head_object``, the readers and streams fill them
    (``rustyobjectstore._ops.attributes``); a listing does not carry them, so there they are ``None``:
    ``meta = head_object("a.csv", conf); print(meta.size, meta.last_modified, meta.e_tag)``.

    A named tuple: listings build one per key, and a tuple is the cheapest immutable object
    Python makes (a frozen dataclass costs twice as much)."""

    path: str
    size: int
    last_modified: datetime
    e_tag: str | None
    version: str | None
    attributes: Attributes | None = None

    @classmethod
    def from_wire(cls, meta: Any) -> "ObjectMeta":
        """One meta map (protocol.md section 5)."""
        try:
            path, size = meta["path"], meta["size"]
            e_tag, version = meta.get("e_tag"), meta.get("version")  # absent: nil
            if not (type(path) is str and type(size) is int):
                raise TypeError("path must be a str and size an int")
            if not (type(e_tag) in _STR_OR_NONE and type(version) in _STR_OR_NONE):
                raise TypeError("e_tag and version must be str or nil")
            modified = _EPOCH + timedelta(0, 0, int(meta["last_modified"]) // 1000)
            attributes = meta.get("attributes")
            if attributes is not None:
                attributes = _attributes.from_wire(attributes)
            return _make(cls, (path, size, modified, e_tag, version, attributes))
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise ProtocolError(f"malformed object metadata {meta!r}: {exc}") from None

    @classmethod
    def from_columns(cls, objects: Any) -> "list[ObjectMeta]":
        """A listing page: one array per field, the n-th entries of all five making one meta. The
        loops run in C (``map``), which is what makes a listing cheap per entry; the frame decoder
        has already made the ``last_modified`` timestamps datetimes."""
        try:
            paths, sizes, times, e_tags, versions = (objects[c] for c in _COLUMNS)
            columns = (paths, sizes, times, e_tags, versions)
            if not all(type(c) is list and len(c) == len(paths) for c in columns):
                raise TypeError("the columns must be arrays of one length")
            if not (set(map(type, paths)) <= _STR and set(map(type, sizes)) <= _INT):
                raise TypeError("paths must be strs and sizes ints")
            if not set(map(type, times)) <= _DATETIME:
                raise TypeError("last_modified must be timestamps")
            if not set(map(type, e_tags)) | set(map(type, versions)) <= _STR_OR_NONE:
                raise TypeError("e_tags and versions must be strs or nil")
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"malformed listing page: {exc}") from None
        return list(
            map(_make, repeat(cls), zip(paths, sizes, times, e_tags, versions, repeat(None)))
        )


@dataclass(frozen=True)
class UpdateVersion:
    """``put_object(..., mode=UpdateVersion(e_tag))``: write only if the object is still at this
    version (its ``e_tag`` and/or ``version`` from ``head_object``), else ``PreconditionFailedError``."""

    e_tag: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if self.e_tag is None and self.version is None:
            raise ValueError("UpdateVersion needs an e_tag or a version")
