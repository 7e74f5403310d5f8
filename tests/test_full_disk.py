"""A disk that fills up (here: a file size limit, which fails writes the way a full disk does) gives
a clear, typed error and loses nothing: the file being replaced keeps its old bytes, the store keeps
no partial object and no staging file, and the worker goes on serving."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024

CHILD = """
import json, resource, signal, sys
import rustyobjectstore as ros

root = sys.argv[1]
conf = ros.Config("file://" + root + "/store")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
ros.init_object_store(ros.StaticConfig(n_workers=1, arena_size=32 << 20))
attempts = {
    "download": lambda: ros.get_object_to_file("big", root + "/target", conf),
    "put": lambda: ros.put_object("put", b"x" * (80 << 20), conf),
    "upload": lambda: ros.put_object_from_file("upload", root + "/source", conf),
    "small put afterwards": lambda: ros.put_object("small", b"still works", conf),
}
for name, attempt in attempts.items():
    try:
        attempt()
        outcome = {"error": None}
    except Exception as e:
        outcome = {"error": type(e).__name__, "errno": getattr(e, "errno", None),
                   "filename": getattr(e, "filename", None), "text": str(e)}
    print(json.dumps({"name": name, **outcome}), flush=True)
"""


def test_a_full_disk_is_a_typed_error_and_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "big").write_bytes(os.urandom(80 * MiB))
    (tmp_path / "source").write_bytes(os.urandom(80 * MiB))
    target = tmp_path / "target"
    target.write_bytes(b"old bytes")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    outcomes = {o["name"]: o for o in map(json.loads, child.stdout.splitlines())}

    download = outcomes["download"]
    assert download["error"] == "OSError" and download["errno"] == errno.EFBIG, download
    assert download["filename"] == str(target)
    assert target.read_bytes() == b"old bytes"
    for name in ("put", "upload"):
        assert outcomes[name]["error"] == "StorageFullError", outcomes[name]
        assert "File too large" in outcomes[name]["text"]
    assert outcomes["small put afterwards"]["error"] is None
    assert sorted(p.name for p in store.iterdir()) == ["big", "small"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source", "store", "target"]
