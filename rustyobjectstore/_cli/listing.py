"""``ls`` and ``du``: what is under a URL, one level or every key below it, or matching its
wildcards; as ``aws s3 ls`` prints it, in JSON lines, or summed up."""

from __future__ import annotations

import json
from typing import TextIO

from rustyobjectstore._api import list_with_delimiter_async
from rustyobjectstore._cli.locations import Tree, parse_url, remote_tree
from rustyobjectstore._cli.patterns import Filters, split_at_wildcard
from rustyobjectstore._cli.sources import remote_entries
from rustyobjectstore._cli.transfers import human_size
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._redact import hide_query


def _size(n: int, human: bool) -> str:
    return human_size(n) if human else str(n)


def _json(meta: ObjectMeta) -> str:
    return json.dumps({
        "key": meta.path, "size": meta.size,
        "last_modified": meta.last_modified.isoformat(), "e_tag": meta.e_tag,
        "version": meta.version,
    })  # fmt: skip


async def ls(
    url: str, options: dict[str, str], out: TextIO, *, recursive: bool = False,
    human: bool = False, summarize: bool = False, as_json: bool = False,
    filters: Filters | None = None,
) -> None:  # fmt: skip
    """One level ('PRE NAME/' for each common prefix, then 'SIZE LAST_MODIFIED NAME', names
    relative to the URL's directory); with ``recursive`` or wildcards, every key that matches,
    whole; with ``summarize``, the count and total at the end."""
    target = parse_url(url, options)
    filters = filters or Filters()
    count = total = 0
    _, pattern = split_at_wildcard(target.key)
    if not recursive and pattern is None:
        level = await list_with_delimiter_async(target.key, target.config)
        directory = target.key[: target.key.rfind("/") + 1]  # what the names are relative to
        for prefix in level.common_prefixes:
            if not as_json:
                out.write(f"{'PRE':>12}  {prefix[len(directory) :]}/\n")
        for meta in level.objects:
            if not filters.admits(meta.path[len(directory) :]):
                continue
            count, total = count + 1, total + meta.size
            if as_json:
                out.write(_json(meta) + "\n")
            else:
                name = meta.path[len(directory) :]
                out.write(f"{_size(meta.size, human):>12}  {_iso(meta)}  {name}\n")
    else:
        tree = remote_tree(target, True)
        assert tree is not None
        # ls -r lists keys by prefix, as 'aws s3 ls --recursive' does: 'logs/2026-' too.
        base = tree.base if pattern is not None else target.key
        async for entry in remote_entries(target, Tree(base, tree.pattern), filters):
            count, total = count + 1, total + entry.size
            if as_json:
                out.write(json.dumps({"key": entry.where, "size": entry.size,
                                      "last_modified": entry.modified.isoformat()}) + "\n")  # fmt: skip
            else:
                stamp = entry.modified.isoformat(timespec="seconds")
                out.write(f"{_size(entry.size, human):>12}  {stamp}  {entry.where}\n")
    if summarize:
        out.write(f"\nTotal Objects: {count}\n   Total Size: {_size(total, human)}\n")
    out.flush()


async def du(
    url: str, options: dict[str, str], out: TextIO, *, human: bool = False,
    filters: Filters | None = None,
) -> None:  # fmt: skip
    """The total size and count of the objects under the URL (every key below it, or matching its
    wildcards)."""
    target = parse_url(url, options)
    tree = remote_tree(target, True)
    assert tree is not None
    _, pattern = split_at_wildcard(target.key)
    base = tree.base if pattern is not None else target.key
    count = total = 0
    async for entry in remote_entries(target, Tree(base, tree.pattern), filters or Filters()):
        count, total = count + 1, total + entry.size
    amount = human_size(total) if human else f"{total} bytes"
    objects = "object" if count == 1 else "objects"
    out.write(f"{amount} in {count} {objects}: {hide_query(url)}\n")
    out.flush()


def _iso(meta: ObjectMeta) -> str:
    return meta.last_modified.isoformat(timespec="seconds")
