"""Every Python the project claims (``requires-python >= 3.10``): the suite's server-free tests run
again under each supported Python other than this one, in the venvs ``scripts/install_emulators.sh``
makes, with the library from this checkout. The tests that need servers, the data stack or a
cargo build run once, under this interpreter; the backend-parametrized tests among those chosen run
on ``memory://`` and ``file://`` there.

Python 3.10 is why this exists: its ``concurrent.futures`` and ``asyncio`` raise a ``TimeoutError``
of their own, not the builtin one, which a deadline once failed to catch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_exit import PYTHONS, interpreter

from rustyobjectstore._worker.binary import find_worker

ROOT = Path(__file__).resolve().parent.parent
SERVER_FREE = [
    "test_arena_fallback.py",
    "test_big_objects.py",
    "test_churn.py",
    "test_cli.py",
    "test_finalizers.py",
    "test_full_disk.py",
    "test_fuzz.py",
    "test_local_listing.py",
    "test_metrics.py",
    "test_operations.py",
    "test_pool.py",
    "test_roundtrip.py",
    "test_server_faults.py",
    "test_signing.py",
    "test_state_machine.py",
    "test_vectors.py",
    "test_worker_binary.py",
]
THIS = f"{sys.version_info.major}.{sys.version_info.minor}"
# Not again on each Python: 1 GiB through the file functions (2 GiB of disk) tests no version's
# library, and the smaller sizes of its module cross the same thresholds.
ONCE = ["tests/test_big_objects.py::test_a_big_object_moves_in_bounded_memory"]
RUN_GUARD = 900  # seconds for one Python's run; it takes about two minutes

pytestmark = pytest.mark.timeout(RUN_GUARD + 60)


@pytest.mark.parametrize("version", [v for v in PYTHONS if v != THIS])
def test_the_server_free_suite_passes_on(version: str) -> None:
    python = interpreter(version)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RUSTYOBJECTSTORE_TEST_STORES": "memory,file",
        # The installed worker: a checkout's target/release may hold the fault-injection build.
        "RUSTYOBJECTSTORE_WORKER": find_worker(),
    }
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            *(f"--deselect={test}" for test in ONCE),
            *(f"tests/{name}" for name in SERVER_FREE)]  # fmt: skip
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_GUARD, check=False
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, (
        f"Python {version}: {summary}\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    )
    reported = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    assert reported == str(tuple(int(p) for p in version.split("."))), reported
    assert " passed" in summary and "skipped" not in summary, summary


def test_the_other_pythons_venvs_get_every_dependency_of_the_package() -> None:
    """The venvs hold the library's dependencies by name (the library comes from the checkout):
    a dependency added to pyproject.toml and not there fails only on the other Pythons."""
    import re

    import tomllib

    root = Path(__file__).resolve().parent.parent
    dependencies = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in dependencies}
    script = (root / "scripts" / "install_emulators.sh").read_text()
    (packages,) = re.findall(r"^VENV_PACKAGES=\((.*)\)$", script, flags=re.M)
    listed = {
        re.split(r"[<>=!~;\[ ]", p.strip('"'), maxsplit=1)[0].lower() for p in packages.split()
    }
    assert names <= listed, names - listed
    (imports,) = re.findall(r'^VENV_IMPORTS="import (.*)"$', script, flags=re.M)
    assert {n.replace("-", "_") for n in names} <= {m.strip() for m in imports.split(",")}
