"""What a run prints and writes: the tables of operations and errors, the figures (those that must
be 0 among them), samples of each problem, and the JSON document."""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.leaks import status_kib
from chaos.payload import KiB, MiB
from chaos.plan import WEIGHTS, WRITES
from chaos.run import Chaos
from chaos.stats import MUST_BE_ZERO, SAMPLES, Stats
from chaos.store import Store


@dataclass
class Leftovers:
    """What the library left after shutdown."""

    procs: list[int]  # worker processes
    threads: list[str]  # library threads
    fds: dict[int, str]  # new file descriptors (after gc.collect())
    fds_before_gc: list[str]
    files: list[str]  # temp files, TMPDIR/... and scratch/...
    staged: list[str]  # a file:// store's staging files (not leaks: SIGKILLed uploads)


def render(rows: list[list[str]], left: int = 1) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ops_table(stats: Stats) -> str:
    outcomes = ["ok", "not found", "worker crashed", "raced", "unexpected", "hung"]
    rows = [["operation", "calls", *outcomes]]
    for op in [*WEIGHTS, "total"]:
        counts = [
            sum(
                n for (o, out), n in stats.outcomes.items() if out == outcome and op in (o, "total")
            )
            for outcome in outcomes
        ]
        rows.append([op, f"{sum(counts):,}", *(f"{c:,}" for c in counts)])
    return render(rows)


def errors_table(stats: Stats) -> str:
    rows = [["exception", "operation", "count", "allowed"]]
    for (name, op), n in sorted(stats.errors.items(), key=lambda kv: (-kv[1], kv[0])):
        # Allowed as ``Calls.classify`` judged each: a crash, an absence the ledger allows, a race
        # on a shared key, the server down while the call ran.
        unexpected = stats.unexpected[name, op]
        rows.append([name, op, f"{n:,}", f"NO ({unexpected:,})" if unexpected else "yes"])
    if len(rows) == 1:
        rows.append(["(none)", "", "0", ""])
    return render(rows, left=2)


def figures_table(figures: dict[str, Any]) -> str:
    rows = [["figure", "value", "must be 0"]]
    for name, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        must = ""
        if name in MUST_BE_ZERO:
            must = "ok" if value == 0 else "FAILED"
        rows.append([name, shown, must])
    return render(rows)


def figures(c: Chaos, wall: float, worker_restarts: int, left: Leftovers) -> dict[str, Any]:
    """The run's figures by name, in the order they are shown."""
    stats = c.stats
    total = sum(stats.outcomes.values())
    ok = sum(n for (_, outcome), n in stats.outcomes.items() if outcome == "ok")
    kill_times, outages = c.killer.kill_times, c.server_killer.outages
    first_kill = kill_times[0] if kill_times else math.inf
    last_kill = kill_times[-1] if kill_times else math.inf
    crashed_writes = sum(
        n for (op, out), n in stats.outcomes.items() if out == "worker crashed" and op in WRITES
    )
    crashed_reads = sum(
        n for (op, out), n in stats.outcomes.items() if out == "worker crashed" and op not in WRITES
    )
    return {
        "operations done": total,
        "operations ok": ok,
        "operations per second": round(total / wall) if wall else 0,
        "kills (SIGKILL)": c.killer.kills(),
        "server restarts (SIGKILL)": len(outages),
        "ok calls started after the last server restart": sum(
            1 for t in stats.ok_starts if outages and t > outages[-1][1]
        ),
        "calls failed while the server was down": sum(
            n for (_, out), n in stats.outcomes.items() if out == "server down"
        ),
        "worker restarts": worker_restarts,
        "ok calls started after the first kill": sum(1 for t in stats.ok_starts if t > first_kill),
        "ok calls started after the last kill": sum(1 for t in stats.ok_starts if t > last_kill),
        "writes failed with WorkerCrashedError": crashed_writes,
        "reads failed after crash retries": crashed_reads,
        "acknowledged writes lost": stats.problems["acknowledged writes lost"],
        "corrupt reads": stats.problems["corrupt reads"],
        "stale reads": stats.problems["stale reads"],
        "unexpected errors": stats.problems["unexpected errors"],
        "hung calls": len(c.tracker.hung),
        "worker processes left": len(left.procs),
        "library threads left": len(left.threads),
        "fd growth": len(left.fds),
        "fd growth before gc.collect()": len(left.fds_before_gc),
        "library temp files left": len(left.files),
        "store staging files left by kills": len(left.staged),
        "peak PSS, python + workers (MiB)": round(c.sampler.peak_pss / MiB, 1),
        "peak PSS, workers (MiB)": round(c.sampler.peak_workers / MiB, 1),
        "peak RSS, python (MiB)": round(status_kib("self", "VmHWM") / KiB, 1),
    }


def keep_samples(stats: Stats, c: Chaos, left: Leftovers) -> None:
    """Samples of the hung calls and of the leaks, beside those of the other problems."""
    for token, message in c.tracker.hung.items():
        stats.problem("hung calls", f"call {token}: {message}")
    details = {
        "worker processes left": [str(p) for p in left.procs],
        "library threads left": left.threads,
        "fd growth": [f"{fd} -> {path}" for fd, path in sorted(left.fds.items())],
        "fd growth before gc.collect()": left.fds_before_gc,
        "library temp files left": left.files,
    }
    for name, items in details.items():
        if items:
            stats.samples[name] = items[:SAMPLES]


@dataclass
class Report:
    """A finished run: what it was, its figures, the must-be-0 ones that are not."""

    args: argparse.Namespace
    store: Store
    c: Chaos
    wall: float
    shown: dict[str, Any]
    failed: list[str]
    staged: list[str]

    def print(self) -> None:
        args, stats, staged, failed = self.args, self.c.stats, self.staged, self.failed
        print(
            f"chaos run: {self.store.describe}; {args.threads} threads + {args.tasks} asyncio "
            f"tasks; {args.workers} workers, crash_retries_for_writes={args.write_retries}; "
            f"SIGKILL every ~{args.kill_every:g} s; {len(self.c.server_killer.outages)} server "
            f"restarts; seed {args.seed}; {self.wall:.1f} s\n"
            f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cores\n"
        )
        print(ops_table(stats) + "\n")
        print(errors_table(stats) + "\n")
        print(figures_table(self.shown))
        for name in failed:
            print(f"\n{name}:")
            for line in stats.samples.get(name, []):
                print(f"  {line}")
        if staged:
            print(
                f"\nstaging files in the store (first {min(len(staged), 5)}): "
                f"{', '.join(staged[:5])}"
            )
        print("\nFAILED: " + ", ".join(failed) if failed else "\nall must-be-0 figures are 0")

    def document(self) -> dict[str, Any]:
        stats, kill_times = self.c.stats, self.c.killer.kill_times
        return {
            "argv": sys.argv,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()},
            "store": self.store.describe,
            "seconds": round(self.wall, 3),
            "figures": self.shown,
            "must_be_zero": list(MUST_BE_ZERO),
            "failed": self.failed,
            "outcomes": [
                {"op": op, "outcome": out, "count": n}
                for (op, out), n in sorted(stats.outcomes.items())
            ],
            "errors": [
                {"exception": name, "op": op, "count": n}
                for (name, op), n in sorted(stats.errors.items())
            ],
            "samples": stats.samples,
            "staging_files": self.staged[:100],
            "kill_times": [round(t - kill_times[0], 3) for t in kill_times],
        }
