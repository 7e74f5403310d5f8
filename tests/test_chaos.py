"""A short chaos run (scripts/chaos.py): ~600 mixed operations from threads and asyncio tasks on a
file:// store while a worker is SIGKILLed every ~0.2 s.

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
CHAOS = ROOT / "scripts" / "chaos.py"


def _run(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    json_path = tmp_path / "chaos.json"
    argv = [
        sys.executable, str(CHAOS),
        "--ops", "600", "--threads", "4", "--tasks", "4", "--workers", "3",
        "--kill-every", "0.2", "--min-kills", "3", "--big-every", "100",
        "--seconds", "25", "--seed", "4", "--json", str(json_path),
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=240, check=False, env=env, cwd=tmp_path
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
