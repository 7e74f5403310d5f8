"""Measures s3fs for ``scripts/bench``: a JSON request on stdin, a JSON answer on stdout.

Run by path in s3fs's own venv (``.emulators/venv-s3fs``), where only the standard library,
s3fs and this package's standard-library modules (``common``, ``workloads``) are importable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any


def main() -> None:
    # Run by path, the package is not importable yet: its parent (scripts/) goes on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.workloads import make_payload

    req = json.load(sys.stdin)
    import s3fs

    common: dict[str, Any] = dict(
        key=req["key"], secret=req["secret"], endpoint_url=req["endpoint"],
        client_kwargs={"region_name": req["region"]},
        config_kwargs={"max_pool_connections": 64},
        skip_instance_cache=True, use_listings_cache=False,
    )  # fmt: skip
    fs = s3fs.S3FileSystem(**common)
    base = f"{req['bucket']}/bench/s3fs"
    warm = make_payload(1024, req["seed"])
    for _ in range(3):
        fs.pipe_file(f"{base}/warm", warm)
        fs.cat_file(f"{base}/warm")
    fs.rm(f"{base}/warm")
    results: list[dict[str, Any]] = []
    versions = {p: version(p) for p in ("s3fs", "aiobotocore", "botocore", "fsspec")}
    for w in req["workloads"]:
        results.append(measure(fs, common, w, req["seed"], req["repeats"], base))
    print(json.dumps({"versions": versions, "results": results}))


def measure(
    fs: Any, common: dict[str, Any], w: dict[str, Any], seed: int, repeats: int, base: str
) -> dict[str, Any]:
    """One workload's puts then gets, ``repeats`` times each; the bytes read back checked."""
    import s3fs

    from bench.workloads import make_payload

    size, count, in_flight = w["size"], w["count"], w["in_flight"]
    data = make_payload(size, seed)
    keys = [f"{base}/{w['key']}/{i:06d}" for i in range(count)]
    rec: dict[str, Any] = {"workload": w["key"], "put": [], "get": [], "status": "ok", "reason": ""}

    def check(got: bytes, key: str) -> None:
        if len(got) != size:
            raise RuntimeError(f"{key}: got {len(got)} bytes, expected {size}")

    async def batch(op: str, subset: list[str]) -> float:
        afs = s3fs.S3FileSystem(asynchronous=True, **common)
        session = await afs.set_session()
        gate = asyncio.Semaphore(in_flight)

        async def one(key: str) -> None:
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
            for _ in range(repeats):
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
        with contextlib.suppress(Exception):
            fs.rm(keys)
    return rec


if __name__ == "__main__":
    main()
