"""The store under test: file://, memory://, S3 on moto (or any endpoint), or MinIO that can be
SIGKILLed and started again on its data."""

from __future__ import annotations

import argparse
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import rustyobjectstore as ros

T = TypeVar("T")

StoreConf = ros.Config | ros.AWSConfig


def _nothing() -> None:
    pass


@dataclass
class Store:
    conf: StoreConf
    describe: str
    stop: Callable[[], None] = _nothing
    # SIGKILLs the server and starts it again on the same data and port (MinIO only).
    restart: Callable[[], None] | None = None


class RestartableMinio:
    """MinIO on one data directory and port, killed and started again at will. Every start happens
    on one thread that lives as long as this object: MinIO is told to die with the thread that
    started it (PR_SET_PDEATHSIG follows the thread, not the process)."""

    def __init__(self, data: Path, bucket: str) -> None:
        from emulators import RunningServer, create_minio_bucket, start_minio

        self._start = start_minio
        self.data = data
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._keeper = threading.Thread(target=self._keep, name="chaos-minio", daemon=True)
        self._keeper.start()
        data.mkdir()
        self.server: RunningServer = self._on_keeper(lambda: start_minio(data))
        self.endpoint = self.server.endpoint
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        create_minio_bucket(self.endpoint, bucket)

    def _keep(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def _on_keeper(self, work: Callable[[], T]) -> T:
        done: Future[T] = Future()

        def job() -> None:
            try:
                done.set_result(work())
            except BaseException as error:
                done.set_exception(error)

        self._jobs.put(job)
        return done.result()

    def restart(self) -> None:
        """SIGKILL, then a start on the same data and port."""
        self.server.kill()
        self.server = self._on_keeper(lambda: self._start(self.data, self.port))

    def stop(self) -> None:
        self.server.stop()
        self._jobs.put(None)
        self._keeper.join()


def make_store(args: argparse.Namespace, root: Path, run: str) -> Store:
    if args.store == "file":
        root.mkdir()
        return Store(ros.Config(root.as_uri()), f"file://{root}")
    if args.store == "memory":
        return Store(ros.Config(f"memory:///{run}"), "memory://")
    from emulators import MINIO_KEY, MINIO_SECRET, create_s3_bucket, start_moto

    if args.store == "minio":
        minio = RestartableMinio(root, args.bucket)
        conf = ros.AWSConfig(
            region=args.region, bucket_name=args.bucket, access_key_id=MINIO_KEY,
            secret_access_key=MINIO_SECRET, host=minio.endpoint,
            opts=ros.ClientOptions(request_timeout_secs=30),
        )  # fmt: skip
        what = f"s3 on MinIO (started here, data in {root}) {minio.endpoint}/{args.bucket}"
        return Store(conf, what, minio.stop, minio.restart)
    stop: Callable[[], None] = _nothing
    endpoint = args.endpoint
    if endpoint is None:
        server = start_moto()
        stop, endpoint = server.stop, server.endpoint
        create_s3_bucket(endpoint, args.bucket)
        what = f"s3 on moto (started here) {endpoint}/{args.bucket}"
    else:
        if args.create_bucket:
            create_s3_bucket(endpoint, args.bucket)
        what = f"s3 {endpoint}/{args.bucket}"
    conf = ros.AWSConfig(
        region=args.region,
        bucket_name=args.bucket,
        access_key_id=args.access_key,
        secret_access_key=args.secret_key,
        host=endpoint,
        opts=ros.ClientOptions(request_timeout_secs=30),
    )
    return Store(conf, what, stop)
