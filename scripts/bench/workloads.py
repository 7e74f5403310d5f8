"""What is measured, and the bytes every library writes; standard library only (the s3fs runner
imports ``make_payload`` in its own venv)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.common import SEED, GiB, KiB, MiB, Unit

RANGES = 256
TREE_DIRS, TREE_KEYS = 100, 10_000


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    size: int
    count: int
    in_flight: int  # 1: sync calls one at a time
    unit: Unit
    ops: tuple[str, ...] = ("put", "get")
    object_size: int = 0  # ranges: the one object the ranges are read from

    @property
    def latency(self) -> bool:
        return self.unit == "us"


def workloads(quick: bool) -> list[Workload]:
    small, calls, medium, large = (1000, 200, 100, 3) if quick else (10_000, 1000, 1000, 10)
    chosen = [
        Workload("small", f"1 KiB x {small:,}, 64 in flight", KiB, small, 64, "ops/s"),
        Workload("latency", f"1 KiB sync latency, median of {calls:,}", KiB, calls, 1, "us"),
        Workload("medium", f"64 KiB x {medium:,}, 64 in flight", 64 * KiB, medium, 64, "ops/s"),
        Workload("large", f"64 MiB x {large}, one at a time", 64 * MiB, large, 1, "GB/s"),
    ]
    if not quick:
        chosen.append(Workload("huge", "1 GiB x 1", GiB, 1, 1, "GB/s"))
    chosen.append(
        Workload("ranges", f"{RANGES} random 64 KiB ranges of a 64 MiB object, one call",
                 64 * KiB, RANGES, 1, "ops/s", ops=("ranges",), object_size=64 * MiB)
    )  # fmt: skip
    keys = 5_000 if quick else 50_000
    chosen.append(Workload("list", f"listing {keys:,} keys", 1, keys, 64, "ops/s", ops=("list",)))
    chosen.append(
        Workload("tree", f"one level of each of {TREE_DIRS} directories of {TREE_KEYS // TREE_DIRS} "
                 "keys, and of their parent", 1, TREE_DIRS + 1, 1, "ops/s", ops=("list_dir",))
    )  # fmt: skip
    return chosen


def chosen_workloads(quick: bool, keys: list[str] | None) -> list[Workload]:
    """The workloads named by ``keys`` (all when None), with --quick's counts where it has them."""
    if not keys:
        return workloads(quick)
    chosen = [w for w in workloads(False) if w.key in keys]
    if quick:  # quick counts for the ones --quick has
        small = {w.key: w for w in workloads(True)}
        chosen = [small.get(w.key, w) for w in chosen]
    return chosen


def random_ranges(w: Workload) -> list[tuple[int, int]]:
    """The ranges every library reads: the same for all, in no order."""
    rng = random.Random(SEED)
    starts = [rng.randrange(0, w.object_size - w.size) for _ in range(w.count)]
    return [(s, s + w.size) for s in starts]


def make_payload(size: int, seed: int = SEED) -> bytes:
    """The bytes every library writes (s3fs's runner included)."""
    block = random.Random(seed).randbytes(min(size, MiB))
    if not block:
        return b""
    data = block * -(-size // len(block))
    return data if len(data) == size else data[:size]
