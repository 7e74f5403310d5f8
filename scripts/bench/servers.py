"""The servers the libraries are measured on, started through ``scripts/emulators.py``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emulators import (
    AZURITE_BIN,
    MINIO_BIN,
    MINIO_KEY,
    MINIO_SECRET,
    create_azure_container,
    create_minio_bucket,
    create_s3_bucket,
    start_azurite,
    start_minio,
    start_moto,
)

from bench.common import BUCKET, MOTO_KEY, ROOT, dist_version, log, short

MINIO_STAMP = MINIO_BIN.parent / "minio.version"


@dataclass(frozen=True)
class S3Target:
    endpoint: str
    key: str
    secret: str
    bucket: str


@dataclass(frozen=True)
class AzureTarget:
    endpoint: str  # http://127.0.0.1:P/devstoreaccount1
    container: str


@dataclass
class Server:
    name: str
    status: str = "ok"  # or "unavailable"
    reason: str = ""
    version: str = ""
    endpoint: str = ""
    root: Path | None = None  # file://
    s3: S3Target | None = None
    azure: AzureTarget | None = None

    def as_json(self) -> dict[str, Any]:
        """The server as JSON, without the (throwaway) secret key."""
        document = asdict(self)
        document["root"] = str(self.root) if self.root else None
        if document["s3"]:
            document["s3"].pop("secret", None)
        return document


def install_minio() -> None:
    """Builds MinIO alone (Go only), rather than every emulator as ``start_minio`` would."""
    if MINIO_BIN.is_file() and os.access(MINIO_BIN, os.X_OK):
        return
    log("MinIO is missing: scripts/install_minio.sh builds it (a few minutes)")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_minio.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not MINIO_BIN.is_file():
        raise RuntimeError(f"scripts/install_minio.sh failed: {result.stderr[-1500:]}")


def minio_version() -> str:
    pinned = MINIO_STAMP.read_text().strip() if MINIO_STAMP.is_file() else "unknown module version"
    try:
        out = subprocess.run(
            [str(MINIO_BIN), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    first = out.splitlines()[0] if out else ""
    if "DEVELOPMENT" in first:  # what a `go install` build reports: the module version says more
        first = ""
    return f"minio {pinned}" + (f" ({first})" if first else "")


def azurite_version() -> str:
    package = AZURITE_BIN.parent.parent / "azurite" / "package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


@contextlib.contextmanager
def minio_server(workdir: Path, parent: Path | None) -> Iterator[Server]:
    """MinIO storing under ``parent`` (a temp dir in it), or under ``workdir``."""
    install_minio()
    data = Path(tempfile.mkdtemp(prefix="minio-data-", dir=parent or workdir))
    try:
        with start_minio(data) as running:
            target = S3Target(running.endpoint, MINIO_KEY, MINIO_SECRET, BUCKET)
            create_minio_bucket(running.endpoint, BUCKET)
            yield Server(
                "minio", version=minio_version(), endpoint=running.endpoint, root=data, s3=target
            )
    finally:
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def emulator(name: str) -> Iterator[Server]:
    """moto or Azurite, with the bucket (container) made."""
    running = start_moto() if name == "moto" else start_azurite()
    with running:
        endpoint = running.endpoint
        if name == "moto":
            create_s3_bucket(endpoint, BUCKET)
            s3 = S3Target(endpoint, MOTO_KEY, MOTO_KEY, BUCKET)
            yield Server(name, version=f"moto {dist_version('moto')}", endpoint=endpoint, s3=s3)
        else:
            create_azure_container(endpoint, BUCKET)
            azure = AzureTarget(endpoint, BUCKET)
            yield Server(
                name, version=f"azurite {azurite_version()}", endpoint=endpoint, azure=azure
            )


@contextlib.contextmanager
def start_server(name: str, workdir: Path, minio_dir: Path | None = None) -> Iterator[Server]:
    """The server, started; ``status="unavailable"`` with the reason if it cannot start."""
    if name in ("memory", "file"):
        root = workdir / "file-store" if name == "file" else None
        if root is not None:
            root.mkdir()
        try:
            yield Server(name, version="-", endpoint=f"{name}://", root=root)
        finally:
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
        return
    manager = minio_server(workdir, minio_dir) if name == "minio" else emulator(name)
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(manager)
        except Exception as e:
            server = Server(name, status="unavailable", reason=short(e))
        yield server
