#!/usr/bin/env python
"""Benchmark rustyobjectstore against obstore, boto3, azure-storage-blob and s3fs.

One run, the same data and the same server for every library:

- servers: ``memory`` (per-call overhead), ``file`` (a temp dir), ``minio`` (the fast S3 server, on
  loopback; built by ``scripts/install_minio.sh`` when missing), ``moto`` and ``azurite`` (emulators,
  for completeness: they are slow and measure themselves more than the client);
- libraries: rustyobjectstore (``get_object_into`` into a reused buffer, and ``get_object`` as the
  column ``rustyobjectstore[get_object]``), obstore, boto3, azure-storage-blob, and s3fs, which runs
  in its own venv (``.emulators/venv-s3fs``) through a small subprocess that prints JSON;
- workloads, each a put and a get: 1 KiB x 10,000 with 64 in flight, sync 1 KiB single-call latency
  (median of N calls), 64 KiB x 1,000 with 64 in flight, 64 MiB x 10 and 1 GiB x 1 one at a time.

"In flight" is asyncio.gather under a semaphore for rustyobjectstore, obstore and s3fs, and a
ThreadPoolExecutor of 16 threads for boto3 and azure-storage-blob. Medians over ``--repeats`` (3),
the libraries taking turns sample by sample (s3fs, in its own process, runs after them).
Prints a table per server (medians, and rustyobjectstore's ratio to each peer: above 1 means
rustyobjectstore is faster), and writes all raw samples as JSON and a chart as PNG.

    python scripts/bench.py --quick
    python scripts/bench.py --servers memory,file,minio --libs rustyobjectstore,obstore,boto3
    python scripts/bench.py --json out.json --png out.png

The optional peers come from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from emulators import (
    AZURITE_ACCOUNT,
    AZURITE_BIN,
    AZURITE_KEY,
    RunningServer,
    create_azure_container,
    create_s3_bucket,
    start_azurite,
    start_moto,
)

if TYPE_CHECKING:
    # Optional peers: mypy checks their calls where they are installed and is quiet where not.
    from azure.storage.blob import ContainerClient  # type: ignore[import-not-found,unused-ignore]
    from obstore.store import (  # type: ignore[import-not-found,unused-ignore]
        ClientConfig,
        ObjectStore,
    )

    import rustyobjectstore as ros

    RosConf = ros.Config | ros.AWSConfig | ros.AzureConfig

ROOT = Path(__file__).resolve().parent.parent
EMULATORS = ROOT / ".emulators"
MINIO_BIN = EMULATORS / "bin" / "minio"
MINIO_STAMP = EMULATORS / "bin" / "minio.version"
S3FS_VENV = EMULATORS / "venv-s3fs"

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
SEED = 20261124
HOST = "127.0.0.1"
BUCKET = "bench"
S3_REGION = "us-east-1"
MINIO_USER = "benchadmin"
MINIO_PASSWORD = "benchadmin-secret"
MOTO_KEY = "testing"
THREADS = 16  # boto3 and azure-storage-blob: "in flight" is a pool of this many threads
# Emulators serve 1 GiB at well under 100 MB/s: object_store's default 30 s request timeout is short.
REQUEST_TIMEOUT_S = 300
START_TIMEOUT_S = 60.0

ROS = "rustyobjectstore"
ROS_BYTES = "rustyobjectstore[get_object]"
LIBS = ("rustyobjectstore", "obstore", "boto3", "azure-storage-blob", "s3fs")
SERVERS = ("memory", "file", "minio", "moto", "azurite")
SUPPORTS: dict[str, tuple[str, ...]] = {
    "rustyobjectstore": SERVERS,
    "obstore": SERVERS,
    "boto3": ("minio", "moto"),
    "azure-storage-blob": ("azurite",),
    "s3fs": ("minio", "moto"),
}
MODULES = {
    "rustyobjectstore": "rustyobjectstore",
    "obstore": "obstore",
    "boto3": "boto3",
    "azure-storage-blob": "azure.storage.blob",
}
OPS = ("put", "get")
SHORT = {ROS_BYTES: "ros get_object"}  # table headers

Unit = Literal["ops/s", "GB/s", "us"]


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    size: int
    count: int
    in_flight: int  # 1: sync calls one at a time
    unit: Unit
    ops: tuple[str, ...] = ("put", "get")
    object_size: int = 0  # ranges: the one object the ranges are read from

    @property
    def latency(self) -> bool:
        return self.unit == "us"


def workloads(quick: bool) -> list[Workload]:
    small, calls, medium, large = (1000, 200, 100, 3) if quick else (10_000, 1000, 1000, 10)
    chosen = [
        Workload("small", f"1 KiB x {small:,}, 64 in flight", KiB, small, 64, "ops/s"),
        Workload("latency", f"1 KiB sync latency, median of {calls:,}", KiB, calls, 1, "us"),
        Workload("medium", f"64 KiB x {medium:,}, 64 in flight", 64 * KiB, medium, 64, "ops/s"),
        Workload("large", f"64 MiB x {large}, one at a time", 64 * MiB, large, 1, "GB/s"),
    ]
    if not quick:
        chosen.append(Workload("huge", "1 GiB x 1", GiB, 1, 1, "GB/s"))
    chosen.append(
        Workload("ranges", f"{RANGES} random 64 KiB ranges of a 64 MiB object, one call",
                 64 * KiB, RANGES, 1, "ops/s", ops=("ranges",), object_size=64 * MiB)
    )  # fmt: skip
    keys = 5_000 if quick else 50_000
    chosen.append(Workload("list", f"listing {keys:,} keys", 1, keys, 64, "ops/s", ops=("list",)))
    chosen.append(
        Workload("tree", f"one level of each of {TREE_DIRS} directories of {TREE_KEYS // TREE_DIRS} "
                 "keys, and of their parent", 1, TREE_DIRS + 1, 1, "ops/s", ops=("list_dir",))
    )  # fmt: skip
    return chosen


RANGES = 256
TREE_DIRS, TREE_KEYS = 100, 10_000


def random_ranges(w: Workload) -> list[tuple[int, int]]:
    """The ranges every library reads: the same for all, in no order."""
    rng = random.Random(SEED)
    starts = [rng.randrange(0, w.object_size - w.size) for _ in range(w.count)]
    return [(s, s + w.size) for s in starts]


def make_payload(size: int, seed: int = SEED) -> bytes:
    """The bytes every library writes (the s3fs runner has a copy of this function)."""
    block = random.Random(seed).randbytes(min(size, MiB))
    if not block:
        return b""
    data = block * -(-size // len(block))
    return data if len(data) == size else data[:size]


# --- results -------------------------------------------------------------------------------------


@dataclass
class Record:
    """One (server, workload, op, library) cell: raw samples in seconds and the median."""

    server: str
    workload: str
    op: str
    lib: str
    status: str  # "ok", "not installed", "unavailable", "failed"
    unit: str
    reason: str = ""
    # Throughput workloads: seconds per repeat. Latency: seconds of each call, one list per repeat.
    samples: list[Any] = field(default_factory=list)
    median: float | None = None


def summarize(record: Record, workload: Workload) -> None:
    """Fill ``record.median`` in the workload's unit from its samples."""
    if record.status != "ok" or not record.samples:
        return
    if workload.latency:
        per_repeat = [statistics.median(calls) * 1e6 for calls in record.samples]
        record.median = statistics.median(per_repeat)
        return
    values = []
    for seconds in record.samples:
        seconds = max(seconds, 1e-9)
        if workload.unit == "ops/s":
            values.append(workload.count / seconds)
        else:
            values.append(workload.count * workload.size / seconds / 1e9)
    record.median = statistics.median(values)


# --- library clients -----------------------------------------------------------------------------


class Client:
    """One library on one server. Sync calls, plus many calls with ``in_flight`` at once."""

    lib: str = ""
    #: Extra get variants measured as their own column: {column name: variant}.
    get_variants: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self.variant = ""

    def put_one(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def get_one(self, key: str, size: int) -> None:
        raise NotImplementedError

    def put_many(self, keys: Sequence[str], data: bytes, in_flight: int) -> float:
        """Seconds to put ``data`` under every key with ``in_flight`` calls at once."""
        raise NotImplementedError

    def get_many(self, keys: Sequence[str], size: int, in_flight: int) -> float:
        raise NotImplementedError

    def fetch(self, key: str) -> bytes:
        """The object's bytes, to check what was written (not timed)."""
        raise NotImplementedError

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Every range of one object, as the library reads many at once."""
        raise NotImplementedError

    def delete(self, keys: Sequence[str]) -> None:
        raise NotImplementedError

    def list_keys(self, prefix: str) -> int:
        """How many keys start with ``prefix``, each listed as the library lists them (metadata
        and all)."""
        raise NotImplementedError

    def list_level(self, prefix: str) -> tuple[int, int]:
        """The objects and the "subdirectories" directly under ``prefix`` (which ends in /)."""
        raise NotImplementedError

    def prepare(self, size: int, in_flight: int) -> None:
        """Set up what a get of ``size`` bytes reuses (buffers); not timed."""
        return None

    def release(self) -> None:
        """Drop what ``prepare`` set up."""
        return None

    def close(self) -> None:
        return None


def _check_size(got: int, size: int, key: str) -> None:
    if got != size:
        raise RuntimeError(f"{key}: got {got} bytes, expected {size}")


async def _bounded(count: int, in_flight: int, call: Callable[[int], Awaitable[object]]) -> float:
    """asyncio.gather of ``count`` calls, at most ``in_flight`` at once; seconds taken."""
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            await call(i)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - start


def _touched(size: int) -> bytearray:
    """A buffer whose pages are already faulted in, as a reused buffer's are."""
    buffer = bytearray(size)
    if size:
        buffer[::4096] = bytes(len(range(0, size, 4096)))
    return buffer


class RosClient(Client):
    lib = ROS
    get_variants: ClassVar[dict[str, str]] = {ROS_BYTES: "get_object"}

    def __init__(self, conf: RosConf) -> None:
        super().__init__()
        import rustyobjectstore

        self.ros = rustyobjectstore
        self.conf = conf
        self.buffers: list[bytearray] = []

    def prepare(self, size: int, in_flight: int) -> None:
        if len(self.buffers) != in_flight or len(self.buffers[0]) != size:
            self.buffers = []  # free the old ones first: 1 GiB buffers add up
            self.buffers = [_touched(size) for _ in range(in_flight)]

    def release(self) -> None:
        self.buffers = []

    def put_one(self, key: str, data: bytes) -> None:
        self.ros.put_object(key, data, self.conf)

    def get_one(self, key: str, size: int) -> None:
        if self.variant == "get_object":
            got = len(self.ros.get_object(key, self.conf))
        else:
            got = self.ros.get_object_into(key, self.buffers[0], self.conf)
        _check_size(got, size, key)

    def put_many(self, keys: Sequence[str], data: bytes, in_flight: int) -> float:
        async def call(i: int) -> None:
            await self.ros.put_object_async(keys[i], data, self.conf)

        return asyncio.run(_bounded(len(keys), in_flight, call))

    def get_many(self, keys: Sequence[str], size: int, in_flight: int) -> float:
        free = list(self.buffers)

        async def into(i: int) -> None:
            buffer = free.pop()  # the semaphore admits at most len(free) at once
            try:
                got = await self.ros.get_object_into_async(keys[i], buffer, self.conf)
            finally:
                free.append(buffer)
            _check_size(got, size, keys[i])

        async def fresh(i: int) -> None:
            _check_size(len(await self.ros.get_object_async(keys[i], self.conf)), size, keys[i])

        call = fresh if self.variant == "get_object" else into
        return asyncio.run(_bounded(len(keys), in_flight, call))

    def fetch(self, key: str) -> bytes:
        return self.ros.get_object(key, self.conf)

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        return self.ros.get_object_ranges(key, ranges, self.conf)

    def list_keys(self, prefix: str) -> int:
        return sum(len(chunk) for chunk in self.ros.list_objects_stream(prefix, self.conf))

    def list_level(self, prefix: str) -> tuple[int, int]:
        level = self.ros.list_with_delimiter(prefix, self.conf)
        return len(level.objects), len(level.common_prefixes)

    def delete(self, keys: Sequence[str]) -> None:
        try:
            self.ros.bulk_delete_objects(keys, self.conf)
        except Exception:
            for key in keys:
                with contextlib.suppress(Exception):
                    self.ros.delete_object(key, self.conf)


class ObstoreClient(Client):
    lib = "obstore"

    def __init__(self, store: ObjectStore) -> None:
        super().__init__()
        import obstore  # type: ignore[import-not-found,unused-ignore]

        self.obs = obstore
        self.store = store

    def put_one(self, key: str, data: bytes) -> None:
        self.obs.put(self.store, key, data)

    def get_one(self, key: str, size: int) -> None:
        _check_size(len(self.obs.get(self.store, key).bytes()), size, key)

    def put_many(self, keys: Sequence[str], data: bytes, in_flight: int) -> float:
        async def call(i: int) -> None:
            await self.obs.put_async(self.store, keys[i], data)

        return asyncio.run(_bounded(len(keys), in_flight, call))

    def get_many(self, keys: Sequence[str], size: int, in_flight: int) -> float:
        async def call(i: int) -> None:
            result = await self.obs.get_async(self.store, keys[i])
            _check_size(len(await result.bytes_async()), size, keys[i])

        return asyncio.run(_bounded(len(keys), in_flight, call))

    def fetch(self, key: str) -> bytes:
        return bytes(self.obs.get(self.store, key).bytes())

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        starts, ends = [s for s, _ in ranges], [e for _, e in ranges]

        async def call() -> list[Any]:
            # obstore makes its future at the call: it needs the running loop.
            got: list[Any] = await self.obs.get_ranges_async(
                self.store, key, starts=starts, ends=ends
            )
            return got

        return [bytes(b) for b in asyncio.run(call())]

    def list_keys(self, prefix: str) -> int:
        return sum(len(chunk) for chunk in self.obs.list(self.store, prefix))

    def list_level(self, prefix: str) -> tuple[int, int]:
        level = self.obs.list_with_delimiter(self.store, prefix)
        return len(level["objects"]), len(level["common_prefixes"])

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.obs.delete(self.store, list(keys[start : start + 1000]))


class ThreadedClient(Client):
    """A sync-only library: ``in_flight`` calls at once are a pool of ``THREADS`` threads."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix=f"bench-{self.lib}")

    def _threaded(self, count: int, call: Callable[[int], None]) -> float:
        start = time.perf_counter()
        for _ in self.pool.map(call, range(count)):
            pass
        return time.perf_counter() - start

    def put_many(self, keys: Sequence[str], data: bytes, in_flight: int) -> float:
        return self._threaded(len(keys), lambda i: self.put_one(keys[i], data))

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        return list(self.pool.map(lambda r: self.get_range(key, *r), ranges))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        raise NotImplementedError

    def get_many(self, keys: Sequence[str], size: int, in_flight: int) -> float:
        return self._threaded(len(keys), lambda i: self.get_one(keys[i], size))

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class Boto3Client(ThreadedClient):
    lib = "boto3"

    def __init__(self, s3: S3Target) -> None:
        super().__init__()
        import boto3
        from botocore.config import Config as BotoConfig

        self.bucket = s3.bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint,
            aws_access_key_id=s3.key,
            aws_secret_access_key=s3.secret,
            region_name=S3_REGION,
            config=BotoConfig(max_pool_connections=THREADS, s3={"addressing_style": "path"}),
        )

    def put_one(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_one(self, key: str, size: int) -> None:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        _check_size(len(body), size, key)

    def fetch(self, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def get_range(self, key: str, start: int, end: int) -> bytes:
        answer = self.client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
        )
        data: bytes = answer["Body"].read()
        return data

    def list_keys(self, prefix: str) -> int:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sum(len(page.get("Contents", [])) for page in pages)

    def list_level(self, prefix: str) -> tuple[int, int]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        objects = prefixes = 0
        for page in pages:
            objects += len(page.get("Contents", []))
            prefixes += len(page.get("CommonPrefixes", []))
        return objects, prefixes

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})


class AzureClient(ThreadedClient):
    lib = "azure-storage-blob"

    def __init__(self, azure: AzureTarget) -> None:
        super().__init__()
        import requests  # type: ignore[import-untyped,unused-ignore]
        from azure.storage.blob import BlobServiceClient  # type: ignore[import-not-found,unused-ignore]

        # A connection pool as large as the thread pool (requests keeps 10 by default).
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=THREADS)
        self.session.mount("http://", adapter)
        credential = {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        service = BlobServiceClient(azure.endpoint, credential=credential, session=self.session)
        self.container: ContainerClient = service.get_container_client(azure.container)

    def put_one(self, key: str, data: bytes) -> None:
        self.container.upload_blob(key, data, overwrite=True)

    def get_one(self, key: str, size: int) -> None:
        _check_size(len(self.container.download_blob(key).readall()), size, key)

    def fetch(self, key: str) -> bytes:
        return bytes(self.container.download_blob(key).readall())

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return bytes(self.container.download_blob(key, offset=start, length=end - start).readall())

    def list_keys(self, prefix: str) -> int:
        return sum(1 for _ in self.container.list_blobs(name_starts_with=prefix))

    def list_level(self, prefix: str) -> tuple[int, int]:
        objects = prefixes = 0
        for item in self.container.walk_blobs(name_starts_with=prefix, delimiter="/"):
            if item.name.endswith("/"):
                prefixes += 1
            else:
                objects += 1
        return objects, prefixes

    def delete(self, keys: Sequence[str]) -> None:
        def one(i: int) -> None:
            with contextlib.suppress(Exception):
                self.container.delete_blob(keys[i])

        self._threaded(len(keys), one)

    def close(self) -> None:
        super().close()
        self.container.close()
        self.session.close()


# --- servers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Target:
    endpoint: str
    key: str
    secret: str
    bucket: str


@dataclass(frozen=True)
class AzureTarget:
    endpoint: str  # http://127.0.0.1:P/devstoreaccount1
    container: str


@dataclass
class Server:
    name: str
    status: str = "ok"  # or "unavailable"
    reason: str = ""
    version: str = ""
    endpoint: str = ""
    root: Path | None = None  # file://
    s3: S3Target | None = None
    azure: AzureTarget | None = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by its own PID, SIGKILL after 10 s; reaped."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", errors="replace")
    except OSError as e:
        return f"<unreadable: {e}>"


def _http_status(url: str) -> int | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def install_minio() -> None:
    if MINIO_BIN.is_file() and os.access(MINIO_BIN, os.X_OK):
        return
    log("MinIO is missing: scripts/install_minio.sh builds it (a few minutes)")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_minio.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not MINIO_BIN.is_file():
        raise RuntimeError(f"scripts/install_minio.sh failed: {result.stderr[-1500:]}")


def minio_version() -> str:
    pinned = MINIO_STAMP.read_text().strip() if MINIO_STAMP.is_file() else "unknown module version"
    try:
        out = subprocess.run(
            [str(MINIO_BIN), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    first = out.splitlines()[0] if out else ""
    if "DEVELOPMENT" in first:  # what a `go install` build reports: the module version says more
        first = ""
    return f"minio {pinned}" + (f" ({first})" if first else "")


@contextlib.contextmanager
def minio_server(workdir: Path, parent: Path | None) -> Iterator[Server]:
    """MinIO storing under ``parent`` (a temp dir in it), or under ``workdir``."""
    install_minio()
    data = Path(tempfile.mkdtemp(prefix="minio-data-", dir=parent or workdir))
    log_path = workdir / "minio.log"
    port, console = _free_port(), _free_port()
    argv = [
        str(MINIO_BIN), "server", str(data),
        "--address", f"{HOST}:{port}",
        "--console-address", f"{HOST}:{console}",
        "--quiet",
    ]  # fmt: skip
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv:  # SIGTERM to MinIO if this process dies without stopping it
        argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
    env = {**os.environ, "MINIO_ROOT_USER": MINIO_USER, "MINIO_ROOT_PASSWORD": MINIO_PASSWORD}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only us; we stop it by its PID
        )
    try:
        endpoint = f"http://{HOST}:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while _http_status(f"{endpoint}/minio/health/live") != 200:
            if process.poll() is not None:
                raise RuntimeError(f"minio exited with {process.returncode}: {_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"minio not live after {START_TIMEOUT_S:.0f} s: {_tail(log_path)}"
                )
            time.sleep(0.1)
        target = S3Target(endpoint, MINIO_USER, MINIO_PASSWORD, BUCKET)
        _create_bucket_boto3(target)
        yield Server("minio", version=minio_version(), endpoint=endpoint, root=data, s3=target)
    finally:
        _stop(process)
        shutil.rmtree(data, ignore_errors=True)


def _create_bucket_boto3(target: S3Target) -> None:
    if importlib.util.find_spec("boto3") is None:
        raise RuntimeError("creating the MinIO bucket needs boto3 (pip install boto3)")
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=target.endpoint,
        aws_access_key_id=target.key,
        aws_secret_access_key=target.secret,
        region_name=S3_REGION,
    )
    client.create_bucket(Bucket=target.bucket)
    client.close()


@contextlib.contextmanager
def emulator(name: str, workdir: Path) -> Iterator[Server]:
    running: RunningServer | None = None
    try:
        if name == "moto":
            running = start_moto()
            create_s3_bucket(running.endpoint, BUCKET)
            version = f"moto {_dist_version('moto')}"
            yield Server(
                name,
                version=version,
                endpoint=running.endpoint,
                s3=S3Target(running.endpoint, MOTO_KEY, MOTO_KEY, BUCKET),
            )
        else:
            running = start_azurite()
            create_azure_container(running.endpoint, BUCKET)
            yield Server(
                name,
                version=f"azurite {_azurite_version()}",
                endpoint=running.endpoint,
                azure=AzureTarget(running.endpoint, BUCKET),
            )
    finally:
        if running is not None:
            running.stop()


@contextlib.contextmanager
def start_server(name: str, workdir: Path, minio_dir: Path | None = None) -> Iterator[Server]:
    """The server, started; ``status="unavailable"`` with the reason if it cannot start."""
    if name in ("memory", "file"):
        root = workdir / "file-store" if name == "file" else None
        if root is not None:
            root.mkdir()
        try:
            yield Server(name, version="-", endpoint=f"{name}://", root=root)
        finally:
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
        return
    manager = minio_server(workdir, minio_dir) if name == "minio" else emulator(name, workdir)
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(manager)
        except Exception as e:
            server = Server(name, status="unavailable", reason=_short(e))
        yield server


def make_client(lib: str, server: Server) -> Client:
    if lib == ROS:
        import rustyobjectstore as ros

        opts = ros.ClientOptions(request_timeout_secs=REQUEST_TIMEOUT_S)
        conf: RosConf
        if server.name == "memory":
            conf = ros.Config("memory://")
        elif server.name == "file":
            conf = ros.Config(f"file://{server.root}")
        elif server.s3 is not None:
            s3 = server.s3
            conf = ros.AWSConfig(
                region=S3_REGION,
                bucket_name=s3.bucket,
                access_key_id=s3.key,
                secret_access_key=s3.secret,
                host=s3.endpoint,
                opts=opts,
            )
        else:
            assert server.azure is not None
            conf = ros.AzureConfig(
                storage_account_name=AZURITE_ACCOUNT,
                container_name=server.azure.container,
                storage_account_key=AZURITE_KEY,
                host=server.azure.endpoint,
                opts=opts,
            )
        return RosClient(conf)
    if lib == "obstore":
        from obstore.store import (  # type: ignore[import-not-found,unused-ignore]
            AzureStore,
            LocalStore,
            MemoryStore,
            S3Store,
        )

        client_options: ClientConfig = {"allow_http": True, "timeout": f"{REQUEST_TIMEOUT_S}s"}
        store: ObjectStore
        if server.name == "memory":
            store = MemoryStore()
        elif server.name == "file":
            store = LocalStore(server.root)
        elif server.s3 is not None:
            store = S3Store(
                server.s3.bucket,
                config={
                    "endpoint": server.s3.endpoint,
                    "access_key_id": server.s3.key,
                    "secret_access_key": server.s3.secret,
                    "region": S3_REGION,
                },
                client_options=client_options,
            )
        else:
            assert server.azure is not None
            store = AzureStore(
                server.azure.container,
                config={
                    "account_name": AZURITE_ACCOUNT,
                    "account_key": AZURITE_KEY,
                    "endpoint": server.azure.endpoint,
                },
                client_options=client_options,
            )
        return ObstoreClient(store)
    if lib == "boto3":
        assert server.s3 is not None
        return Boto3Client(server.s3)
    if lib == "azure-storage-blob":
        assert server.azure is not None
        return AzureClient(server.azure)
    raise ValueError(f"no in-process client for {lib}")


# --- measuring -----------------------------------------------------------------------------------


def measure_together(
    clients: Sequence[Client], server: str, workload: Workload, payload: bytes, repeats: int
) -> list[Record]:
    """Every client on one workload, their samples taken in turns (each client's first put, then
    each one's second...), so that a slow spell of the shared machine weighs on every library
    alike instead of on whichever ran through it."""
    runs = [measure(client, server, workload, payload, repeats) for client in clients]
    records: list[Record] = []
    while runs:
        for run in list(runs):
            try:
                next(run)
            except StopIteration as finished:
                records += finished.value
                runs.remove(run)
    return records


def measure(
    client: Client, server: str, workload: Workload, payload: bytes, repeats: int
) -> Generator[None, None, list[Record]]:
    """Puts then gets (and each extra get variant), ``repeats`` times each; cleans up after.
    Pauses (yields) after each sample, so that ``measure_together`` can take turns."""
    w = workload
    if w.ops == ("ranges",):
        return (yield from measure_ranges(client, server, w, payload, repeats))
    if w.ops in (("list",), ("list_dir",)):
        return (yield from measure_listing(client, server, w, repeats))
    keys = [f"bench/{client.lib}/{w.key}/{i:06d}" for i in range(w.count)]
    columns = {client.lib: "", **client.get_variants}
    records = {
        (op, lib): Record(server, w.key, op, lib, "ok", w.unit)
        for op in OPS
        for lib in columns
        if op == "get" or lib == client.lib
    }
    current: Record | None = None
    verifying = False
    try:
        client.variant = ""
        client.prepare(w.size, w.in_flight)
        if w.in_flight > 1:  # warm up: the connections 64 calls at once will use
            warm = keys[: min(len(keys), 2 * w.in_flight)]
            client.put_many(warm, payload, w.in_flight)
            client.get_many(warm, w.size, w.in_flight)
        elif w.latency:
            for key in keys[:10]:
                client.put_one(key, payload)
                client.get_one(key, w.size)
        for op in OPS:
            for lib, variant in columns.items():
                if (op, lib) not in records:
                    continue
                current = records[(op, lib)]
                client.variant = variant
                for _ in range(repeats):
                    current.samples.append(_timed(client, op, keys, payload, w))
                    yield
                log(f"  {server} {w.key} {op} {lib}: {_fmt_sample(current, w)}")
                current = None
        client.variant = ""
        client.release()
        verifying = True
        if client.fetch(keys[0]) != payload:
            raise RuntimeError(f"{keys[0]}: the bytes read back differ from those written")
    except Exception as e:
        reason = _short(e)
        log(f"  {server} {w.key} {client.lib}: FAILED: {reason}")
        for record in records.values():
            if verifying or record is current or not record.samples:
                record.status, record.reason = "failed", reason
    finally:
        client.variant = ""
        client.release()
        with contextlib.suppress(Exception):
            client.delete(keys)
    for record in records.values():
        summarize(record, w)
    return list(records.values())


def measure_ranges(
    client: Client, server: str, w: Workload, payload: bytes, repeats: int
) -> Generator[None, None, list[Record]]:
    """One object, then its ranges read ``repeats`` times; the bytes are checked once."""
    key = f"bench/{client.lib}/{w.key}/object"
    ranges = random_ranges(w)
    record = Record(server, w.key, "ranges", client.lib, "ok", w.unit)
    try:
        client.put_one(key, payload)
        if client.get_ranges(key, ranges) != [payload[s:e] for s, e in ranges]:
            raise RuntimeError(f"{key}: the ranges read differ from the bytes written")
        for _ in range(repeats):
            start = time.perf_counter()
            client.get_ranges(key, ranges)
            record.samples.append(time.perf_counter() - start)
            yield
        log(f"  {server} {w.key} ranges {client.lib}: {_fmt_sample(record, w)}")
    except Exception as e:
        log(f"  {server} {w.key} {client.lib}: FAILED: {_short(e)}")
        record.status, record.reason = "failed", _short(e)
    finally:
        with contextlib.suppress(Exception):
            client.delete([key])
    summarize(record, w)
    return [record]


def measure_listing(
    client: Client, server: str, w: Workload, repeats: int
) -> Generator[None, None, list[Record]]:
    """Keys of one byte (put ``w.in_flight`` at once, not timed), then listed ``repeats`` times:
    all of them (``list``: ``w.count`` keys a listing), or one level of each directory of a tree
    and of their parent (``list_dir``: ``w.count`` calls); the counts are checked every time."""
    (op,) = w.ops
    base = f"bench/{client.lib}/{w.key}/"
    if op == "list":
        keys = [f"{base}k{i:06d}" for i in range(w.count)]
    else:
        per_dir = TREE_KEYS // TREE_DIRS
        keys = [f"{base}d{d:03d}/k{k:04d}" for d in range(TREE_DIRS) for k in range(per_dir)]
    record = Record(server, w.key, op, client.lib, "ok", w.unit)
    try:
        client.put_many(keys, b"x", w.in_flight)
        for _ in range(repeats):
            start = time.perf_counter()
            counted: object
            if op == "list":
                counted = client.list_keys(base)
                expected: object = w.count
            else:
                counted = [client.list_level(base)] + [
                    client.list_level(f"{base}d{d:03d}/") for d in range(TREE_DIRS)
                ]
                expected = [(0, TREE_DIRS)] + [(TREE_KEYS // TREE_DIRS, 0)] * TREE_DIRS
            record.samples.append(time.perf_counter() - start)
            if counted != expected:
                raise RuntimeError(f"{base}: listed {counted!r}, expected {expected!r}")
            yield
        log(f"  {server} {w.key} {op} {client.lib}: {_fmt_sample(record, w)}")
    except Exception as e:
        log(f"  {server} {w.key} {client.lib}: FAILED: {_short(e)}")
        record.status, record.reason = "failed", _short(e)
    finally:
        with contextlib.suppress(Exception):
            client.delete(keys)
    summarize(record, w)
    return [record]


def _timed(client: Client, op: str, keys: Sequence[str], payload: bytes, w: Workload) -> Any:
    if w.latency:
        calls = []
        for key in keys:
            start = time.perf_counter()
            if op == "put":
                client.put_one(key, payload)
            else:
                client.get_one(key, w.size)
            calls.append(time.perf_counter() - start)
        return calls
    if w.in_flight > 1:
        if op == "put":
            return client.put_many(keys, payload, w.in_flight)
        return client.get_many(keys, w.size, w.in_flight)
    start = time.perf_counter()
    for key in keys:
        if op == "put":
            client.put_one(key, payload)
        else:
            client.get_one(key, w.size)
    return time.perf_counter() - start


def _fmt_sample(record: Record, w: Workload) -> str:
    probe = Record(record.server, record.workload, record.op, record.lib, "ok", record.unit)
    probe.samples = record.samples
    summarize(probe, w)
    return f"{_fmt_value(probe.median, w.unit)} {w.unit} ({len(record.samples)} samples)"


def warm_up(client: Client) -> None:
    """Start the library's client and connection outside any timing."""
    payload = make_payload(KiB)
    key = f"bench/{client.lib}/warm"
    client.prepare(KiB, 1)
    for _ in range(3):
        client.put_one(key, payload)
        client.get_one(key, KiB)
    client.release()
    client.delete([key])


# --- s3fs, in its own venv -----------------------------------------------------------------------

S3FS_RUNNER = r'''
"""Measures s3fs for scripts/bench.py: a JSON request on stdin, a JSON answer on stdout."""
import asyncio, json, random, statistics, sys, time
from importlib.metadata import version

MiB = 1024 * 1024


def make_payload(size, seed):
    block = random.Random(seed).randbytes(min(size, MiB))
    if not block:
        return b""
    data = block * -(-size // len(block))
    return data if len(data) == size else data[:size]


def main():
    req = json.load(sys.stdin)
    import s3fs

    common = dict(
        key=req["key"], secret=req["secret"], endpoint_url=req["endpoint"],
        client_kwargs={"region_name": req["region"]},
        config_kwargs={"max_pool_connections": 64},
        skip_instance_cache=True, use_listings_cache=False,
    )
    fs = s3fs.S3FileSystem(**common)
    base = f"{req['bucket']}/bench/s3fs"
    warm = make_payload(1024, req["seed"])
    for _ in range(3):
        fs.pipe_file(f"{base}/warm", warm)
        fs.cat_file(f"{base}/warm")
    fs.rm(f"{base}/warm")
    out = {"versions": {p: version(p) for p in ("s3fs", "aiobotocore", "botocore", "fsspec")},
           "results": []}
    for w in req["workloads"]:
        size, count, in_flight = w["size"], w["count"], w["in_flight"]
        data = make_payload(size, req["seed"])
        keys = [f"{base}/{w['key']}/{i:06d}" for i in range(count)]
        rec = {"workload": w["key"], "put": [], "get": [], "status": "ok", "reason": ""}

        def check(got, key):
            if len(got) != size:
                raise RuntimeError(f"{key}: got {len(got)} bytes, expected {size}")

        async def batch(op, subset):
            afs = s3fs.S3FileSystem(asynchronous=True, **common)
            session = await afs.set_session()
            gate = asyncio.Semaphore(in_flight)

            async def one(key):
                async with gate:
                    if op == "put":
                        await afs._pipe_file(key, data)
                    else:
                        check(await afs._cat_file(key), key)

            try:
                await asyncio.gather(*(one(k) for k in subset[: 2 * in_flight]))  # warm up
                start = time.perf_counter()
                await asyncio.gather(*(one(k) for k in subset))
                return time.perf_counter() - start
            finally:
                await session.close()

        try:
            if w["unit"] == "us":
                for key in keys[:10]:
                    fs.pipe_file(key, data)
                    fs.cat_file(key)
            for op in ("put", "get"):
                for _ in range(req["repeats"]):
                    if in_flight > 1:
                        rec[op].append(asyncio.run(batch(op, keys)))
                        continue
                    calls = []
                    for key in keys:
                        start = time.perf_counter()
                        if op == "put":
                            fs.pipe_file(key, data)
                        else:
                            check(fs.cat_file(key), key)
                        calls.append(time.perf_counter() - start)
                    rec[op].append(calls if w["unit"] == "us" else sum(calls))
                print(f"  s3fs {w['key']} {op}: done", file=sys.stderr, flush=True)
            if fs.cat_file(keys[0]) != data:
                raise RuntimeError(f"{keys[0]}: the bytes read back differ from those written")
        except Exception as e:
            rec["status"], rec["reason"] = "failed", f"{type(e).__name__}: {e}"[:500]
        finally:
            try:
                fs.rm(keys)
            except Exception:
                pass
        del data
        out["results"].append(rec)
    print(json.dumps(out))


main()
'''


def s3fs_python(extra: Sequence[str] = (), extra_imports: Sequence[str] = ()) -> Path:
    """The venv's interpreter with s3fs (and the ``extra`` requirements) importable, built or
    topped up on first use; raises with the reason."""
    python = S3FS_VENV / "bin" / "python"
    wanted = [str(python), "-c", "; ".join(f"import {m}" for m in ("s3fs", *extra_imports))]
    if python.is_file() and _runs(wanted):
        return python
    steps = []
    if not (python.is_file() and _runs([str(python), "-c", "import s3fs"])):
        steps.append([sys.executable, "-m", "venv", "--clear", str(S3FS_VENV)])
    steps.append([str(python), "-m", "pip", "install", "--quiet", "s3fs", *extra])
    log(f"making the s3fs venv in {S3FS_VENV} (pip install s3fs {' '.join(extra)})")
    for argv in steps:
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"{' '.join(argv[:4])}: {_short(e)}") from e
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip()[-600:]
            raise RuntimeError(f"{' '.join(argv[:4])} failed: {tail}")
    if not _runs(wanted):
        raise RuntimeError("s3fs installed in its venv but does not import")
    return python


def _runs(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=120, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def measure_s3fs(
    python: Path, server: Server, chosen: Sequence[Workload], repeats: int, workdir: Path
) -> tuple[dict[str, str], list[Record]]:
    chosen = [w for w in chosen if w.ops == OPS]  # the runner knows puts and gets
    assert server.s3 is not None
    runner = workdir / "s3fs_runner.py"
    runner.write_text(S3FS_RUNNER)
    request = {
        "endpoint": server.s3.endpoint,
        "key": server.s3.key,
        "secret": server.s3.secret,
        "bucket": server.s3.bucket,
        "region": S3_REGION,
        "seed": SEED,
        "repeats": repeats,
        "workloads": [asdict(w) for w in chosen],
    }
    result = subprocess.run(
        [str(python), str(runner)],
        input=json.dumps(request),
        stdout=subprocess.PIPE,
        stderr=None,  # its progress goes straight to ours
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the s3fs runner exited with {result.returncode}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    by_key = {w.key: w for w in chosen}
    records = []
    for rec in answer["results"]:
        w = by_key[rec["workload"]]
        for op in OPS:
            record = Record(server.name, w.key, op, "s3fs", rec["status"], w.unit, rec["reason"])
            record.samples = rec[op]
            summarize(record, w)
            records.append(record)
    return answer["versions"], records


# --- reporting -----------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _short(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _azurite_version() -> str:
    package = AZURITE_BIN.parent.parent / "azurite" / "package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def installed(lib: str) -> bool:
    if lib == "s3fs":
        return True  # decided when its venv is built
    try:
        importlib.import_module(MODULES[lib])
    except Exception:  # absent, or present and broken: either way it cannot be measured
        return False
    return True


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / (1024 * 1024):.1f} GiB"
                break
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
    }


def _fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ops/s":
        return f"{value:,.0f}"
    if unit == "us":
        return f"{value:,.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def ratio(ours: Record | None, peer: Record | None, unit: str) -> float | None:
    """rustyobjectstore / peer for throughput, peer / rustyobjectstore for latency: > 1 is faster."""
    if ours is None or peer is None or not ours.median or not peer.median:
        return None
    return peer.median / ours.median if unit == "us" else ours.median / peer.median


def _cell(record: Record | None, unit: str) -> str:
    if record is None:
        return ""
    if record.status == "ok":
        return _fmt_value(record.median, unit)
    return record.status


def render_tables(
    records: list[Record], servers: list[Server], chosen: Sequence[Workload], libs: Sequence[str]
) -> str:
    index = {(r.server, r.workload, r.op, r.lib): r for r in records}
    lines = []
    for server in servers:
        about = " ".join(x for x in (server.version, server.endpoint) if x and x != "-")
        header = f"== {server.name}" + (f": {about}" if about else "")
        if server.status != "ok":
            lines += [header, f"   unavailable: {server.reason}", ""]
            continue
        columns = [lib for lib in libs if server.name in SUPPORTS[lib]]
        if ROS in columns:
            columns.insert(columns.index(ROS) + 1, ROS_BYTES)
        peers = [lib for lib in columns if lib not in (ROS, ROS_BYTES)]
        head = ["workload", "op", "unit", *(SHORT.get(c, c) for c in columns)]
        if ROS in columns:
            head += [f"vs {p}" for p in peers]
        rows = [head]
        for w in chosen:
            for op in w.ops:
                row = [w.label, op, w.unit]
                for lib in columns:
                    row.append(_cell(index.get((server.name, w.key, op, lib)), w.unit))
                if ROS in columns:
                    ours = index.get((server.name, w.key, op, ROS))
                    for p in peers:
                        r = ratio(ours, index.get((server.name, w.key, op, p)), w.unit)
                        row.append("-" if r is None else f"{r:.2f}x")
                rows.append(row)
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines.append(header)
        for n, row in enumerate(rows):
            cells = [
                cell.ljust(widths[i]) if i < 3 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
            if n == 0:
                lines.append("  ".join("-" * width for width in widths))
        lines.append("")
    return "\n".join(lines)


def render_png(
    path: Path, records: list[Record], servers: list[Server], chosen: Sequence[Workload]
) -> str:
    """A chart of rustyobjectstore's ratio to each peer; returns what happened, in words."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        return "matplotlib is not installed: no PNG (pip install matplotlib)"
    index = {(r.server, r.workload, r.op, r.lib): r for r in records}
    groups = [(w, op) for w in chosen for op in w.ops]
    panels = []
    for server in servers:
        peers = [
            lib
            for lib in LIBS
            if lib != ROS
            and any(
                ratio(
                    index.get((server.name, w.key, op, ROS)),
                    index.get((server.name, w.key, op, lib)),
                    w.unit,
                )
                for w, op in groups
            )
        ]
        if peers:
            panels.append((server.name, peers))
    if not panels:
        return "no peer was measured beside rustyobjectstore: no PNG"
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 3.6 * len(panels)), squeeze=False)
    colors = {lib: f"C{n}" for n, lib in enumerate(LIBS)}  # one color per peer in every panel
    plain = FuncFormatter(lambda value, _pos: f"{value:g}")
    for ax, (name, peers) in zip(axes[:, 0], panels, strict=True):
        width = 0.8 / len(peers)
        shown: list[float] = []
        for n, peer in enumerate(peers):
            xs, ys = [], []
            for g, (w, op) in enumerate(groups):
                r = ratio(
                    index.get((name, w.key, op, ROS)), index.get((name, w.key, op, peer)), w.unit
                )
                if r is not None:
                    xs.append(g - 0.4 + width * (n + 0.5))
                    ys.append(r)
            heights = [y - 1.0 for y in ys]  # bars grow from 1: up is faster, down is slower
            ax.bar(xs, heights, width, bottom=1.0, label=f"vs {peer}", color=colors.get(peer))
            shown += ys
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        wide = bool(shown) and max(shown) / min(shown) > 100  # minor labels would pile up
        ax.yaxis.set_minor_formatter(NullFormatter() if wide else plain)
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{w.key} {op}" for w, op in groups], fontsize=8)
        ax.set_ylabel("rustyobjectstore / peer")
        ax.set_title(f"{name}: rustyobjectstore's speed relative to each peer (> 1: faster)")
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart: {path}"


# --- main ----------------------------------------------------------------------------------------


def _split(value: str, allowed: Sequence[str], what: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{what}: choose from {','.join(allowed)}; got {value!r}")
    return [v for v in allowed if v in chosen]  # the canonical order


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark rustyobjectstore against its peers on the same servers and data."
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts, no 1 GiB, 1 repeat")
    parser.add_argument(
        "--servers",
        type=lambda v: _split(v, SERVERS, "--servers"),
        default=list(SERVERS),
        help=f"comma-separated, from {','.join(SERVERS)} (default: all)",
    )
    parser.add_argument(
        "--libs",
        type=lambda v: _split(v, LIBS, "--libs"),
        default=list(LIBS),
        help=f"comma-separated, from {','.join(LIBS)} (default: all)",
    )
    keys = tuple(w.key for w in workloads(False))
    parser.add_argument(
        "--workloads",
        type=lambda v: _split(v, keys, "--workloads"),
        default=None,
        help=f"comma-separated, from {','.join(keys)} (default: all; --quick skips huge)",
    )
    parser.add_argument(
        "--minio-dir",
        type=Path,
        default=None,
        help="where MinIO stores (default: a temp dir on disk; /dev/shm takes the disk out)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--json", type=Path, default=None, help="raw samples (default: a temp dir)")
    parser.add_argument("--png", type=Path, default=None, help="the chart (default: a temp dir)")
    return parser.parse_args(argv)


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: every server is stopped by its PID


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    for var in ("NO_PROXY", "no_proxy"):  # every server is on loopback
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), HOST, "localhost"]))
    repeats: int = args.repeats or (1 if args.quick else 3)
    chosen = workloads(args.quick)
    if args.workloads:
        chosen = [w for w in workloads(False) if w.key in args.workloads]
        if args.quick:  # quick counts for the ones --quick has
            quick = {w.key: w for w in workloads(True)}
            chosen = [quick.get(w.key, w) for w in chosen]
    outdir = None if args.json and args.png else tempfile.mkdtemp(prefix="rustyobjectstore-bench-")
    json_path: Path = args.json or Path(f"{outdir}/bench.json")
    png_path: Path = args.png or Path(f"{outdir}/bench.png")
    libs: list[str] = args.libs
    servers_wanted: list[str] = args.servers

    info = machine()
    versions = {lib: _dist_version(lib) for lib in LIBS if lib != "s3fs"}
    versions["botocore"] = _dist_version("botocore")
    versions["azure-core"] = _dist_version("azure-core")
    versions["matplotlib"] = _dist_version("matplotlib")
    missing = {lib for lib in libs if not installed(lib)}
    unavailable: dict[str, str] = {}  # lib -> why, for s3fs

    python: Path | None = None
    if "s3fs" in libs and any(s in SUPPORTS["s3fs"] for s in servers_wanted):
        try:
            python = s3fs_python()
        except Exception as e:
            unavailable["s3fs"] = _short(e)
            log(f"s3fs unavailable: {unavailable['s3fs']}")
    s3fs_versions: dict[str, str] = {}

    log(f"results go to {json_path} and {png_path}")
    records: list[Record] = []
    servers: list[Server] = []
    interrupted = False
    workdir = Path(tempfile.mkdtemp(prefix="rustyobjectstore-bench-work-"))
    try:
        for name in servers_wanted:
            log(f"== {name}")
            with start_server(name, workdir, args.minio_dir) as server:
                servers.append(server)
                here = [lib for lib in libs if name in SUPPORTS[lib]]
                if server.status != "ok":
                    log(f"  unavailable: {server.reason}")
                    for lib in here:
                        _mark(records, name, chosen, lib, "unavailable", server.reason)
                    continue
                clients: dict[str, Client] = {}
                for lib in here:
                    if lib in missing:
                        _mark(records, name, chosen, lib, "not installed", f"import {MODULES[lib]}")
                    elif lib == "s3fs":
                        continue
                    else:
                        try:
                            clients[lib] = make_client(lib, server)
                            warm_up(clients[lib])
                        except Exception as e:
                            log(f"  {lib}: cannot start: {_short(e)}")
                            _mark(records, name, chosen, lib, "failed", _short(e))
                            clients.pop(lib, None)
                try:
                    for w in chosen:
                        payload = make_payload(w.object_size or w.size)
                        records += measure_together(
                            list(clients.values()), name, w, payload, repeats
                        )
                        del payload
                finally:
                    for client in clients.values():
                        with contextlib.suppress(Exception):
                            client.close()
                if "s3fs" in here:
                    if python is None:
                        why = unavailable.get("s3fs", "no venv")
                        _mark(records, name, chosen, "s3fs", "unavailable", why)
                    else:
                        try:
                            s3fs_versions, got = measure_s3fs(
                                python, server, chosen, repeats, workdir
                            )
                            records += got
                        except Exception as e:
                            log(f"  s3fs: {_short(e)}")
                            _mark(records, name, chosen, "s3fs", "failed", _short(e))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: servers stopped; what was measured follows")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if ROS in libs and ROS not in missing:
            import rustyobjectstore as ros

            ros.shutdown_object_store()

    if s3fs_versions:
        versions["s3fs"] = (
            f"{s3fs_versions['s3fs']} (aiobotocore {s3fs_versions['aiobotocore']}, "
            f"botocore {s3fs_versions['botocore']}, fsspec {s3fs_versions['fsspec']}; own venv)"
        )
    elif "s3fs" in libs:
        versions["s3fs"] = unavailable.get("s3fs", "not measured")

    lines = [
        f"Python {info['python']} on {info['platform']}",
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory']} memory",
        "libraries: "
        + ", ".join(
            f"{lib} NOT INSTALLED" if lib in missing else f"{lib} {versions.get(lib, '?')}"
            for lib in libs
        ),
        f"  (boto3 with botocore {versions['botocore']}; azure-storage-blob with azure-core "
        f"{versions['azure-core']}; matplotlib {versions['matplotlib']})",
        "servers: "
        + ", ".join(
            (f"{s.name} ({s.version})" if s.version != "-" else s.name)
            if s.status == "ok"
            else f"{s.name} unavailable"
            for s in servers
        ),
        f"repeats: {repeats} (medians); in flight = asyncio.gather under a semaphore of 64 for "
        f"rustyobjectstore, obstore and s3fs; a pool of {THREADS} threads for boto3 and "
        "azure-storage-blob; 64 MiB and 1 GiB objects go one at a time.",
        f"{ROS}: get_object_into into a reused buffer; ros get_object: get_object (fresh bytes, as "
        "every peer returns). 'vs X' = rustyobjectstore's speed / X's (latency: X's / ours): "
        "> 1 means rustyobjectstore is faster.",
        "",
    ]
    table = render_tables(records, servers, chosen, libs)
    print("\n".join(lines) + table, flush=True)

    document = {
        "meta": {
            "argv": sys.argv,
            "quick": args.quick,
            "repeats": repeats,
            "machine": info,
            "versions": versions,
            "threads": THREADS,
        },
        "workloads": [asdict(w) for w in chosen],
        "servers": [_server_json(s) for s in servers],
        "results": [asdict(r) for r in records],
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=1))
    print(f"raw samples: {json_path}")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    print(render_png(png_path, records, servers, chosen))
    failed = [r for r in records if r.status == "failed"]
    for r in failed:
        print(f"FAILED {r.server} {r.workload} {r.op} {r.lib}: {r.reason}")
    if interrupted:
        return 130
    return 1 if failed else 0


def _server_json(server: Server) -> dict[str, Any]:
    """The server as JSON, without the (throwaway) secret key."""
    document = asdict(server)
    document["root"] = str(server.root) if server.root else None
    if document["s3"]:
        document["s3"].pop("secret", None)
    return document


def _mark(
    records: list[Record],
    server: str,
    chosen: Sequence[Workload],
    lib: str,
    status: str,
    reason: str,
) -> None:
    for w in chosen:
        for op in w.ops:
            records.append(Record(server, w.key, op, lib, status, w.unit, reason))
            if lib == ROS and op == "get":
                records.append(Record(server, w.key, op, ROS_BYTES, status, w.unit, reason))


if __name__ == "__main__":
    sys.exit(main())
