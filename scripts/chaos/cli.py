"""The command line: ``python scripts/chaos [options]``; see the package's docstring."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import rustyobjectstore as ros
from chaos.leaks import files_in, leftovers, open_fds, staging_files
from chaos.report import Leftovers, Report, figures, keep_samples
from chaos.run import Chaos
from chaos.stats import MUST_BE_ZERO
from chaos.store import Store, make_store
from rustyobjectstore._worker.lifetime import current_pool


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python scripts/chaos",
        description="Mixed operations from many threads and asyncio tasks while workers are "
        "SIGKILLed at random; checks that no acknowledged write is lost, no read is corrupt, no "
        "call hangs and nothing leaks.",
    )
    parser.add_argument(
        "--ops", type=int, default=20_000, help="operations in all (default 20,000)"
    )
    parser.add_argument("--threads", type=int, default=8, help="sync threads (default 8)")
    parser.add_argument("--tasks", type=int, default=8, help="asyncio tasks (default 8)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop issuing operations after this long (0: no limit)",
    )
    parser.add_argument("--seed", type=int, default=20261124, help="random seed")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    parser.add_argument(
        "--store",
        choices=("file", "memory", "s3", "minio"),
        default="file",
        help="default: file:// in a temp dir; minio: MinIO started here (scripts/install_minio.sh)",
    )
    parser.add_argument("--endpoint", default=None, help="S3 endpoint (default: start moto)")
    parser.add_argument("--bucket", default="chaos", help="S3 bucket (default chaos)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key", default="testing")
    parser.add_argument("--secret-key", default="testing")
    parser.add_argument(
        "--create-bucket",
        action="store_true",
        help="create --bucket at --endpoint (unsigned PUT, as moto takes)",
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        default=1.0,
        help="mean seconds between SIGKILLs (default 1; 0: none)",
    )
    parser.add_argument(
        "--min-kills",
        type=int,
        default=0,
        help="keep going past --ops until this many kills (not past --seconds)",
    )
    parser.add_argument(
        "--server-restarts",
        type=int,
        default=0,
        help="with --store minio: SIGKILL MinIO and start it again on the same data at random "
        "moments, at least this many times (keeping going past --ops, not past --seconds)",
    )
    parser.add_argument(
        "--server-restart-every",
        type=float,
        default=3.0,
        help="mean seconds between server restarts (default 3)",
    )
    parser.add_argument("--workers", type=int, default=4, help="StaticConfig.n_workers (default 4)")
    parser.add_argument(
        "--write-retries",
        type=int,
        default=0,
        help="StaticConfig.crash_retries_for_writes (default 0)",
    )
    parser.add_argument(
        "--keys", type=int, default=6, help="own keys per thread or task (default 6)"
    )
    parser.add_argument(
        "--shared-keys", type=int, default=4, help="keys all writers share (default 4)"
    )
    parser.add_argument(
        "--big-every",
        type=int,
        default=500,
        help="every Nth op uploads a 10-20 MiB object and reads it (0: never)",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=60.0,
        help="a call running longer is hung (default 60 s)",
    )
    args = parser.parse_args(argv)
    if args.threads + args.tasks < 1:
        parser.error("need at least one thread or task")
    if args.kill_every <= 0:
        args.kill_every, args.min_kills = math.inf, 0
    if args.server_restarts and args.store != "minio":
        parser.error("--server-restarts needs --store minio")
    return args


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"]))
    rundir = Path(tempfile.mkdtemp(prefix="rustyobjectstore-chaos-"))
    tmp, scratch, root = rundir / "tmp", rundir / "scratch", rundir / "store"
    tmp.mkdir()
    scratch.mkdir()
    # The run's own TMPDIR, for this process and (inherited) its workers: whatever is in it at the
    # end was left by the library.
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    run = f"chaos-{args.seed}-{uuid.uuid4().hex[:8]}"
    store = make_store(args, root, run)
    try:
        return chaos(args, store, run, tmp, scratch, root)
    finally:
        store.stop()
        shutil.rmtree(rundir, ignore_errors=True)


def chaos(
    args: argparse.Namespace, store: Store, run: str, tmp: Path, scratch: Path, root: Path
) -> int:
    settings = ros.StaticConfig(n_workers=args.workers, crash_retries_for_writes=args.write_retries)
    ros.shutdown_object_store()
    fds_before = open_fds()
    ros.init_object_store(settings)
    worker_name = os.path.basename(current_pool().connections[0].worker_path)
    c = Chaos(args, store, scratch, run)
    wall = c.go()
    c.verify()
    metrics = ros.current_metrics()
    if args.store in ("s3", "minio"):
        c.cleanup_store()
    ros.shutdown_object_store()
    store.stop()  # before counting our children: moto is one
    fds_before_gc = [path for fd, path in open_fds().items() if fds_before.get(fd) != path]
    procs, threads, fds = leftovers(c.worker_pids.seen(), worker_name, fds_before)
    left = Leftovers(
        procs, threads, fds, fds_before_gc,
        files=[f"TMPDIR/{p}" for p in files_in(tmp)] + [f"scratch/{p}" for p in files_in(scratch)],
        staged=staging_files(root) if args.store == "file" else [],
    )  # fmt: skip

    shown = figures(c, wall, metrics.total.restarts, left)
    keep_samples(c.stats, c, left)
    failed = [name for name in MUST_BE_ZERO if shown[name] != 0]
    report = Report(args, store, c, wall, shown, failed, left.staged)
    report.print()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.document(), indent=1, default=str))
        print(f"figures: {args.json}")
    return 1 if failed else 0
