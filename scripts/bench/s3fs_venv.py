"""s3fs in a venv of its own (with boto3 beside it, pip picks an ancient s3fs), measured by
``s3fs_runner.py`` run there."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.common import OPS, S3_REGION, S3FS_VENV, SEED, log, short
from bench.measure import Record, summarize
from bench.servers import Server
from bench.workloads import Workload

RUNNER = Path(__file__).resolve().parent / "s3fs_runner.py"


def s3fs_python(extra: Sequence[str] = (), extra_imports: Sequence[str] = ()) -> Path:
    """The venv's interpreter with s3fs (and the ``extra`` requirements) importable, built or
    topped up on first use; raises with the reason."""
    python = S3FS_VENV / "bin" / "python"
    wanted = [str(python), "-c", "; ".join(f"import {m}" for m in ("s3fs", *extra_imports))]
    if python.is_file() and _runs(wanted):
        return python
    steps = []
    if not (python.is_file() and _runs([str(python), "-c", "import s3fs"])):
        steps.append([sys.executable, "-m", "venv", "--clear", str(S3FS_VENV)])
    steps.append([str(python), "-m", "pip", "install", "--quiet", "s3fs", *extra])
    log(f"making the s3fs venv in {S3FS_VENV} (pip install s3fs {' '.join(extra)})")
    for argv in steps:
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"{' '.join(argv[:4])}: {short(e)}") from e
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip()[-600:]
            raise RuntimeError(f"{' '.join(argv[:4])} failed: {tail}")
    if not _runs(wanted):
        raise RuntimeError("s3fs installed in its venv but does not import")
    return python


def _runs(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=120, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def measure_s3fs(
    python: Path, server: Server, chosen: Sequence[Workload], repeats: int
) -> tuple[dict[str, str], list[Record]]:
    chosen = [w for w in chosen if w.ops == OPS]  # the runner knows puts and gets
    assert server.s3 is not None
    request = {
        "endpoint": server.s3.endpoint,
        "key": server.s3.key,
        "secret": server.s3.secret,
        "bucket": server.s3.bucket,
        "region": S3_REGION,
        "seed": SEED,
        "repeats": repeats,
        "workloads": [asdict(w) for w in chosen],
    }
    result = subprocess.run(
        [str(python), str(RUNNER)],
        input=json.dumps(request),
        stdout=subprocess.PIPE,
        stderr=None,  # its progress goes straight to ours
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the s3fs runner exited with {result.returncode}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    by_key = {w.key: w for w in chosen}
    records = []
    for rec in answer["results"]:
        w = by_key[rec["workload"]]
        for op in OPS:
            record = Record(server.name, w.key, op, "s3fs", rec["status"], w.unit, rec["reason"])
            record.samples = rec[op]
            summarize(record, w)
            records.append(record)
    return answer["versions"], records
