"""Smoke test of scripts/bench: a quick run on the local stores, rustyobjectstore only.

Runs the script as a subprocess, so it needs neither the ``bench`` extra (obstore, boto3, ...)
nor MinIO nor the network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "scripts" / "bench"
SERVERS = ("memory", "file")
QUICK_WORKLOADS = {"small", "latency", "medium", "large", "ranges", "list", "tree"}


def _positive(sample: Any) -> bool:
    if isinstance(sample, list):  # latency: the seconds of each call in one repeat
        return bool(sample) and all(_positive(s) for s in sample)
    return isinstance(sample, int | float) and sample > 0


@pytest.mark.timeout(120)
def test_quick_run_on_local_stores(tmp_path: Path) -> None:
    json_path = tmp_path / "bench.json"
    argv = [
        sys.executable, str(BENCH), "--quick",
        "--servers", ",".join(SERVERS),
        "--libs", "rustyobjectstore",
        "--json", str(json_path),
        "--png", str(tmp_path / "bench.png"),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=110, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for server in SERVERS:
        assert f"== {server}" in result.stdout, result.stdout

    document = json.loads(json_path.read_text())
    assert str(json_path) in result.stdout
    assert {w["key"] for w in document["workloads"]} == QUICK_WORKLOADS
    assert document["meta"]["versions"]["rustyobjectstore"]
    index = {(r["server"], r["workload"], r["op"], r["lib"]): r for r in document["results"]}
    assert {r["lib"] for r in document["results"]} == {
        "rustyobjectstore",
        "rustyobjectstore[get_object]",
    }
    for server in SERVERS:
        for workload in document["workloads"]:
            cells = [("put", "rustyobjectstore"), ("get", "rustyobjectstore")]
            cells.append(("get", "rustyobjectstore[get_object]"))
            if workload["key"] == "ranges":  # one object, its ranges read in one call
                cells = [("ranges", "rustyobjectstore")]
            if workload["key"] in ("list", "tree"):  # listings: one op, counts checked
                cells = [(workload["ops"][0], "rustyobjectstore")]
            for op, lib in cells:
                record = index.get((server, workload["key"], op, lib))
                where = f"{server} {workload['key']} {op} {lib}"
                assert record is not None, f"no result for {where}"
                assert record["status"] == "ok", f"{where}: {record['reason']}"
                assert record["unit"] == workload["unit"]
                assert isinstance(record["median"], float) and record["median"] > 0, where
                assert record["samples"] and all(_positive(s) for s in record["samples"]), where


@pytest.mark.timeout(300)
def test_a_cloud_profile_puts_its_latency_before_every_answer(tmp_path: Path) -> None:
    """``--latency-ms 0,20``: the same server measured on loopback and behind toxiproxy, whose
    20 ms show in every call of the latency workload (and not on loopback)."""
    json_path = tmp_path / "bench.json"
    argv = [
        sys.executable, str(BENCH), "--quick", "--servers", "moto", "--libs", "rustyobjectstore",
        "--workloads", "latency", "--latency-ms", "0,20",
        "--json", str(json_path), "--png", str(tmp_path / "bench.png"),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=280, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "== moto:" in result.stdout and "== moto@20ms:" in result.stdout
    document = json.loads(json_path.read_text())
    profiles = {s["name"]: s for s in document["servers"]}
    assert profiles["moto@20ms"]["latency_ms"] == 20 and profiles["moto"]["latency_ms"] == 0
    samples = {
        (r["server"], r["op"]): [t for repeat in r["samples"] for t in repeat]
        for r in document["results"]
        if r["lib"] == "rustyobjectstore"
    }
    for op in ("put", "get"):
        far, near = samples[("moto@20ms", op)], samples[("moto", op)]
        assert min(far) >= 0.020, (op, min(far))
        assert sorted(near)[len(near) // 2] < 0.020, (op, near)
