"""``cp`` and ``mv``: one file or object, or a tree of them, between the local disk and stores or
between stores; in parallel, in bounded memory, each destination written whole or not at all."""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TextIO

from rustyobjectstore._api import (
    copy_object_async,
    delete_object_async,
    get_object_to_file_async,
    head_object_async,
    put_object_from_file_async,
    rename_object_async,
    stream_copy_async,
)
from rustyobjectstore._cli.batches import download_batches, upload_batches
from rustyobjectstore._cli.locations import (
    CLIError,
    ObjectURL,
    Tree,
    UsageError,
    is_url,
    local_tree,
    parse_url,
    remote_tree,
    with_slash,
)
from rustyobjectstore._cli.patterns import Filters
from rustyobjectstore._cli.progress import Progress
from rustyobjectstore._cli.sources import Entry, local_entries, remote_entries
from rustyobjectstore._cli.transfers import Job, Report, Skipped, run_jobs
from rustyobjectstore._errors import NotFoundError, NotSupportedError
from rustyobjectstore._ops.put import PutMode
from rustyobjectstore._redact import hide_query
from rustyobjectstore._worker.lifetime import current_pool


@dataclass(frozen=True)
class TransferOptions:
    """What every transfer command takes besides its sources and destination."""

    options: dict[str, str]
    recursive: bool = False
    filters: Filters = field(default_factory=Filters)
    dryrun: bool = False
    no_clobber: bool = False
    flatten: bool = False  # a tree's entries by their base names (cp and mv --flatten)
    workers: int = 64
    quiet: bool = False
    fsync: bool = False  # a download's bytes on disk before its rename (--fsync)
    display: bool = True  # the progress display, on a terminal (not in a batch's commands)
    #: Attributes of every object uploaded: --content-type, --cache-control, --metadata.
    attributes: dict[str, str] = field(default_factory=dict)


#: Files this small go up in batches, each read and stored by the worker; bigger ones one by one
#: (in parallel parts above the multipart threshold). A worker holds at most this much per file
#: it has in hand, so the files in flight bound its memory: 64 MiB at the default 64.
UPLOADS_BATCHED_BELOW = 1024 * 1024


def local_target(directory: str, name: str) -> str:
    """Where the entry ``name`` of a tree goes under ``directory``; never outside it (a key such
    as ``../x`` is refused)."""
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise CLIError(f"{name!r} would be written outside {directory!r}: not copied")
    return os.path.join(directory, *parts)


def key_under(prefix: str, name: str) -> str:
    """The key of the entry ``name`` of a tree copied under ``prefix`` (a directory's key)."""
    return (with_slash(prefix) if prefix else "") + name


def _basename(text: str) -> str:
    name = text.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise CLIError(f"{hide_query(text)!r} names no object")
    return name


class Copier:
    """Makes the job of each entry, for one source and one destination."""

    def __init__(self, opts: TransferOptions, move: bool, keep_times: bool = False) -> None:
        self.opts = opts
        self.move = move
        # A download takes the object's last-modified time (what sync compares next time).
        self.keep_times = keep_times
        self.verb = "mv" if move else "cp"
        # Local directories made for downloads: made once, not once per file (a tree of 10,000
        # files in 100 directories made 10,000 times, two system calls each).
        self.made: set[str] = set()
        self.downloads = download_batches(opts.fsync)
        # -n: a put that fails where the object exists, so a racing writer's object is kept too.
        self.put_mode: PutMode = "create" if opts.no_clobber else "overwrite"
        self.uploads = upload_batches(self.put_mode, UPLOADS_BATCHED_BELOW)

    @functools.cached_property
    def batched_below(self) -> int:
        """Objects this small go down in batches, each file written by the worker; bigger ones
        one by one, in parallel parts."""
        return current_pool().settings.multipart_get_threshold

    def entry(
        self, source: ObjectURL | None, entry: Entry, target: ObjectURL | None, dst: str
    ) -> Job:
        """The job of a tree's entry: to its place under the ``target`` prefix, or under the
        local directory ``dst`` (never outside it: that job fails, and it alone)."""
        if target is not None:
            to = target.at(key_under(target.key, entry.name))
            return self.between(source, entry, to) if source is not None else self.upload(entry, to)
        assert source is not None
        try:
            path = local_target(dst, entry.name)
        except CLIError as exc:
            return _refused(self.verb, source.at(entry.where).text, dst, exc)
        return self.download(source, entry, path)

    def upload(self, entry: Entry, dst: ObjectURL) -> Job:
        opts = self.opts
        attributes = dst.attributes_for(entry.name, opts.attributes)

        async def work(moved: Callable[[int, int | None], None]) -> int:
            if entry.size < UPLOADS_BATCHED_BELOW:
                size = await self.uploads.add((dst.key, entry.where, attributes), dst.config)
                moved(size, size)
            else:
                size = await put_object_from_file_async(
                    dst.key, entry.where, dst.config,
                    mode=self.put_mode, progress=moved,
                    attributes=attributes,
                )  # fmt: skip
            if self.move:
                os.remove(entry.where)
            return size

        return Job(f"{self.verb} {entry.where} {hide_query(dst.text)}", entry.size, work)

    def download(self, src: ObjectURL, entry: Entry, path: str) -> Job:
        opts = self.opts

        async def work(moved: Callable[[int, int | None], None]) -> int:
            if opts.no_clobber and os.path.exists(path):
                raise Skipped
            parent = os.path.dirname(path)
            if parent and parent not in self.made:
                os.makedirs(parent, exist_ok=True)
                self.made.add(parent)
            if entry.size < self.batched_below:
                size = await self.downloads.add((entry.where, path), src.config)
                moved(size, size)
            else:
                size = await get_object_to_file_async(entry.where, path, src.config,
                                                      progress=moved, fsync=opts.fsync)  # fmt: skip
            if self.keep_times:
                stamp = entry.modified.timestamp()
                os.utime(path, (stamp, stamp))
            if self.move:
                await delete_object_async(entry.where, src.config)
            return size

        return Job(f"{self.verb} {hide_query(src.at(entry.where).text)} {path}", entry.size, work)

    def between(self, src: ObjectURL, entry: Entry, dst: ObjectURL) -> Job:
        opts = self.opts
        same = src.same_store(dst)
        attributes = None if same else dst.attributes_for(entry.name, opts.attributes)

        async def work(moved: Callable[[int, int | None], None]) -> int:
            if same:
                # Server-side: no byte passes through here.
                verb = rename_object_async if self.move else copy_object_async
                try:
                    await verb(entry.where, dst.key, src.config, overwrite=not opts.no_clobber)
                except NotSupportedError:
                    # S3 copies only unconditionally (unless its store was told a way): look
                    # first, as aws s3 and s5cmd do; a writer in between can still be overwritten.
                    if not opts.no_clobber:
                        raise
                    if await _exists(dst):
                        raise Skipped from None
                    await verb(entry.where, dst.key, src.config, overwrite=True)
                moved(entry.size, entry.size)
                return entry.size
            if opts.no_clobber and await _exists(dst):
                raise Skipped
            size = await stream_copy_async(entry.where, src.config, dst.key, dst.config,
                                           progress=moved, attributes=attributes)  # fmt: skip
            if self.move:
                await delete_object_async(entry.where, src.config)
            return size

        source = hide_query(src.at(entry.where).text)
        return Job(f"{self.verb} {source} {hide_query(dst.text)}", entry.size, work)


async def _exists(url: ObjectURL) -> bool:
    try:
        await head_object_async(url.key, url.config)
    except NotFoundError:
        return False
    return True


async def _one_remote(url: ObjectURL) -> Entry:
    key = url.require_key()
    meta = await head_object_async(key, url.config)
    return Entry(_basename(key), key, meta.size, meta.last_modified)


def _one_local(path: str) -> Entry:
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory (copy a tree with -r)")
    return Entry.of_file(os.path.basename(path), path)


async def copy(src: str, dst: str, opts: TransferOptions, out: TextIO, move: bool) -> Report:
    """Runs ``cp`` (or ``mv``) of ``src`` to ``dst``; the report says what happened."""
    if not is_url(src) and not is_url(dst):
        raise UsageError("at least one of SRC and DST must be an object URL (for a local copy, "
                         "use cp(1))")  # fmt: skip
    copier = Copier(opts, move)
    source = parse_url(src, options_for(src, dst, opts.options)) if is_url(src) else None
    target = parse_url(dst, options_for(dst, src, opts.options)) if is_url(dst) else None
    tree: Tree | None
    if source is not None:
        tree = remote_tree(source, opts.recursive)
    else:
        if not os.path.exists(src) and local_tree(src, False) is None:
            raise CLIError(f"{src}: No such file or directory")
        tree = local_tree(src, opts.recursive)

    async def jobs() -> AsyncIterator[Job]:
        if tree is None:
            entry = await _one_remote(source) if source is not None else _one_local(src)
            yield _single(copier, source, entry, target, dst)
            return
        entries: AsyncIterator[Entry] = (
            remote_entries(source, tree, opts.filters)
            if source is not None
            else _aiter(local_entries(tree, opts.filters))
        )
        found = False
        named: set[str] = set()  # the base names taken, when flattened
        async for entry in entries:
            found = True
            if opts.flatten:
                name = entry.name.rsplit("/", 1)[-1]
                if name in named:
                    what = source.at(entry.where).text if source is not None else entry.where
                    clash = CLIError(f"another entry was copied as {name!r} (--flatten)")
                    yield _refused(copier.verb, what, dst, clash)
                    continue
                named.add(name)
                entry = replace(entry, name=name)
            yield copier.entry(source, entry, target, dst)
        if not found:
            raise CLIError(f"{hide_query(src)}: nothing matches")

    label = _basename(src) if tree is None else hide_query(src)
    return await run_shown(jobs(), label, opts, out)


async def run_shown(
    jobs: AsyncIterator[Job], label: str, opts: TransferOptions, out: TextIO
) -> Report:
    """``run_jobs`` with the progress display and the lines ``opts`` ask for."""
    progress = Progress(label, quiet=opts.quiet or not opts.display)
    try:
        return await run_jobs(jobs, workers=opts.workers, progress=progress,
                              out=None if opts.quiet else out, dryrun=opts.dryrun)  # fmt: skip
    finally:
        progress.close()


def options_for(url: str, other: str, options: dict[str, str]) -> dict[str, str]:
    """The options of one side of a copy: a ``file://`` or ``memory://`` side takes none, so
    between it and a cloud they are the cloud's."""

    def local(text: str) -> bool:
        return text.lower().startswith(("file:", "memory:"))

    return {} if local(url) and is_url(other) and not local(other) else options


def _single(
    copier: Copier, source: ObjectURL | None, entry: Entry, target: ObjectURL | None, dst: str
) -> Job:
    """The job of a one-object copy: a destination that is a directory (or a URL ending in ``/``)
    receives the source's name."""
    if target is not None:
        key = target.key
        if not key or key.endswith("/"):
            key += entry.name
        to = target.at(key)
        return copier.between(source, entry, to) if source is not None else copier.upload(entry, to)
    assert source is not None
    path = os.path.join(dst, entry.name) if os.path.isdir(dst) or dst.endswith(os.sep) else dst
    return copier.download(source, entry, path)


def _refused(verb: str, what: str, dst: str, exc: CLIError) -> Job:
    async def work(_moved: Callable[[int, int | None], None]) -> int:
        raise exc

    return Job(f"{verb} {hide_query(what)} {dst}", 0, work)


async def _aiter(entries: Iterable[Entry]) -> AsyncIterator[Entry]:
    for entry in entries:
        yield entry
