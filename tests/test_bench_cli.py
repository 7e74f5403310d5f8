"""Smoke test of scripts/bench_cli.py: a quick run of our command line, s5cmd and aws on MinIO.
Every row must be measured for every tool; the script checks each result itself (a tool that
leaves a wrong result fails the run rather than looking fast). The first run builds awscli's
venv (.emulators/venv-awscli); later runs reuse it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from emulators import MINIO_SECRET

ROOT = Path(__file__).resolve().parent.parent
BENCH_CLI = ROOT / "scripts" / "bench_cli.py"
ROWS = {"cp_up", "cp_down", "big_up", "big_down", "sync"}
TOOLS = ("rustyobjectstore", "s5cmd", "aws")


@pytest.mark.timeout(600)
def test_quick_run_of_every_tool_on_minio(tmp_path: Path) -> None:
    json_path = tmp_path / "bench-cli.json"
    argv = [sys.executable, str(BENCH_CLI), "--quick", "--json", str(json_path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=590, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "== command lines on minio (" in result.stdout
    assert "vs s5cmd" in result.stdout and "vs aws" in result.stdout
    assert "failed" not in result.stdout and "FAILED" not in result.stdout
    text = json_path.read_text()
    assert MINIO_SECRET not in text  # the commands are written with the secret masked
    document = json.loads(text)
    assert set(document) == {
        "machine", "server", "sizes", "repeats", "versions", "commands", "samples", "errors",
    }  # fmt: skip
    assert document["repeats"] == 1
    assert document["sizes"]["cp_up"] == "200 x 64 KiB"
    assert document["sizes"]["big_down"] == "64 MiB"
    assert document["sizes"]["sync"] == "200 x 64 KiB, 2 changed"
    for tool in TOOLS:
        samples, errors = document["samples"][tool], document["errors"][tool]
        assert set(samples) == ROWS and set(errors) == ROWS, tool
        for row in ROWS:
            assert len(samples[row]) == 1 and samples[row][0] > 0, (tool, row)
            assert errors[row] == [], (tool, row)
        assert set(document["commands"][tool]) == ROWS, tool
    versions = document["versions"]
    assert versions["rustyobjectstore"].startswith("rustyobjectstore ")
    assert versions["s5cmd"].startswith("s5cmd v2.")
    assert versions["aws"].startswith("aws-cli/1.")
    commands = document["commands"]
    assert " sync -q $WORK/sync/ s3://bench/" in commands["rustyobjectstore"]["sync"]
    assert "secret_access_key=***" in commands["rustyobjectstore"]["cp_up"]
    assert " cp '$WORK/tree/*' s3://bench/" in commands["s5cmd"]["cp_up"]
    assert " s3 cp --recursive --only-show-errors $WORK/tree/ " in commands["aws"]["cp_up"]
