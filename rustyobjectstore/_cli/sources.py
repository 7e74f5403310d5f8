"""What a source names: one object or file, or the entries of a tree (a listing under a prefix,
or a walk under a local directory), each with its name relative to the tree's base, filtered by
the tree's pattern and ``--include`` / ``--exclude``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from rustyobjectstore._api import list_objects_async
from rustyobjectstore._cli.locations import ObjectURL, Tree
from rustyobjectstore._cli.patterns import Filters, glob_regex


@dataclass(frozen=True)
class Entry:
    """An object or file of a source: ``name`` relative to the tree's base (a single source's is
    its base name), ``where`` its key or local path."""

    name: str
    where: str
    size: int
    modified: datetime  # UTC

    @classmethod
    def of_file(cls, name: str, path: str) -> Entry:
        stat = os.stat(path)
        return cls(name, path, stat.st_size, datetime.fromtimestamp(stat.st_mtime, timezone.utc))


async def remote_entries(url: ObjectURL, tree: Tree, filters: Filters) -> AsyncIterator[Entry]:
    """The objects under ``tree.base`` that match, as the listing pages arrive. Keys ending in
    ``/`` (the "directory" markers some tools write) are not objects to copy."""
    regex = glob_regex(tree.pattern) if tree.pattern is not None else None
    async for meta in list_objects_async(tree.base, url.config):
        name = meta.path[len(tree.base) :]
        if not name or name.endswith("/") or not meta.path.startswith(tree.base):
            continue
        if regex is not None and not regex.fullmatch(name):
            continue
        if filters.admits(name):
            yield Entry(name, meta.path, meta.size, meta.last_modified)


def local_entries(tree: Tree, filters: Filters) -> Iterator[Entry]:
    """The files under the directory ``tree.base`` that match, in a stable order (links to
    directories are not followed; a link to a file is its file)."""
    regex = glob_regex(tree.pattern) if tree.pattern is not None else None
    # A pattern without "**" reaches only so deep: no need to walk below that.
    depth = None
    if tree.pattern is not None and "**" not in tree.pattern:
        depth = tree.pattern.count("/")
    root = tree.base
    for directory, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirs.sort()
        if depth is not None and rel_dir.count("/") >= depth:
            dirs.clear()
        for file in sorted(files):
            name = rel_dir + file
            path = os.path.join(directory, file)
            if regex is not None and not regex.fullmatch(name):
                continue
            if not filters.admits(name) or not os.path.isfile(path):
                continue
            yield Entry.of_file(name, path)
