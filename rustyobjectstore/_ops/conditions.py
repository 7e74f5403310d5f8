"""The conditions a read can carry (object_store's ``GetOptions``): which version of the object to
read, and when not to read it. Every read function takes them as keyword arguments::

    data = get_object("a.csv", conf, if_none_match=etag)  # NotModifiedError if still at etag
    old = get_object("a.csv", conf, version=meta.version)  # that version (S3, Azure, GCS)

A read made of several requests (parts, ranges, a reader's blocks) checks the conditions on its
first request; the later ones are pinned to that answer's e_tag (and to ``version``), so the read
stays on the version the conditions admitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any, TypedDict

from rustyobjectstore._worker.codec import Message

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class ReadOptions(TypedDict, total=False):
    """The keyword arguments of every read function (a ``TypedDict``, for type checkers):
    ``data = get_object("a.csv", conf, if_match=meta.e_tag)``."""

    if_match: str
    """Read only if the object's e_tag is this one (or one of these, comma-separated), else
    ``PreconditionFailedError``."""
    if_none_match: str
    """Read only if the object's e_tag is not this one, else ``NotModifiedError`` (``"*"``: any)."""
    if_modified_since: datetime
    """Read only if the object changed after this moment, else ``NotModifiedError``."""
    if_unmodified_since: datetime
    """Read only if the object did not change after this moment, else
    ``PreconditionFailedError``."""
    version: str
    """Read this version of the object (``ObjectMeta.version``); ``NotSupportedError`` on a store
    that keeps none (``memory://``, ``file://``)."""


@dataclass(frozen=True)
class Conditions:
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    version: str | None = None

    def first(self) -> Message:
        """The fields of a read's first request: every condition."""
        wire: Message = {}
        for name in _NAMES:
            value = getattr(self, name)
            if value is not None:
                wire[name] = _nanos(value) if isinstance(value, datetime) else value
        return wire

    def pinned(self, e_tag: str | None) -> Message:
        """The fields of a later request of the same read: the version the first answer had."""
        wire: Message = {}
        if e_tag is not None:
            wire["if_match"] = e_tag
        if self.version is not None:
            wire["version"] = self.version
        return wire


NONE = Conditions()
_NAMES = tuple(f.name for f in fields(Conditions))
_DATES = ("if_modified_since", "if_unmodified_since")


def conditions(options: Mapping[str, Any]) -> Conditions:
    """The read functions' keyword arguments, checked before anything is sent."""
    if not options:
        return NONE
    unknown = sorted(set(options) - set(_NAMES))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)}; a read takes "
                        f"{', '.join(_NAMES)}")  # fmt: skip
    for name, value in options.items():
        if value is None:
            continue
        if name in _DATES:
            if not isinstance(value, datetime):
                raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime (tzinfo=timezone.utc), "
                                 f"got the naive {value!r}")  # fmt: skip
            if not -(2**63) <= _nanos(value) < 2**63:
                raise ValueError(f"{name} must lie between the years 1678 and 2262, got {value}")
        elif not isinstance(value, str) or not value:
            raise TypeError(f"{name} must be a non-empty str, got {value!r}")
    return Conditions(**options)


def _nanos(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND * 1000
