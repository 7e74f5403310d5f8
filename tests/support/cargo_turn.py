"""One cargo build in ``worker/target`` at a time across the suite's processes (pytest-xdist runs
the tests in parallel): a build must not replace a binary another test is copying out (the fault
worker), and two wheel builds must not fight over one target directory. Every test that runs cargo
takes its turn here."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

TARGET = Path(__file__).resolve().parents[2] / "worker" / "target"
WAIT_SECS = 1200.0  # every build the suite makes, one after another, on 2 cores: far less


def timeout_with_turn(own: float) -> float:
    """A test's timeout (pytest-timeout counts its fixtures' time too) when it may wait for a turn
    first: its own time and the longest wait."""
    return WAIT_SECS + own


@contextlib.contextmanager
def cargo_turn() -> Iterator[None]:
    TARGET.mkdir(parents=True, exist_ok=True)
    fd = os.open(TARGET / ".suite-cargo.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + WAIT_SECS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no turn at cargo within {WAIT_SECS} s") from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # lets the lock go
