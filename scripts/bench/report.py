"""What a run prints and writes: the machine, a table per server, the chart, the JSON document."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import LIBS, ROS, ROS_BYTES, SHORT, SUPPORTS, THREADS, dist_version
from bench.measure import Record, fmt_value
from bench.servers import Server
from bench.workloads import Workload


def aligned(lines: list[list[str]]) -> str:
    """Rows of cells as text, each column as wide as its widest cell."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / (1024 * 1024):.1f} GiB"
                break
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
    }


def ratio(ours: Record | None, peer: Record | None, unit: str) -> float | None:
    """rustyobjectstore / peer for throughput, peer / rustyobjectstore for latency: > 1 is faster."""
    if ours is None or peer is None or not ours.median or not peer.median:
        return None
    return peer.median / ours.median if unit == "us" else ours.median / peer.median


def _cell(record: Record | None, unit: str) -> str:
    if record is None:
        return ""
    if record.status == "ok":
        return fmt_value(record.median, unit)
    return record.status


def render_tables(
    records: list[Record], servers: list[Server], chosen: Sequence[Workload], libs: Sequence[str]
) -> str:
    index = {(r.server, r.workload, r.op, r.lib): r for r in records}
    lines = []
    for server in servers:
        about = " ".join(x for x in (server.version, server.endpoint) if x and x != "-")
        header = f"== {server.name}" + (f": {about}" if about else "")
        if server.status != "ok":
            lines += [header, f"   unavailable: {server.reason}", ""]
            continue
        columns = [lib for lib in libs if server.kind in SUPPORTS[lib]]
        if ROS in columns:
            columns.insert(columns.index(ROS) + 1, ROS_BYTES)
        peers = [lib for lib in columns if lib not in (ROS, ROS_BYTES)]
        head = ["workload", "op", "unit", *(SHORT.get(c, c) for c in columns)]
        if ROS in columns:
            head += [f"vs {p}" for p in peers]
        rows = [head]
        for w in chosen:
            for op in w.ops:
                row = [w.label, op, w.unit]
                for lib in columns:
                    row.append(_cell(index.get((server.name, w.key, op, lib)), w.unit))
                if ROS in columns:
                    ours = index.get((server.name, w.key, op, ROS))
                    for p in peers:
                        r = ratio(ours, index.get((server.name, w.key, op, p)), w.unit)
                        row.append("-" if r is None else f"{r:.2f}x")
                rows.append(row)
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines.append(header)
        for n, row in enumerate(rows):
            cells = [
                cell.ljust(widths[i]) if i < 3 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
            if n == 0:
                lines.append("  ".join("-" * width for width in widths))
        lines.append("")
    return "\n".join(lines)


def render_png(
    path: Path, records: list[Record], servers: list[Server], chosen: Sequence[Workload]
) -> str:
    """A chart of rustyobjectstore's ratio to each peer; returns what happened, in words."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        return "matplotlib is not installed: no PNG (pip install matplotlib)"
    index = {(r.server, r.workload, r.op, r.lib): r for r in records}
    groups = [(w, op) for w in chosen for op in w.ops]
    panels = []
    for server in servers:
        peers = [
            lib
            for lib in LIBS
            if lib != ROS
            and any(
                ratio(
                    index.get((server.name, w.key, op, ROS)),
                    index.get((server.name, w.key, op, lib)),
                    w.unit,
                )
                for w, op in groups
            )
        ]
        if peers:
            panels.append((server.name, peers))
    if not panels:
        return "no peer was measured beside rustyobjectstore: no PNG"
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 3.6 * len(panels)), squeeze=False)
    colors = {lib: f"C{n}" for n, lib in enumerate(LIBS)}  # one color per peer in every panel
    plain = FuncFormatter(lambda value, _pos: f"{value:g}")
    for ax, (name, peers) in zip(axes[:, 0], panels, strict=True):
        width = 0.8 / len(peers)
        shown: list[float] = []
        for n, peer in enumerate(peers):
            xs, ys = [], []
            for g, (w, op) in enumerate(groups):
                r = ratio(
                    index.get((name, w.key, op, ROS)), index.get((name, w.key, op, peer)), w.unit
                )
                if r is not None:
                    xs.append(g - 0.4 + width * (n + 0.5))
                    ys.append(r)
            heights = [y - 1.0 for y in ys]  # bars grow from 1: up is faster, down is slower
            ax.bar(xs, heights, width, bottom=1.0, label=f"vs {peer}", color=colors.get(peer))
            shown += ys
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        wide = bool(shown) and max(shown) / min(shown) > 100  # minor labels would pile up
        ax.yaxis.set_minor_formatter(NullFormatter() if wide else plain)
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{w.key} {op}" for w, op in groups], fontsize=8)
        ax.set_ylabel("rustyobjectstore / peer")
        ax.set_title(f"{name}: rustyobjectstore's speed relative to each peer (> 1: faster)")
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart: {path}"


def versions_here() -> dict[str, str]:
    """The versions of the libraries in this interpreter (s3fs's are its venv's)."""
    versions = {lib: dist_version(lib) for lib in LIBS if lib != "s3fs"}
    for dist in ("botocore", "azure-core", "matplotlib"):
        versions[dist] = dist_version(dist)
    return versions


def s3fs_version(answer: dict[str, str], unavailable: dict[str, str]) -> str:
    """s3fs's line in the versions: what its runner said, or why it was not measured."""
    if answer:
        return (
            f"{answer['s3fs']} (aiobotocore {answer['aiobotocore']}, "
            f"botocore {answer['botocore']}, fsspec {answer['fsspec']}; own venv)"
        )
    return unavailable.get("s3fs", "not measured")


def preamble(
    info: dict[str, str],
    versions: dict[str, str],
    libs: Sequence[str],
    missing: set[str],
    servers: Sequence[Server],
    repeats: int,
) -> list[str]:
    """The lines above the tables: machine, versions, servers, how the figures are made."""
    return [
        f"Python {info['python']} on {info['platform']}",
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory']} memory",
        "libraries: "
        + ", ".join(
            f"{lib} NOT INSTALLED" if lib in missing else f"{lib} {versions.get(lib, '?')}"
            for lib in libs
        ),
        f"  (boto3 with botocore {versions['botocore']}; azure-storage-blob with azure-core "
        f"{versions['azure-core']}; matplotlib {versions['matplotlib']})",
        "servers: "
        + ", ".join(
            (f"{s.name} ({s.version})" if s.version != "-" else s.name)
            if s.status == "ok"
            else f"{s.name} unavailable"
            for s in servers
        ),
        f"repeats: {repeats} (medians); in flight = asyncio.gather under a semaphore of 64 for "
        f"rustyobjectstore, obstore and s3fs; a pool of {THREADS} threads for boto3 and "
        "azure-storage-blob; 64 MiB and 1 GiB objects go one at a time.",
        f"{ROS}: get_object_into into a reused buffer; ros get_object: get_object (fresh bytes, as "
        "every peer returns). 'vs X' = rustyobjectstore's speed / X's (latency: X's / ours): "
        "> 1 means rustyobjectstore is faster.",
        "",
    ]


def document(
    quick: bool,
    repeats: int,
    info: dict[str, str],
    versions: dict[str, str],
    chosen: Sequence[Workload],
    servers: Sequence[Server],
    records: Sequence[Record],
) -> dict[str, Any]:
    """Everything measured, raw samples included, as JSON."""
    return {
        "meta": {
            "argv": sys.argv,
            "quick": quick,
            "repeats": repeats,
            "machine": info,
            "versions": versions,
            "threads": THREADS,
        },
        "workloads": [asdict(w) for w in chosen],
        "servers": [s.as_json() for s in servers],
        "results": [asdict(r) for r in records],
    }
