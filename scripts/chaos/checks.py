"""Judging what a call returned, and the state after the run, against the ledger."""

from __future__ import annotations

import math

import rustyobjectstore as ros
from chaos.ledger import ABSENT, Ledger, Write
from chaos.payload import HEADER, make_payload, parse_payload
from chaos.stats import Stats
from chaos.store import StoreConf


class Checker:
    """Each check records what it finds wrong in ``stats``, under the problem's kind."""

    def __init__(self, ledger: Ledger, stats: Stats) -> None:
        self.ledger = ledger
        self.stats = stats

    def check_written(self, key: str, n: int, size: int) -> None:
        if n != size:
            self.stats.problem("unexpected errors", f"put {key}: returned {n}, wrote {size} bytes")

    def check_content(
        self, op: str, key: str, data: bytes | bytearray | memoryview, rs: float, re: float
    ) -> None:
        version = parse_payload(key, data)
        if version is None:
            self.stats.problem(
                "corrupt reads", f"{op} {key}: {len(data)} bytes fail their checksum"
            )
            return
        found = self.ledger.lookup(version)
        if found is None or found[0] != key:
            self.stats.problem("corrupt reads", f"{op} {key}: version {version} never written here")
            return
        if found[1] not in self.ledger.allowed(key, rs, re):
            self.stats.problem("stale reads", f"{op} {key}: version {version} was superseded")

    def check_absent(self, op: str, key: str, rs: float, re: float) -> bool:
        if any(w.size == ABSENT for w in self.ledger.allowed(key, rs, re)):
            return True
        self.stats.problem("stale reads", f"{op} {key}: not found, but an acknowledged write is")
        return False

    def check_size(self, op: str, key: str, size: int, rs: float, re: float) -> None:
        allowed = {w.size for w in self.ledger.allowed(key, rs, re)}
        if size not in allowed:
            self.stats.problem("stale reads", f"{op} {key}: size {size}, allowed {sorted(allowed)}")

    def check_range(
        self, key: str, start: int, end: int, data: bytes, rs: float, re: float
    ) -> None:
        allowed = [w for w in self.ledger.allowed(key, rs, re) if w.size != ABSENT]
        for w in allowed:
            if make_payload(key, w.version, w.size - HEADER.size)[start:end] == data:
                return
        for w in self.ledger.written(key):
            if make_payload(key, w.version, w.size - HEADER.size)[start:end] == data:
                self.stats.problem(
                    "stale reads", f"range {key}: [{start}, {end}) of superseded v{w.version}"
                )
                return
        self.stats.problem(
            "corrupt reads", f"range {key}: [{start}, {end}) ({len(data)} bytes) matches no write"
        )

    def check_listing(
        self, prefix: str, entries: list[tuple[str, int]], rs: float, re: float
    ) -> None:
        listed = dict(entries)
        known = [k for k in self.ledger.keys() if k.startswith(prefix)]
        for path in listed.keys() - set(known):
            self.stats.problem("corrupt reads", f"list {prefix}: {path} was never written")
        for key in known:
            if key in listed:
                self.check_size("list_objects", key, listed[key], rs, re)
            else:
                self.check_absent("list_objects", key, rs, re)

    # - running one call -

    def verify(self, conf: StoreConf, prefix: str) -> None:
        """Every key read back with no kills: the last acknowledged state (or a later unacknowledged
        one) must be there, intact; and the listing of ``prefix`` (the run's) must agree."""
        for key in self.ledger.keys():
            allowed = self.ledger.allowed(key, math.inf, math.inf)
            try:
                data = ros.get_object(key, conf)
            except ros.NotFoundError:
                if not any(w.size == ABSENT for w in allowed):
                    self._lost(key, allowed, "not found")
                continue
            version = parse_payload(key, data)
            if version is None:
                self.stats.problem("corrupt reads", f"final read of {key}: fails its checksum")
                self._lost(key, allowed, "corrupt")
            elif not any(w.version == version for w in allowed):
                self._lost(key, allowed, f"holds version {version}")
        listing = ros.list_objects(prefix, conf)
        try:
            listed = {m.path: m.size for m in listing}
        finally:
            listing.close()
        self.check_listing(prefix, list(listed.items()), math.inf, math.inf)

    def _lost(self, key: str, allowed: list[Write], what: str) -> None:
        expected = ", ".join(f"v{w.version or 'delete'}{'' if w.acked else '?'}" for w in allowed)
        self.stats.problem("acknowledged writes lost", f"{key}: {what}; expected one of {expected}")
