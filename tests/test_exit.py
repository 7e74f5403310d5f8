"""No hang at exit, ever: every failure path of every operation (the sweep's cases, in
``sweep_ops.py``) runs in a fresh interpreter, on every Python the project supports, which must then
exit on its own, promptly, with the status of its uncaught error.

Python 3.11 waits forever in ``Thread.start()`` when a finalizer starts a thread during
interpreter exit, so a failed listing collected there once hung its script: finalizers now only
queue their work (``rustyobjectstore/_worker/finalizers.py``).

The interpreters come from ``scripts/install_emulators.sh`` (run on first use): a venv per version
under ``.emulators/`` with only the library's dependencies (the library comes from the checkout);
one that cannot be had fails the test.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from emulators import ensure_installed
from faultserver import FaultServer
from sweep_ops import OPERATIONS, REFUSALS

from rustyobjectstore._worker.binary import find_worker

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
EXIT_GUARD = 30.0  # seconds for one child: its refusals take a few; a hang takes forever
CHILDREN_AT_ONCE = 3

pytestmark = pytest.mark.timeout(600)


def interpreter(version: str) -> str:
    path = ROOT / ".emulators" / f"python{version}" / "bin" / "python"
    ensure_installed(path, f"Python {version}")
    return str(path)


@pytest.fixture
def refusing_servers() -> Iterator[list[str]]:
    servers = [FaultServer(default=behaviour) for behaviour, _ in REFUSALS.values()]
    try:
        yield [server.endpoint for server in servers]
    finally:
        for server in servers:
            server.close()


def run_child(python: str, op: str, mode: str, endpoints: list[str], scratch: Path) -> str:
    """What went wrong with the child running ``op``, or "" if it exited as it should."""
    scratch = scratch / f"{op}-{mode}"
    scratch.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "support")]),
        "RUSTYOBJECTSTORE_WORKER": find_worker(),
    }
    argv = [
        python,
        str(ROOT / "tests" / "support" / "exit_child.py"),
        op,
        mode,
        str(scratch),
        *endpoints,
    ]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=EXIT_GUARD)
    except subprocess.TimeoutExpired as hung:
        return f"{op} {mode}: still running after {EXIT_GUARD:g} s; it printed {hung.stdout!r}"
    # Refused at least once (a bulk delete of keys already gone is no failure); uncaught, the last
    # error's traceback ends with its name.
    last_line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    refused = done.stdout.startswith("refused ") and not done.stdout.startswith("refused 0\n")
    if mode == "caught":
        ok = done.returncode == 0 and refused
    else:
        ok = done.returncode == 1 and refused and "Error" in last_line
    if not ok:
        return f"{op} {mode}: status {done.returncode}, stdout {done.stdout!r}, stderr {done.stderr[-800:]!r}"
    return ""


@pytest.mark.parametrize("version", PYTHONS)
def test_every_failure_path_exits_promptly(
    version: str, refusing_servers: list[str], tmp_path: Path
) -> None:
    python = interpreter(version)
    cases = [(op, mode) for op in OPERATIONS for mode in ("caught", "uncaught")]
    with ThreadPoolExecutor(CHILDREN_AT_ONCE) as children:
        problems = list(
            children.map(
                lambda case: run_child(python, case[0], case[1], refusing_servers, tmp_path), cases
            )
        )
    assert [p for p in problems if p] == []
