"""One library's sample of each data-stack workload, for scripts/bench_data.py.

A JSON request on stdin, a JSON answer on the last line of stdout. It runs under any interpreter
that has the library: this project's for rustyobjectstore and obstore, s3fs's own venv for s3fs,
so it imports nothing from this project but the library it measures.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

VERSIONS = ("fsspec", "pyarrow", "pandas", "dask", "distributed", "zarr")
OWN_DISTRIBUTIONS = {
    "rustyobjectstore": ("rustyobjectstore",),
    "obstore": ("obstore",),
    "s3fs": ("s3fs", "aiobotocore", "botocore"),
    "polars": ("polars",),
}
# MinIO's per-API request counters (its metrics v3, current at each scrape).
REQUESTS_TOTAL = re.compile(r"^minio_api_requests_total\{[^}]*\} (\S+)$", re.M)


def make_fs(lib: str, req: dict[str, Any]) -> Any:
    """The library's fsspec filesystem for the server, made as its users make it."""
    if lib == "rustyobjectstore":
        from rustyobjectstore.fsspec import S3FileSystem

        return S3FileSystem(
            key=req["key"], secret=req["secret"], endpoint_url=req["endpoint"],
            region_name=req["region"],
        )  # fmt: skip
    if lib == "obstore":
        from obstore.fsspec import FsspecStore

        return FsspecStore(
            "s3", endpoint=req["endpoint"], access_key_id=req["key"],
            secret_access_key=req["secret"], region=req["region"],
            client_options={"allow_http": True},
        )  # fmt: skip
    if lib == "s3fs":
        import s3fs

        return s3fs.S3FileSystem(
            key=req["key"], secret=req["secret"], endpoint_url=req["endpoint"],
            client_kwargs={"region_name": req["region"]},
        )  # fmt: skip
    raise ValueError(f"unknown library {lib!r}")


def zarr_store(lib: str, req: dict[str, Any]) -> Any:
    """The array's zarr store, as each library's users make it: zarr's ``FsspecStore`` over an
    asynchronous filesystem, or, for obstore, zarr's own ``ObjectStore``."""
    from zarr.storage import FsspecStore

    path = f"{req['bucket']}/{req['zarr']}"
    if lib == "rustyobjectstore":
        from rustyobjectstore.fsspec import S3FileSystem

        fs = S3FileSystem(
            key=req["key"], secret=req["secret"], endpoint_url=req["endpoint"],
            region_name=req["region"], asynchronous=True,
        )  # fmt: skip
        return FsspecStore(fs, path=path, read_only=True)
    if lib == "obstore":
        from obstore.store import S3Store
        from zarr.storage import ObjectStore

        store = S3Store(
            req["bucket"], prefix=req["zarr"], endpoint=req["endpoint"],
            access_key_id=req["key"], secret_access_key=req["secret"], region=req["region"],
            client_options={"allow_http": True},
        )  # fmt: skip
        return ObjectStore(store, read_only=True)
    if lib == "s3fs":
        import s3fs

        fs = s3fs.S3FileSystem(
            key=req["key"], secret=req["secret"], endpoint_url=req["endpoint"],
            client_kwargs={"region_name": req["region"]}, asynchronous=True,
        )  # fmt: skip
        return FsspecStore(fs, path=path, read_only=True)
    raise ValueError(f"unknown library {lib!r}")


Get = Callable[[str], Awaitable[Any]]


async def own_get(lib: str, req: dict[str, Any]) -> tuple[Get, Callable[[], Awaitable[None]]]:
    """A get of one key through the library's own asynchronous API, as its users call it, and
    what closes the client after."""

    async def nothing() -> None:
        return None

    if lib == "rustyobjectstore":
        import rustyobjectstore as ros

        conf = ros.AWSConfig(
            region=req["region"], bucket_name=req["bucket"], access_key_id=req["key"],
            secret_access_key=req["secret"], host=req["endpoint"],
        )  # fmt: skip
        return (lambda key: ros.get_object_async(key, conf)), nothing
    if lib == "obstore":
        import obstore
        from obstore.store import S3Store

        store = S3Store(
            req["bucket"], endpoint=req["endpoint"], access_key_id=req["key"],
            secret_access_key=req["secret"], region=req["region"],
            client_options={"allow_http": True},
        )  # fmt: skip

        async def get(key: str) -> Any:
            return await (await obstore.get_async(store, key)).bytes_async()

        return get, nothing
    if lib == "s3fs":
        import s3fs

        fs = s3fs.S3FileSystem(
            key=req["key"], secret=req["secret"], endpoint_url=req["endpoint"],
            client_kwargs={"region_name": req["region"]}, asynchronous=True,
        )  # fmt: skip
        session = await fs.set_session()
        return (lambda key: fs._cat_file(f"{req['bucket']}/{key}")), session.close
    raise ValueError(f"unknown library {lib!r}")


def gathered_gets(lib: str, req: dict[str, Any]) -> tuple[float, int | None]:
    """Every small object got at once, gathered in asyncio: the seconds, and the requests sent
    (the client is made and warmed with one get first, untimed)."""
    keys = [f"{req['small']}{i:05d}" for i in range(req["gets_n"])]

    async def run() -> tuple[float, int | None]:
        get, close = await own_get(lib, req)
        try:
            await get(keys[0])  # warm: a connection, and credentials resolved
            before = requests_now(req)
            start = time.perf_counter()
            got = await asyncio.gather(*(get(key) for key in keys))
            seconds = time.perf_counter() - start
            after = requests_now(req)
        finally:
            await close()
        if [len(data) for data in got] != [req["get_size"]] * len(keys):
            raise RuntimeError("gets: wrong result")
        return seconds, None if before is None or after is None else after - before

    return asyncio.run(run())


def requests_now(req: dict[str, Any]) -> int | None:
    """How many S3 requests the server has answered so far, from MinIO's metrics (None: a
    server without them)."""
    url = req.get("metrics")
    if not url:
        return None
    with urllib.request.urlopen(url, timeout=30) as answer:
        text = answer.read().decode()
    return int(sum(float(n) for n in REQUESTS_TOTAL.findall(text)))


def polars_main(req: dict[str, Any], wanted: set[str]) -> dict[str, tuple[float, int | None]]:
    """polars' own Parquet reader (Rust, object_store in-process, ranged reads in parallel): the
    anchor for the Parquet rows, which it reads without any fsspec filesystem."""
    import polars as pl

    url = f"s3://{req['bucket']}/{req['parquet']}"
    options = {"aws_access_key_id": req["key"], "aws_secret_access_key": req["secret"],
               "aws_endpoint_url": req["endpoint"], "aws_region": req["region"],
               "aws_allow_http": "true"}  # fmt: skip
    pl.scan_parquet(url, storage_options=options).collect_schema()  # warm, as the others do
    rows: int = req["parquet_rows"]
    columns: list[str] = req["columns"]
    calls = {
        "parquet_whole": lambda: pl.read_parquet(url, storage_options=options),
        "parquet_columns": lambda: pl.read_parquet(url, storage_options=options, columns=columns),
    }
    found: dict[str, tuple[float, int | None]] = {}
    for name, call in calls.items():
        if name in wanted:
            before = requests_now(req)
            seconds = timed(call, lambda frame: frame.height == rows, name)
            after = requests_now(req)
            found[name] = (seconds, None if before is None or after is None else after - before)
    return found


def timed(call: Callable[[], Any], check: Callable[[Any], bool], what: str) -> float:
    start = time.perf_counter()
    got = call()
    seconds = time.perf_counter() - start
    if not check(got):
        raise RuntimeError(f"{what}: wrong result")
    return seconds


def main() -> None:
    req = json.load(sys.stdin)
    lib: str = req["lib"]
    wanted = set(req["workloads"])
    if lib == "polars":
        found = polars_main(req, wanted)
        versions = {d: importlib.metadata.version(d) for d in OWN_DISTRIBUTIONS[lib]}
        print(json.dumps({"samples": {name: s for name, (s, _) in found.items()},
                          "requests": {name: n for name, (_, n) in found.items()},
                          "versions": versions}))  # fmt: skip
        return
    import pyarrow.parquet as pq

    fs = make_fs(lib, req)
    bucket: str = req["bucket"]
    parquet = f"{bucket}/{req['parquet']}"
    fs.cat_file(parquet, start=0, end=8)  # warm: a connection, and credentials resolved
    samples: dict[str, float] = {}
    requests: dict[str, int | None] = {}

    def note(name: str, call: Callable[[], Any], check: Callable[[Any], bool]) -> None:
        if name in wanted:
            fs.invalidate_cache()  # every library lists afresh
            before = requests_now(req)
            samples[name] = timed(call, check, name)
            after = requests_now(req)
            requests[name] = None if before is None or after is None else after - before
            print(f"  {lib} {name}: {samples[name]:.3f} s", file=sys.stderr, flush=True)

    rows: int = req["parquet_rows"]
    columns: list[str] = req["columns"]
    note("parquet_whole", lambda: pq.read_table(parquet, filesystem=fs),
         lambda t: t.num_rows == rows)  # fmt: skip
    note("parquet_columns", lambda: pq.read_table(parquet, filesystem=fs, columns=columns),
         lambda t: t.num_rows == rows and t.column_names == columns)  # fmt: skip
    starts: list[int] = req["range_starts"]
    ends = [s + req["range_size"] for s in starts]
    note("cat_ranges", lambda: fs.cat_ranges([parquet] * len(starts), starts, ends),
         lambda got: [len(b) for b in got] == [e - s for s, e in zip(starts, ends, strict=True)])  # fmt: skip
    note("find", lambda: fs.find(f"{bucket}/{req['many']}"), lambda got: len(got) == req["many_n"])
    if "get" in wanted:
        with tempfile.TemporaryDirectory(dir=req.get("scratch")) as scratch:
            local = os.path.join(scratch, "big.bin")
            note("get", lambda: fs.get_file(f"{bucket}/{req['big']}", local),
                 lambda _: os.path.getsize(local) == req["big_size"])  # fmt: skip
    if "dask" in wanted:
        import dask.dataframe as dd
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=":0") as cluster,
            Client(cluster),
        ):  # fmt: skip
            dataset = f"{bucket}/{req['dataset']}"
            expected: float = req["dataset_sum"]
            note("dask", lambda: dd.read_parquet(dataset, filesystem=fs)["c0"].sum().compute(),
                 lambda got: abs(got - expected) <= 1e-6 * max(1.0, abs(expected)))  # fmt: skip

    if "gets" in wanted:
        samples["gets"], requests["gets"] = gathered_gets(lib, req)
        print(f"  {lib} gets: {samples['gets']:.3f} s", file=sys.stderr, flush=True)

    if "zarr" in wanted:
        import zarr

        zarr.config.set({"async.concurrency": 64})
        store = zarr_store(lib, req)
        expected_sum: float = req["zarr_sum"]
        note("zarr", lambda: zarr.open_array(store, mode="r")[:],
             lambda got: abs(float(got.sum()) - expected_sum) <= 1e-6 * abs(expected_sum))  # fmt: skip

    versions = {d: importlib.metadata.version(d) for d in (*OWN_DISTRIBUTIONS[lib], *VERSIONS)}
    print(json.dumps({"samples": samples, "requests": requests, "versions": versions}))


if __name__ == "__main__":
    main()
