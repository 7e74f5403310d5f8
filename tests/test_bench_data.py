"""Smoke test of scripts/bench_data.py: a quick run on moto, rustyobjectstore only (the peers and
MinIO are for real runs). Every row must be measured and every answer checked by the runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATA = ROOT / "scripts" / "bench_data.py"
ROWS = {"parquet_whole", "parquet_columns", "dask", "cat_ranges", "find", "get", "gets", "zarr"}


@pytest.mark.timeout(300)
def test_quick_run_on_moto(tmp_path: Path) -> None:
    json_path = tmp_path / "bench-data.json"
    argv = [
        sys.executable, str(BENCH_DATA), "--quick", "--libs", "rustyobjectstore",
        "--server", "moto", "--latency-ms", "0,20", "--json", str(json_path),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=290, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "== data stack on moto (" in result.stdout
    assert "== data stack on moto@20ms (" in result.stdout  # the cloud profile: toxiproxy
    assert "fs.cat_ranges" in result.stdout and "32 x 64 KiB" in result.stdout
    document = json.loads(json_path.read_text())
    samples = document["samples"]["rustyobjectstore"]
    assert set(samples) == ROWS
    for row in ROWS:
        assert len(samples[row]) == 1 and samples[row][0] > 0, row
    assert document["versions"]["rustyobjectstore"]["pyarrow"]
    far = document["profiles"]["moto@20ms"]["rustyobjectstore"]
    assert set(far) == ROWS
    # Every row waits for at least one answer 20 ms away.
    for row in ROWS:
        assert far[row][0] >= 0.020, row


@pytest.mark.timeout(300)
def test_quick_run_on_minio_counts_requests_and_anchors_parquet_on_polars(tmp_path: Path) -> None:
    """On MinIO every row asked for (``--rows``) reports the requests each library sent, counted
    by the server; polars' own reader runs the Parquet rows only; the other rows are not run."""
    json_path = tmp_path / "bench-data.json"
    rows = ["parquet_whole", "parquet_columns", "find", "gets"]
    argv = [
        sys.executable, str(BENCH_DATA), "--quick", "--libs", "rustyobjectstore,polars",
        "--server", "minio", "--rows", ",".join(rows), "--json", str(json_path),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=290, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "requests rustyobjectstore" in result.stdout and "vs polars" in result.stdout
    assert "fs.find" in result.stdout and "fs.cat_ranges" not in result.stdout
    assert "gets gathered in asyncio" in result.stdout and "100 x 64 KiB" in result.stdout
    document = json.loads(json_path.read_text())
    (profile,) = document["requests"].values()
    ours, polars = profile["rustyobjectstore"], profile["polars"]
    assert {row for row, n in ours.items() if n} == set(rows), ours
    assert all(ours[row][0] >= 1 for row in rows), ours
    assert ours["find"] == [1]  # 500 keys: one listing page
    assert ours["gets"] == [100]  # one request per object, gathered
    polars_rows = {"parquet_whole", "parquet_columns"}
    assert {row for row, n in polars.items() if n} == polars_rows
    assert all(polars[row][0] >= 2 for row in polars_rows)  # at least the footer and a chunk
    samples = document["samples"]["polars"]
    assert all(samples[row] and samples[row][0] > 0 for row in polars_rows)
    assert not any(samples[row] for row in ROWS - polars_rows)
    assert not any(document["samples"]["rustyobjectstore"][row] for row in ROWS - set(rows))


def test_rows_not_known_are_refused_before_anything_starts() -> None:
    argv = [sys.executable, str(BENCH_DATA), "--rows", "parquet_whole,everything"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--rows: from parquet_whole," in result.stderr
