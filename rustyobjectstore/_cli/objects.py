"""The commands on one object, and ``rm``: ``cat`` (to standard output), ``pipe`` (standard input
to an object), ``stat``, ``presign``; ``rm`` of one object, a tree or what wildcards match, in
batches of the store's bulk delete."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import BinaryIO, TextIO

from rustyobjectstore._api import (
    bulk_delete_objects_async,
    delete_object_async,
    get_object_stream,
    head_object,
    put_object_stream,
    sign_url,
)
from rustyobjectstore._cli.locations import CLIError, parse_url, remote_tree
from rustyobjectstore._cli.patterns import Filters
from rustyobjectstore._cli.progress import Progress
from rustyobjectstore._cli.sources import remote_entries
from rustyobjectstore._cli.transfers import InFlight, Report
from rustyobjectstore._redact import hide_query

COPY_CHUNK = 8 * 1024 * 1024
#: Keys per bulk delete: S3's DeleteObjects takes 1,000 (the worker splits what a store takes
#: fewer of).
DELETE_BATCH = 1000


def write_all(out: BinaryIO, data: bytes) -> None:
    """Writes every byte. A buffered write can report a short count instead of raising (a pipe whose
    reader went away after taking part of it): write the rest, which then raises."""
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written:]
    out.flush()


def pump(read: Callable[[int], bytes], write: Callable[[bytes], object]) -> None:
    """Copies in chunks until ``read`` returns nothing: memory stays bounded."""
    while chunk := read(COPY_CHUNK):
        write(chunk)


def cat(url: str, options: dict[str, str]) -> None:
    target = parse_url(url, options)
    with get_object_stream(target.require_key(), target.config) as reader:
        pump(reader.read, lambda chunk: write_all(sys.stdout.buffer, chunk))


def pipe(url: str, options: dict[str, str], attributes: dict[str, str] | None = None) -> None:
    """Standard input to the object, stored whole when the input ends (not at all if it fails),
    with a Content-Type guessed from its name unless one is given."""
    target = parse_url(url, options)
    key = target.require_key()
    attributes = target.attributes_for(key, attributes or {})
    with put_object_stream(key, target.config, attributes=attributes) as writer:
        pump(sys.stdin.buffer.read, writer.write)


def stat(url: str, options: dict[str, str], out: TextIO, as_json: bool = False) -> None:
    target = parse_url(url, options)
    meta = head_object(target.require_key(), target.config)
    fields: dict[str, object] = {
        "path": meta.path,
        "size": meta.size,
        "last_modified": meta.last_modified.isoformat(timespec="microseconds"),
        "e_tag": meta.e_tag,
        "version": meta.version,
    }
    attributes = dict(meta.attributes or {})
    if as_json:
        out.write(json.dumps({**fields, "attributes": attributes}) + "\n")
    else:
        for name, value in fields.items():
            out.write(f"{name}: {'-' if value is None else value}\n")
        for name, value in attributes.items():
            out.write(f"attribute {name}: {value}\n")
    out.flush()


def presign(url: str, options: dict[str, str], out: TextIO, method: str, expires: float) -> None:
    target = parse_url(url, options)
    out.write(sign_url(method, target.require_key(), timedelta(seconds=expires), target.config))
    out.write("\n")
    out.flush()


async def rm(
    url: str, options: dict[str, str], out: TextIO | None, *, recursive: bool, filters: Filters,
    dryrun: bool, workers: int, quiet: bool,
) -> Report:  # fmt: skip
    """Deletes the object, or with ``-r`` or wildcards every object that matches, in batches sent
    ``workers`` at a time. An object already gone is not a failure (as S3 has it)."""
    target = parse_url(url, options)
    tree = remote_tree(target, recursive)
    report = Report()
    if tree is None:
        key = target.require_key()
        if not dryrun:
            await delete_object_async(key, target.config)
        report.done = 1
        if out is not None and not quiet:
            out.write(f"{'(dryrun) ' if dryrun else ''}rm {hide_query(url)}\n")
        return report
    progress = Progress(hide_query(url), quiet=quiet)

    async def batch(keys: list[str]) -> None:
        failed = {} if dryrun else {
            f.path: f.error for f in await bulk_delete_objects_async(keys, target.config)
        }  # fmt: skip
        for key in keys:
            line = f"{'(dryrun) ' if dryrun else ''}rm {hide_query(target.at(key).text)}"
            if key in failed:
                report.failures.append((line, str(failed[key])))
                continue
            report.done += 1
            if out is not None and not quiet:
                progress.write(line, out)
            progress.finished()

    keys: list[str] = []
    found = False
    try:
        # A batch of keys per bulk delete, a few batches at once.
        async with InFlight(max(1, workers // 16)) as flight:
            async for entry in remote_entries(target, tree, filters):
                found = True
                progress.planned(0)
                keys.append(entry.where)
                if len(keys) == DELETE_BATCH:
                    await flight.start(functools.partial(batch, keys))
                    keys = []
            if keys:
                await flight.start(functools.partial(batch, keys))
    finally:
        progress.close()
    if not found:
        raise CLIError(f"{hide_query(url)}: nothing matches")
    return report
