"""The command line: ``python scripts/bench [options]``; see the package's docstring."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bench.clients import Client, installed, make_client
from bench.common import HOST, LIBS, MODULES, ROS, SERVERS, SUPPORTS, log, short
from bench.measure import Record, mark, measure_together, warm_up
from bench.report import (
    document,
    machine,
    preamble,
    render_png,
    render_tables,
    s3fs_version,
    versions_here,
)
from bench.s3fs_venv import measure_s3fs, s3fs_python
from bench.servers import Server, latencies, start_server
from bench.workloads import Workload, chosen_workloads, make_payload, workloads


def _split(value: str, allowed: Sequence[str], what: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{what}: choose from {','.join(allowed)}; got {value!r}")
    return [v for v in allowed if v in chosen]  # the canonical order


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python scripts/bench",
        description="Benchmark rustyobjectstore against its peers on the same servers and data.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts, no 1 GiB, 1 repeat")
    parser.add_argument(
        "--servers",
        type=lambda v: _split(v, SERVERS, "--servers"),
        default=list(SERVERS),
        help=f"comma-separated, from {','.join(SERVERS)} (default: all)",
    )
    parser.add_argument(
        "--libs",
        type=lambda v: _split(v, LIBS, "--libs"),
        default=list(LIBS),
        help=f"comma-separated, from {','.join(LIBS)} (default: all)",
    )
    keys = tuple(w.key for w in workloads(False))
    parser.add_argument(
        "--workloads",
        type=lambda v: _split(v, keys, "--workloads"),
        default=None,
        help=f"comma-separated, from {','.join(keys)} (default: all; --quick skips huge)",
    )
    parser.add_argument(
        "--minio-dir",
        type=Path,
        default=None,
        help="where MinIO stores (default: a temp dir on disk; /dev/shm takes the disk out)",
    )
    parser.add_argument(
        "--latency-ms",
        type=latencies,
        default=[0],
        help="comma-separated delays of every answer, e.g. 0,20: each server but memory and file "
        "is measured at each, behind toxiproxy (0: on loopback, direct)",
    )
    parser.add_argument(
        "--bandwidth-kbps",
        type=int,
        default=None,
        help="with a latency, cap each connection at this many KB/s (toxiproxy's bandwidth toxic)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--json", type=Path, default=None, help="raw samples (default: a temp dir)")
    parser.add_argument("--png", type=Path, default=None, help="the chart (default: a temp dir)")
    return parser.parse_args(argv)


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: every server is stopped by its PID


@dataclass
class Run:
    """One run's choices, and what it has measured so far."""

    libs: list[str]
    chosen: list[Workload]
    repeats: int
    minio_dir: Path | None
    missing: set[str]
    s3fs: Path | None = None  # s3fs's venv interpreter, when it is measured
    unavailable: dict[str, str] = field(default_factory=dict)  # lib -> why, for s3fs
    s3fs_versions: dict[str, str] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)

    def mark(self, server: str, lib: str, status: str, reason: str) -> None:
        mark(self.records, server, self.chosen, lib, status, reason)

    def on_server(
        self, name: str, workdir: Path, latency_ms: int = 0, bandwidth_kbps: int | None = None
    ) -> None:
        """Every library on one server (at one latency): the in-process ones together, then s3fs."""
        with start_server(name, workdir, self.minio_dir, latency_ms, bandwidth_kbps) as server:
            log(f"== {server.name}")
            self.servers.append(server)
            here = [lib for lib in self.libs if name in SUPPORTS[lib]]
            if server.status != "ok":
                log(f"  unavailable: {server.reason}")
                for lib in here:
                    self.mark(server.name, lib, "unavailable", server.reason)
                return
            clients = self.clients(server, here)
            try:
                for w in self.chosen:
                    payload = make_payload(w.object_size or w.size)
                    self.records += measure_together(
                        list(clients.values()), server.name, w, payload, self.repeats
                    )
                    del payload
            finally:
                for client in clients.values():
                    with contextlib.suppress(Exception):
                        client.close()
            if "s3fs" in here:
                self.on_s3fs(server)

    def clients(self, server: Server, here: Sequence[str]) -> dict[str, Client]:
        """The in-process libraries' clients, warmed up; the others marked with the reason."""
        clients: dict[str, Client] = {}
        for lib in here:
            if lib in self.missing:
                self.mark(server.name, lib, "not installed", f"import {MODULES[lib]}")
            elif lib != "s3fs":
                try:
                    clients[lib] = make_client(lib, server)
                    warm_up(clients[lib])
                except Exception as e:
                    log(f"  {lib}: cannot start: {short(e)}")
                    self.mark(server.name, lib, "failed", short(e))
                    clients.pop(lib, None)
        return clients

    def on_s3fs(self, server: Server) -> None:
        if self.s3fs is None:
            self.mark(server.name, "s3fs", "unavailable", self.unavailable.get("s3fs", "no venv"))
            return
        try:
            self.s3fs_versions, got = measure_s3fs(self.s3fs, server, self.chosen, self.repeats)
            self.records += got
        except Exception as e:
            log(f"  s3fs: {short(e)}")
            self.mark(server.name, "s3fs", "failed", short(e))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    for var in ("NO_PROXY", "no_proxy"):  # every server is on loopback
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), HOST, "localhost"]))
    repeats: int = args.repeats or (1 if args.quick else 3)
    outdir = None if args.json and args.png else tempfile.mkdtemp(prefix="rustyobjectstore-bench-")
    json_path: Path = args.json or Path(f"{outdir}/bench.json")
    png_path: Path = args.png or Path(f"{outdir}/bench.png")
    libs: list[str] = args.libs
    servers_wanted: list[str] = args.servers
    run = Run(
        libs,
        chosen_workloads(args.quick, args.workloads),
        repeats,
        args.minio_dir,
        missing={lib for lib in libs if not installed(lib)},
    )

    info = machine()
    versions = versions_here()
    if "s3fs" in libs and any(s in SUPPORTS["s3fs"] for s in servers_wanted):
        try:
            run.s3fs = s3fs_python()
        except Exception as e:
            run.unavailable["s3fs"] = short(e)
            log(f"s3fs unavailable: {run.unavailable['s3fs']}")

    log(f"results go to {json_path} and {png_path}")
    interrupted = False
    workdir = Path(tempfile.mkdtemp(prefix="rustyobjectstore-bench-work-"))
    try:
        for name in servers_wanted:
            for latency_ms in args.latency_ms:
                if latency_ms and name in ("memory", "file"):
                    continue  # in-process stores: no network to be far away on
                run.on_server(
                    name, workdir, latency_ms, args.bandwidth_kbps if latency_ms else None
                )
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: servers stopped; what was measured follows")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if ROS in libs and ROS not in run.missing:
            import rustyobjectstore as ros

            ros.shutdown_object_store()

    if "s3fs" in libs:
        versions["s3fs"] = s3fs_version(run.s3fs_versions, run.unavailable)
    lines = preamble(info, versions, libs, run.missing, run.servers, repeats)
    table = render_tables(run.records, run.servers, run.chosen, libs)
    print("\n".join(lines) + table, flush=True)

    doc = document(args.quick, repeats, info, versions, run.chosen, run.servers, run.records)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=1))
    print(f"raw samples: {json_path}")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    print(render_png(png_path, run.records, run.servers, run.chosen))
    failed = [r for r in run.records if r.status == "failed"]
    for r in failed:
        print(f"FAILED {r.server} {r.workload} {r.op} {r.lib}: {r.reason}")
    if interrupted:
        return 130
    return 1 if failed else 0
