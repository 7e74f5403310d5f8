#!/usr/bin/env python
"""The data stack through three fsspec filesystems: rustyobjectstore's, obstore's ``FsspecStore``
and s3fs, and polars' own reader, in one run on the same S3 server (MinIO on loopback) and the
same data.

Rows, each a median of ``--repeats`` (5) in seconds, and rustyobjectstore's speed-up over each
peer (their time / ours: above 1 means rustyobjectstore is faster):

- ``pq.read_table`` of a 256 MiB Parquet file of 16 float64 columns in 8 row groups, whole and
  2 of its 16 columns;
- ``dd.read_parquet(...)["c0"].sum().compute()`` of a 32-file dataset on a ``LocalCluster`` of two
  worker processes (the cluster's start is not timed);
- ``fs.cat_ranges`` of 256 ranges of 64 KiB at random offsets of the Parquet file;
- ``fs.find`` of 10,000 keys; ``fs.get_file`` of a 1 GiB object to a local file;
- 1,000 gets of 64 KiB objects gathered at once in asyncio, through each library's own asynchronous
  API (``get_object_async``, obstore's ``get_async``, s3fs's ``_cat_file``), not fsspec's;
- polars' own ``pl.read_parquet`` (Rust, no fsspec) on the Parquet rows only: the anchor there.

On MinIO, each row also reports how many S3 requests each library sent (MinIO's own counters,
so a Dask worker's requests count too).

Each library runs ``scripts/bench_data_runner.py`` in a process of its own, one sample of every
row per process, the libraries taking turns repeat by repeat; s3fs's runs in its venv
(``.emulators/venv-s3fs``, with the same pyarrow, pandas and Dask as here). Every library is made
with the options its users give and its defaults (block sizes, caches).

With ``--latency-ms 0,20`` every row runs on loopback and again with the server 20 ms away
(toxiproxy delays each answer), the data uploaded once. ``--rows`` picks rows.

    python scripts/bench_data.py --latency-ms 0,20
    python scripts/bench_data.py --quick --libs rustyobjectstore --server moto
    python scripts/bench_data.py --latency-ms 20 --rows parquet_whole,parquet_columns
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import HOST, S3_REGION, SEED, GiB, KiB, MiB, log
from bench.report import aligned, machine
from bench.s3fs_venv import s3fs_python
from bench.servers import Server, behind_toxiproxy, latencies, start_server

import rustyobjectstore as ros

RUNNER = Path(__file__).resolve().parent / "bench_data_runner.py"
LIBS = ("rustyobjectstore", "obstore", "s3fs", "polars")
PEERS = ("obstore", "s3fs", "polars")
COLUMNS = 16
ROW_GROUPS = 8
DATASET_FILES = 32
# The s3fs venv gets the same data libraries as this interpreter, so only the filesystem differs.
SAME_AS_HERE = ("fsspec", "pyarrow", "pandas", "dask", "distributed", "zarr")


@dataclass(frozen=True)
class Sizes:
    parquet_rows: int
    dataset_rows: int  # per file
    ranges: int
    range_size: int
    many: int
    gets: int  # objects of GET_SIZE, gathered
    big: int
    zarr_chunks: int


FULL = Sizes(parquet_rows=256 * MiB // (8 * COLUMNS), dataset_rows=8 * MiB // (8 * COLUMNS),
             ranges=256, range_size=64 * KiB, many=10_000, gets=1000, big=GiB,
             zarr_chunks=1024)  # fmt: skip
QUICK = Sizes(parquet_rows=16 * MiB // (8 * COLUMNS), dataset_rows=64 * KiB // (8 * COLUMNS),
              ranges=32, range_size=64 * KiB, many=500, gets=100, big=64 * MiB,
              zarr_chunks=64)  # fmt: skip

ROWS = {
    "parquet_whole": "pq.read_table, whole file",
    "parquet_columns": "pq.read_table, 2 of 16 columns",
    "dask": "dd.read_parquet .sum(), 2-worker LocalCluster",
    "cat_ranges": "fs.cat_ranges",
    "find": "fs.find",
    "get": "fs.get_file",
    "gets": "gets gathered in asyncio, own API",
    "zarr": "zarr array read whole, async.concurrency 64",
}
ZARR_CHUNK = 64 * KiB  # float64 values, uncompressed
GET_SIZE = 64 * KiB


def describe(sizes: Sizes) -> dict[str, str]:
    parquet = sizes.parquet_rows * 8 * COLUMNS
    return {
        "parquet_whole": f"{parquet // MiB} MiB",
        "parquet_columns": f"{parquet // MiB} MiB",
        "dask": f"{DATASET_FILES} x {sizes.dataset_rows * 8 * COLUMNS // KiB:,} KiB",
        "cat_ranges": f"{sizes.ranges} x {sizes.range_size // KiB} KiB",
        "find": f"{sizes.many:,} keys",
        "get": f"{sizes.big // MiB:,} MiB",
        "gets": f"{sizes.gets:,} x {GET_SIZE // KiB} KiB",
        "zarr": f"{sizes.zarr_chunks:,} x {ZARR_CHUNK // KiB} KiB",
    }


# --- the data --------------------------------------------------------------------------------


def _table(rows: int, seed: int) -> Any:
    import numpy as np
    import pyarrow as pa

    values = np.random.default_rng(seed).random((COLUMNS, rows))  # incompressible
    return pa.table({f"c{i}": values[i] for i in range(COLUMNS)})


def upload_data(conf: ros.AWSConfig, sizes: Sizes, scratch: Path) -> dict[str, Any]:
    """Writes the data with rustyobjectstore; the request fields the runners need."""
    import pyarrow.parquet as pq

    log("writing the Parquet file, the dataset, the keys and the big object")
    local = scratch / "data.parquet"
    pq.write_table(_table(sizes.parquet_rows, SEED), local,
                   row_group_size=sizes.parquet_rows // ROW_GROUPS)  # fmt: skip
    ros.put_object_from_file("data.parquet", str(local), conf)
    parquet_size = local.stat().st_size
    dataset_sum = 0.0
    for i in range(DATASET_FILES):
        table = _table(sizes.dataset_rows, SEED + 1 + i)
        dataset_sum += float(table.column("c0").to_numpy().sum())
        pq.write_table(table, local)
        ros.put_object_from_file(f"dataset/part-{i:02d}.parquet", str(local), conf)
    local.unlink()

    small = random.Random(SEED).randbytes(GET_SIZE)

    async def many() -> None:
        gate = asyncio.Semaphore(64)

        async def one(key: str, data: bytes) -> None:
            async with gate:
                await ros.put_object_async(key, data, conf)

        await asyncio.gather(
            *(one(f"many/{i // 100:03d}/{i:05d}", b"x") for i in range(sizes.many)),
            *(one(f"small/{i:05d}", small) for i in range(sizes.gets)),
        )

    asyncio.run(many())
    zarr_sum = write_zarr(conf, sizes.zarr_chunks)
    chunk = random.Random(SEED).randbytes(8 * MiB)
    with ros.put_object_stream("big.bin", conf) as writer:
        for _ in range(sizes.big // len(chunk)):
            writer.write(chunk)
    rng = random.Random(SEED)
    starts = [rng.randrange(0, parquet_size - sizes.range_size) for _ in range(sizes.ranges)]
    return {
        "parquet": "data.parquet", "parquet_rows": sizes.parquet_rows,
        "columns": ["c0", "c7"], "range_starts": starts, "range_size": sizes.range_size,
        "many": "many/", "many_n": sizes.many, "big": "big.bin", "big_size": sizes.big,
        "small": "small/", "gets_n": sizes.gets, "get_size": GET_SIZE,
        "dataset": "dataset/", "dataset_sum": dataset_sum,
        "zarr": "array.zarr", "zarr_sum": zarr_sum,
    }  # fmt: skip


def write_zarr(conf: ros.AWSConfig, chunks: int) -> float:
    """A zarr v3 array of ``chunks`` uncompressed chunks, written through our filesystem; the sum
    of its values, which every reader must find."""
    import numpy as np
    import zarr
    from zarr.storage import FsspecStore

    from rustyobjectstore.fsspec import S3FileSystem

    assert conf.host is not None and conf.access_key_id and conf.secret_access_key
    values = np.random.default_rng(SEED + 99).random(chunks * (ZARR_CHUNK // 8))
    fs = S3FileSystem(key=conf.access_key_id, secret=conf.secret_access_key,
                      endpoint_url=conf.host, region_name=conf.region, asynchronous=True)  # fmt: skip
    store = FsspecStore(fs, path=f"{conf.bucket_name}/array.zarr")
    array = zarr.create_array(store, shape=values.shape, chunks=(ZARR_CHUNK // 8,),
                              dtype="float64", compressors=None)  # fmt: skip
    array[:] = values
    return float(values.sum())


# --- the runs --------------------------------------------------------------------------------


def interpreter(lib: str) -> Path:
    if lib != "s3fs":
        return Path(sys.executable)
    here = [f"{d}=={importlib.metadata.version(d)}" for d in SAME_AS_HERE]
    here[SAME_AS_HERE.index("dask")] = here[SAME_AS_HERE.index("dask")].replace(
        "dask", "dask[dataframe]", 1
    )
    return s3fs_python(
        extra=here, extra_imports=("pyarrow", "dask.dataframe", "distributed", "zarr")
    )


def run_once(python: Path, request: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), str(RUNNER)], input=json.dumps(request), stdout=subprocess.PIPE,
        stderr=None, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{request['lib']}'s runner exited with {result.returncode}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


@contextmanager
def server_named(name: str, workdir: Path) -> Iterator[Server]:
    with start_server(name, workdir) as server:
        if server.status != "ok" or server.s3 is None:
            raise SystemExit(f"{name} is unavailable: {server.reason}")
        yield server


def render(
    samples: dict[str, dict[str, list[float]]], requests: dict[str, dict[str, list[int]]],
    sizes: Sizes, libs: Sequence[str],
) -> str:  # fmt: skip
    """Medians and speed-ups, then the requests each library sent (when the server counts them;
    "-" where a library does not run a row)."""
    sizes_of = describe(sizes)
    peers = [p for p in PEERS if p in libs]
    counted = any(requests[lib][row] for lib in libs for row in ROWS)
    head = ["row", "size", *libs, *(f"vs {p}" for p in peers)]
    head += [f"requests {lib}" for lib in libs] if counted else []
    lines = [head]
    for row, label in ROWS.items():
        if not samples["rustyobjectstore"][row]:
            continue  # not asked for (--rows)
        medians = {lib: statistics.median(samples[lib][row]) for lib in libs if samples[lib][row]}
        cells = [label, sizes_of[row]]
        cells += [f"{medians[lib]:.3f} s" if lib in medians else "-" for lib in libs]
        ours = medians["rustyobjectstore"]
        cells += [f"{medians[p] / ours:.2f}x" if p in medians else "-" for p in peers]
        if counted:
            cells += [str(max(requests[lib][row])) if requests[lib][row] else "-" for lib in libs]
        lines.append(cells)
    return aligned(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small data, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (1 with --quick)")
    parser.add_argument("--libs", default=",".join(LIBS), help=f"from {','.join(LIBS)}")
    parser.add_argument("--server", default="minio", choices=("minio", "moto"))
    parser.add_argument(
        "--latency-ms",
        type=latencies,
        default=[0],
        help="comma-separated delays of every answer, e.g. 0,20 (0: loopback, direct)",
    )
    parser.add_argument(
        "--bandwidth-kbps", type=int, default=None, help="with a latency, cap each connection"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every sample here")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"from {','.join(ROWS)}")
    args = parser.parse_args(argv)
    args.rows = [row for row in args.rows.split(",") if row]
    if not args.rows or set(args.rows) - set(ROWS):
        parser.error(f"--rows: from {','.join(ROWS)}")
    args.libs = [lib for lib in args.libs.split(",") if lib]
    unknown = set(args.libs) - set(LIBS)
    if unknown or "rustyobjectstore" not in args.libs:
        parser.error(f"--libs: from {','.join(LIBS)}, rustyobjectstore among them")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("NO_PROXY", "no_proxy"):  # every server is on loopback
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), HOST, "localhost"]))
    sizes = QUICK if args.quick else FULL
    repeats: int = args.repeats or (1 if args.quick else 5)
    libs: list[str] = args.libs
    pythons = {lib: interpreter(lib) for lib in libs}
    profiles: dict[str, dict[str, dict[str, list[float]]]] = {}
    counts: dict[str, dict[str, dict[str, list[int]]]] = {}
    about: dict[str, str] = {}
    versions: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="rustyobjectstore-bench-data-") as tmp:
        workdir = Path(tmp)
        with server_named(args.server, workdir) as server:
            assert server.s3 is not None
            s3 = server.s3
            conf = ros.AWSConfig(region=S3_REGION, bucket_name=s3.bucket,
                                 access_key_id=s3.key, secret_access_key=s3.secret,
                                 host=s3.endpoint)  # fmt: skip
            request = upload_data(conf, sizes, workdir)  # once, on loopback, for every profile
            # Counted at the server itself, so a Dask worker's requests count too.
            metrics = (
                f"{s3.endpoint}/minio/metrics/v3/api/requests" if args.server == "minio" else None
            )
            for latency_ms in args.latency_ms:
                far = (
                    behind_toxiproxy(server, latency_ms, args.bandwidth_kbps)
                    if latency_ms
                    else nullcontext(server)
                )
                with far as seen:
                    assert seen.s3 is not None
                    request.update(endpoint=seen.s3.endpoint, key=s3.key, secret=s3.secret,
                                   region=S3_REGION, bucket=s3.bucket, scratch=str(workdir),
                                   workloads=args.rows, metrics=metrics)  # fmt: skip
                    samples: dict[str, dict[str, list[float]]] = {
                        lib: {row: [] for row in ROWS} for lib in libs
                    }
                    sent: dict[str, dict[str, list[int]]] = {
                        lib: {row: [] for row in ROWS} for lib in libs
                    }
                    for repeat in range(repeats):
                        for lib in libs:
                            log(f"{seen.name}, repeat {repeat + 1}/{repeats}: {lib}")
                            answer = run_once(pythons[lib], {**request, "lib": lib})
                            versions[lib] = answer["versions"]
                            for row, seconds in answer["samples"].items():
                                samples[lib][row].append(seconds)
                            for row, n in answer["requests"].items():
                                if n is not None:
                                    sent[lib][row].append(n)
                    profiles[seen.name] = samples
                    counts[seen.name] = sent
                    about[seen.name] = f"{server.version} at {seen.endpoint}"
    info = machine()
    for name, samples in profiles.items():
        print(f"== data stack on {name} ({about[name]}); medians of {repeats}; "
              f"{info['cpu']}, {info['cores']} cores")  # fmt: skip
        print(render(samples, counts[name], sizes, libs))
    for lib in libs:
        print(f"{lib}: " + ", ".join(f"{d} {v}" for d, v in versions[lib].items()))
    if args.json:
        first = next(iter(profiles))
        document = {"machine": info, "server": about[first], "sizes": describe(sizes),
                    "versions": versions, "samples": profiles[first],
                    "profiles": profiles, "requests": counts, "servers": about}  # fmt: skip
        args.json.write_text(json.dumps(document, indent=1))
        print(f"samples: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
