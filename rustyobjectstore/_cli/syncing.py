"""``sync``: make a destination tree hold what the source tree holds, copying only what differs,
as ``aws s3 sync`` decides it: an entry is copied when the destination lacks it, its size
differs, or the source's is newer (``--size-only``: the size alone; ``--exact-timestamps``: any
difference in time). ``--delete`` removes what the source does not have. A download takes the
object's last-modified time, so that the next sync finds the two alike."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TextIO

from rustyobjectstore._api import delete_object_async
from rustyobjectstore._cli.copying import Copier, TransferOptions, options_for, run_shown
from rustyobjectstore._cli.locations import (
    CLIError,
    ObjectURL,
    Tree,
    UsageError,
    is_url,
    parse_url,
    with_slash,
)
from rustyobjectstore._cli.patterns import Filters
from rustyobjectstore._cli.sources import Entry, local_entries, remote_entries
from rustyobjectstore._cli.transfers import Job, Report
from rustyobjectstore._redact import hide_query


@dataclass(frozen=True)
class SyncRules:
    size_only: bool = False
    exact_timestamps: bool = False
    delete: bool = False

    def differs(self, src: Entry, dst: Entry) -> bool:
        if src.size != dst.size:
            return True
        if self.size_only:
            return False
        if self.exact_timestamps:
            return int(src.modified.timestamp()) != int(dst.modified.timestamp())
        # Whole seconds: a local file system or a listing may keep less than the other.
        return int(src.modified.timestamp()) > int(dst.modified.timestamp())


async def _entries(url: ObjectURL | None, path: str, filters: Filters) -> AsyncIterator[Entry]:
    if url is not None:
        async for entry in remote_entries(url, Tree(with_slash(url.key) if url.key else "", None),
                                          filters):  # fmt: skip
            yield entry
        return
    if os.path.isdir(path):
        for entry in local_entries(Tree(with_slash(path), None), filters):
            yield entry


async def sync(src: str, dst: str, opts: TransferOptions, rules: SyncRules, out: TextIO) -> Report:
    if not is_url(src) and not is_url(dst):
        raise UsageError("at least one of SRC and DST must be an object URL")
    source = parse_url(src, options_for(src, dst, opts.options)) if is_url(src) else None
    target = parse_url(dst, options_for(dst, src, opts.options)) if is_url(dst) else None
    if source is None and not os.path.isdir(src):
        raise CLIError(f"{src}: not a directory")
    copier = Copier(opts, move=False, keep_times=True)
    # The destination as it is: every name, with its size and time.
    present = {entry.name: entry async for entry in _entries(target, dst, opts.filters)}

    async def jobs() -> AsyncIterator[Job]:
        seen: set[str] = set()
        async for entry in _entries(source, src, opts.filters):
            seen.add(entry.name)
            there = present.get(entry.name)
            if there is not None and not rules.differs(entry, there):
                continue
            yield copier.entry(source, entry, target, dst)
        if rules.delete:
            for name, entry in present.items():
                if name not in seen:
                    yield _deletion(target, entry)

    return await run_shown(jobs(), hide_query(src), opts, out)


def _deletion(target: ObjectURL | None, entry: Entry) -> Job:
    async def work(_moved: Callable[[int, int | None], None]) -> int:
        if target is not None:
            await delete_object_async(entry.where, target.config)
        else:
            os.remove(entry.where)
        return 0

    where = hide_query(target.at(entry.where).text) if target is not None else entry.where
    return Job(f"delete {where}", 0, work)
