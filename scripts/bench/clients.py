"""Each library behind one interface: rustyobjectstore and its peers (obstore, boto3,
azure-storage-blob); s3fs runs in its own venv (``s3fs_venv``)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from emulators import AZURITE_ACCOUNT, AZURITE_KEY

from bench.common import MODULES, REQUEST_TIMEOUT_S, ROS, ROS_BYTES, S3_REGION, THREADS
from bench.servers import AzureTarget, S3Target, Server

if TYPE_CHECKING:
    # Optional peers: mypy checks their calls where they are installed and is quiet where not.
    from azure.storage.blob import ContainerClient  # type: ignore[import-not-found,unused-ignore]
    from obstore.store import (  # type: ignore[import-not-found,unused-ignore]
        ClientConfig,
        ObjectStore,
    )

    import rustyobjectstore as ros

    RosConf = ros.Config | ros.AWSConfig | ros.AzureConfig


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


def make_client(lib: str, server: Server) -> Client:
    if lib == ROS:
        import rustyobjectstore as ros

        opts = ros.ClientOptions(request_timeout_secs=REQUEST_TIMEOUT_S)
        conf: RosConf
        if server.kind == "memory":
            conf = ros.Config("memory://")
        elif server.kind == "file":
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
        if server.kind == "memory":
            store = MemoryStore()
        elif server.kind == "file":
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


def installed(lib: str) -> bool:
    if lib == "s3fs":
        return True  # decided when its venv is built
    try:
        importlib.import_module(MODULES[lib])
    except Exception:  # absent, or present and broken: either way it cannot be measured
        return False
    return True
