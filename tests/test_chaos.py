"""Short chaos runs (scripts/chaos): ~600 mixed operations from threads and asyncio tasks on a
file:// store while a worker is SIGKILLed every ~0.2 s, and on MinIO while MinIO itself is
SIGKILLed and restarted on its data as well.

Runs the script as a subprocess, so its leak checks (worker processes, threads, fds, temp files)
see a process of its own rather than the test session's pool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chaos import MUST_BE_ZERO, WEIGHTS

ROOT = Path(__file__).resolve().parent.parent
CHAOS = ROOT / "scripts" / "chaos"


SHORT_RUN = [
    "--ops", "600", "--threads", "4", "--tasks", "4", "--workers", "3",
    "--kill-every", "0.2", "--min-kills", "3", "--big-every", "100",
    "--seconds", "25", "--seed", "4",
]  # fmt: skip
# MinIO killed (SIGKILL) and started again on its data at least three times, workers killed too.
SERVER_RESTARTS = [
    "--store", "minio", "--server-restarts", "3", "--server-restart-every", "3",
    "--ops", "600", "--threads", "4", "--tasks", "4", "--workers", "3",
    "--kill-every", "0.5", "--min-kills", "3", "--big-every", "150",
    "--seconds", "90", "--seed", "5",
]  # fmt: skip


def _run(
    tmp_path: Path, options: list[str] = SHORT_RUN, timeout: float = 240
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    json_path = tmp_path / "chaos.json"
    argv = [sys.executable, str(CHAOS), *options, "--json", str(json_path)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert json_path.exists(), output[-4000:]
    document: dict[str, Any] = json.loads(json_path.read_text())
    return result, document


@pytest.mark.timeout(280)
def test_short_chaos_run_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    result, document = _run(tmp_path)
    figures: dict[str, Any] = document["figures"]
    report = result.stdout[-6000:] + result.stderr[-2000:]

    for name in MUST_BE_ZERO:
        assert figures[name] == 0, f"{name}: {figures[name]}\n{report}"
    assert document["failed"] == [], report
    assert result.returncode == 0, report

    assert figures["kills (SIGKILL)"] >= 1, report
    assert figures["worker restarts"] >= 1, report
    assert figures["ok calls started after the first kill"] > 0, report
    assert figures["operations done"] >= 100, report  # the budget is 600 unless --seconds cut it
    ok_by_op = {o["op"] for o in document["outcomes"] if o["outcome"] == "ok" and o["count"] > 0}
    assert {"put_object", "get_object", "put_object_from_file"} <= ok_by_op, report
    assert ok_by_op <= set(WEIGHTS), ok_by_op


@pytest.mark.timeout(280)
def test_chaos_with_the_server_restarting_loses_nothing(tmp_path: Path) -> None:
    result, document = _run(tmp_path, SERVER_RESTARTS, timeout=240)
    figures: dict[str, Any] = document["figures"]
    report = result.stdout[-6000:] + result.stderr[-2000:]

    for name in MUST_BE_ZERO:
        assert figures[name] == 0, f"{name}: {figures[name]}\n{report}"
    assert result.returncode == 0, report
    assert figures["server restarts (SIGKILL)"] >= 3, report
    assert figures["kills (SIGKILL)"] >= 3, report
    assert figures["ok calls started after the last server restart"] > 0, report
    ok_by_op = {o["op"] for o in document["outcomes"] if o["outcome"] == "ok" and o["count"] > 0}
    assert {"put_object", "get_object", "put_object_from_file"} <= ok_by_op, report
