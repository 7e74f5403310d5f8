"""No call waits for ever: every operation the library offers (``sweep_ops.OPERATIONS``), run
on every store kind and on the four Snowflake stage variants, returns or raises within a
deadline. Each call runs on a thread of its own, so a call that never returns fails its case
instead of blocking the run. The objects read are above the multipart thresholds, so reads in
parts and uploads in parts are among the calls (a put of that size on an encrypted stage once
never returned).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweep_ops import BIG, KEY, OPERATIONS, SMALL

import rustyobjectstore as ros
from rustyobjectstore._config import StoreConfig

DEADLINE = 60.0  # seconds: far more than any of these calls takes on loopback
# Operations that leave KEY changed or gone: the next one starts from KEY = BIG again.
CHANGES_KEY = ("put", "write_stream", "copy", "rename", "delete", "bulk_delete")
# The sweep's readers read in 64-byte blocks: of a small object, or they would take minutes.
SMALL_READS = ("open_reader",)


def finished_within(
    seconds: float, call: Callable[[], object]
) -> tuple[bool, BaseException | None]:
    """Runs ``call`` on a thread; whether it ended within ``seconds``, and what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as e:  # a refusal is an answer; only waiting is not
            raised.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), (raised[0] if raised else None)


def every_operation_ends(conf: StoreConfig, scratch: Path) -> None:
    held = b""
    for name, operation in OPERATIONS.items():
        wanted = SMALL if name.startswith(SMALL_READS) else BIG
        if held != wanted:
            put = functools.partial(ros.put_object, KEY, wanted, conf)
            done, error = finished_within(DEADLINE, put)
            assert done and error is None, f"the put before {name!r}: {error!r}"
        done, error = finished_within(DEADLINE, functools.partial(operation, conf, scratch))
        assert done, f"{name!r} was still waiting after {DEADLINE} s"
        # A refusal is an answer (put_update's made-up e_tag, a stage's unsupported copy mode):
        # it must be one of the library's typed errors, never an untyped escape.
        assert error is None or isinstance(error, ros.ObjectStoreError), (name, error)
        held = b"" if name.startswith(CHANGES_KEY) else wanted


def test_every_operation_ends_on_every_store(conf: StoreConfig, tmp_path: Path) -> None:
    every_operation_ends(conf, tmp_path)


def test_every_operation_ends_on_every_stage(
    stage: tuple[Any, StoreConfig], tmp_path: Path
) -> None:
    every_operation_ends(stage[1], tmp_path)


def test_the_guard_itself_catches_a_call_that_never_returns() -> None:
    never = threading.Event()
    done, _ = finished_within(0.5, never.wait)
    assert not done
    never.set()
