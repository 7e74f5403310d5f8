"""The Rust side's own tests and every linter, run from the one test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cargo_turn import cargo_turn, timeout_with_turn

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "worker"


def _run(argv: list[str], cwd: Path) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{output[-6000:]}"
    return output


@pytest.mark.timeout(timeout_with_turn(600))
def test_cargo_test() -> None:
    # The release profile reuses the dependencies the install already built.
    with cargo_turn():
        output = _run(["cargo", "test", "--release", "--locked"], WORKER)
    passed = sum(
        int(n) for n in __import__("re").findall(r"test result: ok\. (\d+) passed", output)
    )
    assert passed > 0, output


@pytest.mark.timeout(timeout_with_turn(600))
@pytest.mark.parametrize(
    "argv",
    [
        ["cargo", "fmt", "--check"],
        ["cargo", "clippy", "--release", "--locked", "--all-targets", "--", "-D", "warnings"],
    ],
)
def test_rust_lints(argv: list[str]) -> None:
    with cargo_turn():
        _run(argv, WORKER)


def test_ruff() -> None:
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the test extras"
    _run([ruff, "check", "."], ROOT)


def test_mypy_strict() -> None:
    _run([sys.executable, "-m", "mypy"], ROOT)
