"""The servers the libraries are measured on, started through ``scripts/emulators.py``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from emulators import (
    AZURITE_BIN,
    MINIO_BIN,
    MINIO_KEY,
    MINIO_SECRET,
    add_proxy,
    create_azure_container,
    create_minio_bucket,
    create_s3_bucket,
    slow_down,
    start_azurite,
    start_minio,
    start_moto,
    start_toxiproxy,
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
    name: str  # what the tables call it: the kind, and its latency profile if it has one
    status: str = "ok"  # or "unavailable"
    reason: str = ""
    version: str = ""
    endpoint: str = ""
    root: Path | None = None  # file://
    s3: S3Target | None = None
    azure: AzureTarget | None = None
    kind: str = ""  # memory, file, minio, moto or azurite; the name when empty
    latency_ms: int = 0  # each answer's delay, from toxiproxy in front of the server
    bandwidth_kbps: int | None = None  # each connection's cap, likewise

    def __post_init__(self) -> None:
        self.kind = self.kind or self.name

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


def latencies(value: str) -> list[int]:
    """``--latency-ms``'s value: comma-separated whole milliseconds, each >= 0, sorted."""
    try:
        chosen = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        chosen = []
    if not chosen or chosen[0] < 0:
        raise argparse.ArgumentTypeError(f"whole milliseconds >= 0, comma-separated; got {value!r}")
    return chosen


def profile_name(kind: str, latency_ms: int, bandwidth_kbps: int | None) -> str:
    """``minio``, or ``minio@20ms`` (``minio@20ms,12500KBps``) behind toxiproxy."""
    if not latency_ms and not bandwidth_kbps:
        return kind
    cap = f",{bandwidth_kbps}KBps" if bandwidth_kbps else ""
    return f"{kind}@{latency_ms}ms{cap}"


def _through(url: str, proxy: str) -> str:
    """``url`` with the proxy's scheme, host and port."""
    via = urlsplit(proxy)
    return urlunsplit(urlsplit(url)._replace(scheme=via.scheme, netloc=via.netloc))


@contextlib.contextmanager
def behind_toxiproxy(
    server: Server, latency_ms: int, bandwidth_kbps: int | None
) -> Iterator[Server]:
    """``server`` as a cloud's distance away: every answer delayed by ``latency_ms`` (and each
    connection capped at ``bandwidth_kbps``) by a toxiproxy proxy in front of it. S3 signatures
    still verify: clients sign the proxy's host, which is the host they send."""
    with start_toxiproxy() as toxiproxy:
        proxy = add_proxy(toxiproxy.endpoint, server.kind, server.endpoint)
        slow_down(toxiproxy.endpoint, server.kind, latency_ms, bandwidth_kbps)
        yield replace(
            server,
            name=profile_name(server.kind, latency_ms, bandwidth_kbps),
            endpoint=proxy,
            s3=replace(server.s3, endpoint=proxy) if server.s3 else None,
            azure=replace(server.azure, endpoint=_through(server.azure.endpoint, proxy))
            if server.azure
            else None,
            latency_ms=latency_ms,
            bandwidth_kbps=bandwidth_kbps,
        )


@contextlib.contextmanager
def start_server(
    name: str,
    workdir: Path,
    minio_dir: Path | None = None,
    latency_ms: int = 0,
    bandwidth_kbps: int | None = None,
) -> Iterator[Server]:
    """The server, started, behind toxiproxy when it has a latency or bandwidth profile;
    ``status="unavailable"`` with the reason if it cannot start."""
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
            if latency_ms or bandwidth_kbps:
                server = stack.enter_context(behind_toxiproxy(server, latency_ms, bandwidth_kbps))
        except Exception as e:
            label = profile_name(name, latency_ms, bandwidth_kbps)
            server = Server(label, status="unavailable", reason=short(e), kind=name)
        yield server
