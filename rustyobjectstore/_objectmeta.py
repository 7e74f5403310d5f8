"""``ObjectMeta``: what a head or a listing says of one object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from rustyobjectstore._errors import ProtocolError

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_new = object.__new__


@dataclass(frozen=True)
class ObjectMeta:
    path: str
    size: int
    last_modified: datetime
    e_tag: str | None
    version: str | None

    @classmethod
    def from_wire(cls, meta: Any) -> ObjectMeta:
        try:
            made = _new(cls)
            # A listing builds one per entry: filling the fields' dict directly costs a third of
            # what the frozen dataclass's __init__ (a guarded setattr per field) does. (With
            # slots=True there would be no __dict__: this would have to change.)
            made.__dict__.update(
                path=str(meta["path"]),
                size=int(meta["size"]),
                last_modified=_EPOCH + timedelta(0, 0, int(meta["last_modified"]) // 1000),
                e_tag=meta.get("e_tag"),
                version=meta.get("version"),
            )
            return made
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ProtocolError(f"malformed object metadata {meta!r}: {exc}") from None


@dataclass(frozen=True)
class UpdateVersion:
    """``put_object(..., mode=UpdateVersion(e_tag))``: write only if the object is still at this
    version (its ``e_tag`` and/or ``version`` from ``head_object``), else ``PreconditionFailedError``."""

    e_tag: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if self.e_tag is None and self.version is None:
            raise ValueError("UpdateVersion needs an e_tag or a version")
