"""Real object-store emulators for the tests: moto (S3), Azurite (Azure Blob), MinIO (S3) and
fake-gcs-server (GCS).

Standard library only. Each server binds 127.0.0.1 on an ephemeral port, logs to a
file in its own temp dir, and is stopped by its own PID. Azurite must be installed
first with ``scripts/install_emulators.sh``; moto comes from PyPI (``moto[server]``).

Run ``python scripts/emulators.py`` to start moto, Azurite and fake-gcs-server, print their
endpoints as JSON lines, and keep them up until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "AZURE_API_VERSION",
    "AZURITE_ACCOUNT",
    "AZURITE_BIN",
    "AZURITE_KEY",
    "FAKE_GCS_BIN",
    "FAKE_GCS_KEY",
    "MINIO_BIN",
    "MINIO_KEY",
    "MINIO_SECRET",
    "HttpResponse",
    "RunningServer",
    "azure_request",
    "create_azure_container",
    "create_gcs_bucket",
    "create_minio_bucket",
    "s3_client",
    "create_s3_bucket",
    "ensure_installed",
    "main",
    "reset_moto",
    "upload_gcs_object",
    "start_azurite",
    "start_fake_gcs",
    "start_minio",
    "start_moto",
]

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / ".emulators" / "azurite" / "node_modules" / ".bin" / "azurite-blob"

# MinIO, built by scripts/install_minio.sh; its root user's keys, for tests only.
MINIO_BIN = ROOT / ".emulators" / "bin" / "minio"
MINIO_KEY = "rustyobjectstore"
MINIO_SECRET = "rustyobjectstore-minio-secret"

# fake-gcs-server, built by scripts/install_fake_gcs.sh. It takes any token or none, so clients
# give it a service-account key that object_store reads as "send no token" (``disable_oauth``, the
# emulator switch object_store's own tests use); the key fields are never used.
FAKE_GCS_BIN = ROOT / ".emulators" / "bin" / "fake-gcs-server"
TOXIPROXY_BIN = ROOT / ".emulators" / "bin" / "toxiproxy-server"
FAKE_GCS_KEY = json.dumps(
    {
        "type": "service_account",
        "disable_oauth": True,
        "client_email": "emulator@example.com",
        "private_key": "unused",
        "private_key_id": "unused",
    }
)
AZURITE_ACCOUNT = "devstoreaccount1"
# The well-known, published Azurite / Azure Storage Emulator development key.
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURE_API_VERSION = "2021-08-06"

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
LOG_TAIL_CHARS = 4000

# Both servers are started with port 0 and announce the port the OS chose,
# so there is no window in which another process can take it.
_MOTO_LISTENING = re.compile(r"Running on https?://127\.0\.0\.1:(\d+)")
_AZURITE_LISTENING = re.compile(r"successfully listens on https?://127\.0\.0\.1:(\d+)")
_MINIO_LISTENING = re.compile(r"API: http://127\.0\.0\.1:(\d+)")
_FAKE_GCS_LISTENING = re.compile(r"server started at http://127\.0\.0\.1:(\d+)")
_TOXIPROXY_LISTENING = re.compile(r'"address":"127\.0\.0\.1:(\d+)"')

# urllib without proxies: the servers are on loopback whatever HTTP(S)_PROXY says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class RunningServer:
    """A server process started by this module; ``stop()`` it when done."""

    name: str
    endpoint: str
    pid: int
    log_path: Path
    _process: subprocess.Popen[bytes] = field(repr=False, compare=False)
    _workdir: Path = field(repr=False, compare=False)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def is_running(self) -> bool:
        return self._process.poll() is None

    def log_tail(self, limit: int = LOG_TAIL_CHARS) -> str:
        return _read_tail(self.log_path, limit)

    def kill(self) -> None:
        """SIGKILL the server (no chance to flush or say goodbye), reap it, remove its temp dir."""
        try:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def stop(self) -> None:
        """Stop the server by its own PID and remove its temp dir; idempotent.

        SIGTERM, then SIGKILL after ``STOP_GRACE_S`` seconds; the process is reaped.
        """
        try:
            _terminate(self._process)
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)


def start_moto(
    tls: tuple[Path, Path, Path] | None = None, service: str | None = None
) -> RunningServer:
    """Start ``python -m moto.server`` on 127.0.0.1; ready on ``GET /moto-api/`` 200. With
    ``tls`` (a CA certificate, the server's certificate signed by it, its key) it serves HTTPS;
    with ``service`` (``"sts"``) every request goes to that service (``moto_service.py``)."""
    if service is None:
        argv = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", "0"]
        if tls is not None:
            argv += ["-c", str(tls[1]), "-k", str(tls[2])]
    else:
        argv = [sys.executable, str(ROOT / "scripts" / "moto_service.py"), HOST, service]
        if tls is not None:
            argv += [str(tls[1]), str(tls[2])]
    scheme, context = "http", None
    if tls is not None:
        scheme, context = "https", ssl.create_default_context(cafile=str(tls[0]))

    def ready(endpoint: str) -> bool:
        return _http("GET", f"{endpoint}/moto-api/", context=context).status == HTTPStatus.OK

    return _launch(
        name="moto",
        argv=argv,
        listening=_MOTO_LISTENING,
        endpoint=lambda port: f"{scheme}://{HOST}:{port}",
        ready=ready,
        env={"PYTHONUNBUFFERED": "1"},
    )


def reset_moto(endpoint: str) -> None:
    """Clear every bucket and object (all state) on a moto server."""
    response = _http("POST", f"{endpoint}/moto-api/reset")
    if response.status != HTTPStatus.OK:
        raise RuntimeError(f"moto reset at {endpoint} answered HTTP {response.status}")


def create_s3_bucket(endpoint: str, name: str) -> None:
    """Create a bucket on moto with an unsigned PUT (moto accepts it); idempotent."""
    response = _http("PUT", f"{endpoint}/{urllib.parse.quote(name, safe='')}", body=b"")
    if response.status == HTTPStatus.OK:
        return
    if response.status == HTTPStatus.CONFLICT and b"BucketAlreadyOwnedByYou" in response.body:
        return
    raise RuntimeError(
        f"creating S3 bucket {name!r} at {endpoint} failed: HTTP {response.status}: "
        f"{response.body[:500]!r}"
    )


def ensure_installed(program: Path, what: str) -> None:
    """Runs ``scripts/install_emulators.sh`` (Azurite, MinIO, the test Pythons) if ``program`` is
    missing: installed on first use, so the README's two commands suffice on a fresh machine."""
    if program.is_file() and os.access(program, os.X_OK):
        return
    install = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_emulators.sh")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if install.returncode != 0 or not program.is_file():
        raise RuntimeError(
            f"{what} is not installed ({program} is missing) and "
            f"scripts/install_emulators.sh failed:\n{install.stderr[-2000:]}"
        )


def start_minio(data: Path, port: int = 0, region: str | None = None) -> RunningServer:
    """Start MinIO on 127.0.0.1 storing in ``data`` (kept: a restart on the same ``data`` and
    ``port`` finds what was stored); ready when ``/minio/health/live`` is 200. Its keys are
    ``MINIO_KEY`` / ``MINIO_SECRET``. With a ``region`` it refuses requests signed for another
    (as AWS does); without, it takes any."""
    ensure_installed(MINIO_BIN, "MinIO")
    port = port or _free_port()

    def ready(endpoint: str) -> bool:
        return _http("GET", f"{endpoint}/minio/health/live").status == HTTPStatus.OK

    argv = [
        str(MINIO_BIN), "server", str(data),
        "--address", f"{HOST}:{port}", "--console-address", f"{HOST}:{_free_port()}",
    ]  # fmt: skip
    return _launch(
        name="minio",
        argv=argv,
        listening=_MINIO_LISTENING,
        endpoint=lambda found: f"http://{HOST}:{found}",
        ready=ready,
        # Public metrics: the benchmarks count the requests each client sends.
        env={
            "MINIO_ROOT_USER": MINIO_KEY,
            "MINIO_ROOT_PASSWORD": MINIO_SECRET,
            "MINIO_PROMETHEUS_AUTH_TYPE": "public",
            **({"MINIO_SITE_REGION": region} if region else {}),
        },
    )


def s3_client(
    endpoint: str, key: str = MINIO_KEY, secret: str = MINIO_SECRET, region: str = "us-east-1"
) -> Any:  # boto3 is untyped
    """boto3's S3 client of an emulator: MinIO's root keys unless told others (moto takes any).
    boto3 is imported here, not at the top: the other Pythons' venvs do not have it."""
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key, aws_secret_access_key=secret,
    )  # fmt: skip


def create_minio_bucket(endpoint: str, name: str) -> None:
    """Create a bucket on MinIO (which wants a signed request: boto3 signs it)."""
    client = s3_client(endpoint)
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()


def start_fake_gcs() -> RunningServer:
    """Start fake-gcs-server on 127.0.0.1 over plain HTTP, in memory; ready when its bucket list
    (``GET /storage/v1/b``) answers 200. Its public host is its own address, so the XML-API paths
    object_store uses (``/bucket/key``) reach it."""
    ensure_installed(FAKE_GCS_BIN, "fake-gcs-server")
    # It takes no port 0 (its public host must name the port), so a free one is picked first.
    port = _free_port()

    def ready(endpoint: str) -> bool:
        return _http("GET", f"{endpoint}/storage/v1/b").status == HTTPStatus.OK

    argv = [
        str(FAKE_GCS_BIN), "-scheme", "http", "-host", HOST, "-port", str(port),
        "-backend", "memory", "-public-host", f"{HOST}:{port}",
    ]  # fmt: skip
    return _launch(
        name="fake-gcs-server",
        argv=argv,
        listening=_FAKE_GCS_LISTENING,
        endpoint=lambda found: f"http://{HOST}:{found}",
        ready=ready,
    )


def create_gcs_bucket(endpoint: str, name: str) -> None:
    """Create a bucket on fake-gcs-server (JSON API: ``POST /storage/v1/b``)."""
    body = json.dumps({"name": name}).encode()
    headers = {"Content-Type": "application/json"}
    response = _http("POST", f"{endpoint}/storage/v1/b", body=body, headers=headers)
    if response.status != HTTPStatus.OK:
        raise RuntimeError(
            f"creating GCS bucket {name!r} at {endpoint} failed: HTTP {response.status}: "
            f"{response.body[:500]!r}"
        )


def upload_gcs_object(
    endpoint: str, bucket: str, key: str, data: bytes, content_type: str | None = None
) -> dict[str, object]:
    """Store an object through the JSON API's media upload (``uploadType=media``), the way
    google-cloud-storage writes: fake-gcs-server takes no XML-API PUT, which object_store's
    writes are. Returns the object's JSON resource."""
    query = urllib.parse.urlencode({"uploadType": "media", "name": key})
    headers = {"Content-Type": content_type or "application/octet-stream"}
    url = f"{endpoint}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{query}"
    response = _http("POST", url, body=data, headers=headers)
    if response.status != HTTPStatus.OK:
        raise RuntimeError(
            f"uploading gs://{bucket}/{key} to {endpoint} failed: HTTP {response.status}: "
            f"{response.body[:500]!r}"
        )
    resource: dict[str, object] = json.loads(response.body)
    return resource


def start_toxiproxy() -> RunningServer:
    """Start toxiproxy's API on 127.0.0.1; ready when ``/version`` answers 200. Its proxies put a
    cloud's latency (and a connection's bandwidth) in front of a loopback server: ``add_proxy``,
    then ``slow_down``."""
    ensure_installed(TOXIPROXY_BIN, "toxiproxy")
    port = _free_port()  # it announces the address it was given, not one the OS chose

    def ready(endpoint: str) -> bool:
        return _http("GET", f"{endpoint}/version").status == HTTPStatus.OK

    return _launch(
        name="toxiproxy",
        argv=[str(TOXIPROXY_BIN), "-host", HOST, "-port", str(port)],
        listening=_TOXIPROXY_LISTENING,
        endpoint=lambda found: f"http://{HOST}:{found}",
        ready=ready,
    )


def _toxiproxy_call(api: str, path: str, document: Mapping[str, object]) -> dict[str, object]:
    body = json.dumps(document).encode()
    response = _http("POST", f"{api}{path}", body, {"Content-Type": "application/json"})
    if response.status not in (HTTPStatus.OK, HTTPStatus.CREATED):
        raise RuntimeError(f"toxiproxy {path}: HTTP {response.status}: {response.body[:500]!r}")
    answer: dict[str, object] = json.loads(response.body)
    return answer


def add_proxy(api: str, name: str, upstream: str) -> str:
    """A proxy named ``name`` on a free loopback port of toxiproxy (``api``) in front of the
    server at ``upstream`` (``http://127.0.0.1:P``); returns the endpoint that reaches it."""
    target = urllib.parse.urlsplit(upstream)
    made = _toxiproxy_call(api, "/proxies", {
        "name": name, "listen": f"{HOST}:0", "upstream": target.netloc, "enabled": True,
    })  # fmt: skip
    return f"{target.scheme}://{made['listen']}"


def slow_down(api: str, proxy: str, latency_ms: int, bandwidth_kbps: int | None = None) -> None:
    """Every answer through ``proxy`` waits ``latency_ms`` (a request's time to first byte, as a
    cloud's); with ``bandwidth_kbps``, each connection's answers flow at most that fast."""
    if latency_ms:
        _toxiproxy_call(api, f"/proxies/{proxy}/toxics", {
            "name": "latency", "type": "latency", "stream": "downstream",
            "attributes": {"latency": latency_ms, "jitter": 0},
        })  # fmt: skip
    if bandwidth_kbps:
        _toxiproxy_call(api, f"/proxies/{proxy}/toxics", {
            "name": "bandwidth", "type": "bandwidth", "stream": "downstream",
            "attributes": {"rate": bandwidth_kbps},
        })  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def start_azurite(tls: tuple[Path, Path, Path] | None = None) -> RunningServer:
    """Start Azurite's blob service on 127.0.0.1, in memory; ready on any answer. With ``tls``
    (a CA certificate, the server's certificate signed by it, its key) it serves HTTPS and takes
    OAuth bearer tokens too (``--oauth basic``: it checks their issuer, audience and times, not
    their signature)."""
    ensure_installed(AZURITE_BIN, "Azurite")
    scheme, context, secure = "http", None, []
    if tls is not None:
        scheme, context = "https", ssl.create_default_context(cafile=str(tls[0]))
        secure = ["--cert", str(tls[1]), "--key", str(tls[2]), "--oauth", "basic"]

    def ready(endpoint: str) -> bool:
        # Unauthenticated, so 403; any HTTP status means the service answers.
        _http("GET", f"{endpoint}?comp=list", context=context)
        return True

    # --location is refused together with --inMemoryPersistence, so Azurite runs
    # with its temp dir as the working directory instead.
    return _launch(
        name="azurite",
        argv=[
            str(AZURITE_BIN),
            "--blobHost", HOST,
            "--blobPort", "0",
            "--inMemoryPersistence",
            "--loose",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            *secure,
        ],
        listening=_AZURITE_LISTENING,
        endpoint=lambda port: f"{scheme}://{HOST}:{port}/{AZURITE_ACCOUNT}",
        ready=ready,
    )  # fmt: skip


def azure_request(
    method: str,
    url: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    account: str = AZURITE_ACCOUNT,
    key: str = AZURITE_KEY,
) -> HttpResponse:
    """Send one Blob-service request signed with SharedKey (stdlib only).

    ``url`` is path-style: ``{endpoint}/{container}[/{blob}][?query]``. Any HTTP
    status is returned, not raised; network errors raise ``OSError``.
    """
    method = method.upper()
    all_headers = {
        "x-ms-date": email.utils.formatdate(usegmt=True),
        "x-ms-version": AZURE_API_VERSION,
        **(headers or {}),
    }
    if method in ("PUT", "POST"):
        # Set both explicitly: urllib would otherwise add a Content-Type of its own,
        # which is part of the signed string.
        all_headers.setdefault("Content-Type", "application/octet-stream")
        all_headers["Content-Length"] = str(len(body))
    elif body:
        raise ValueError(f"a {method} request takes no body")
    all_headers["Authorization"] = _shared_key(method, url, all_headers, account, key)
    return _http(
        method,
        url,
        body=body if method in ("PUT", "POST") else None,
        headers=all_headers,
    )


def create_azure_container(endpoint: str, name: str) -> None:
    """Create a blob container (``PUT {endpoint}/{name}?restype=container``).

    Idempotent: 409 ContainerAlreadyExists counts as success.
    """
    url = f"{endpoint}/{urllib.parse.quote(name, safe='')}?restype=container"
    response = azure_request("PUT", url)
    if response.status == HTTPStatus.CREATED:
        return
    error_code = response.headers.get("x-ms-error-code")
    if response.status == HTTPStatus.CONFLICT and error_code == "ContainerAlreadyExists":
        return
    raise RuntimeError(
        f"creating Azure container {name!r} at {endpoint} failed: "
        f"HTTP {response.status}: {response.body[:500]!r}"
    )


def main() -> int:
    """Start moto, Azurite and fake-gcs-server, print a JSON line each, serve until Ctrl-C or
    SIGTERM."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    servers: list[RunningServer] = []
    try:
        for start in (start_moto, start_azurite, start_fake_gcs):
            server = start()
            servers.append(server)
            line = {"name": server.name, "endpoint": server.endpoint, "pid": server.pid}
            print(json.dumps(line), flush=True)
        while not stop.wait(0.5):
            for server in servers:
                if not server.is_running():
                    what = f"{server.name} (pid {server.pid}) exited unexpectedly"
                    print(f"{what}:\n{server.log_tail()}", file=sys.stderr)
                    return 1
        return 0
    finally:
        for server in reversed(servers):
            server.stop()


# --- internals ---------------------------------------------------------------


def _launch(
    *,
    name: str,
    argv: Sequence[str],
    listening: re.Pattern[str],
    endpoint: Callable[[int], str],
    ready: Callable[[str], bool],
    env: Mapping[str, str] | None = None,
) -> RunningServer:
    workdir = Path(tempfile.mkdtemp(prefix=f"rustyobjectstore-{name}-"))
    log_path = workdir / f"{name}.log"
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                _die_with_parent(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env={**os.environ, **(env or {})},
                # Own session: a terminal's Ctrl-C reaches only us, and we stop it.
                start_new_session=True,
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    server_endpoint = ""
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode} while starting; "
                    f"log {log_path}:\n{_read_tail(log_path)}"
                )
            if not server_endpoint:
                match = listening.search(_read_tail(log_path, 1 << 16))
                if match:
                    server_endpoint = endpoint(int(match.group(1)))
            if server_endpoint and _try(ready, server_endpoint):
                return RunningServer(name, server_endpoint, process.pid, log_path, process, workdir)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} not ready after {START_TIMEOUT_S:.0f} s "
                    f"(endpoint: {server_endpoint or 'not announced'}); "
                    f"log {log_path}:\n{_read_tail(log_path)}"
                )
            time.sleep(0.05)
    except BaseException:
        _terminate(process)
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _try(ready: Callable[[str], bool], endpoint: str) -> bool:
    try:
        return ready(endpoint)
    except (OSError, http.client.HTTPException):  # refused, reset, garbled: not up yet
        return False


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return  # already reaped: its PID may belong to someone else now
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()


def _die_with_parent(argv: Sequence[str]) -> list[str]:
    """Prefix ``setpriv --pdeathsig TERM`` where available (util-linux, Linux).

    The server then gets SIGTERM if this process dies without stopping it.
    setpriv execs the server, so the PID stays the server's own. Linux ties this
    to the thread that forks: start servers from a thread that outlives them (the
    main thread, as pytest fixtures and ``main()`` do).
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "TERM", "--", *argv]


def _read_tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", errors="replace")
    except OSError as e:
        return f"<log unreadable: {e}>"


def _http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,  # an emulator on a loaded 2-core machine can take over 10 s
    context: ssl.SSLContext | None = None,
) -> HttpResponse:
    """One request on a fresh connection; any HTTP status is returned. ``context``: the TLS
    settings for an ``https`` URL (the CA of a server's own certificate).

    Network errors raise ``OSError`` (``http.client.HTTPException`` on garbage).
    """
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    opener = _OPENER
    if context is not None:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as e:
        with e:
            return HttpResponse(e.code, dict(e.headers.items()), e.read())


def _shared_key(method: str, url: str, headers: Mapping[str, str], account: str, key: str) -> str:
    """The ``Authorization`` value for Azure Storage SharedKey (Blob, 2015-02-21+)."""
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    content_length = lower.get("content-length", "")
    standard = [
        method,
        lower.get("content-encoding", ""),
        lower.get("content-language", ""),
        "" if content_length == "0" else content_length,
        lower.get("content-md5", ""),
        lower.get("content-type", ""),
        "",  # Date: x-ms-date is used instead
        lower.get("if-modified-since", ""),
        lower.get("if-match", ""),
        lower.get("if-none-match", ""),
        lower.get("if-unmodified-since", ""),
        lower.get("range", ""),
    ]
    canonical_headers = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower) if k.startswith("x-ms-"))
    parts = urllib.parse.urlsplit(url)
    resource = f"/{account}{parts.path or '/'}"
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    by_name: dict[str, list[str]] = {}
    for name, values in query.items():
        by_name.setdefault(name.lower(), []).extend(values)
    for name in sorted(by_name):
        resource += f"\n{name}:{','.join(sorted(by_name[name]))}"
    string_to_sign = "\n".join(standard) + "\n" + canonical_headers + resource
    digest = hmac.new(
        base64.b64decode(key), string_to_sign.encode("utf-8"), hashlib.sha256
    ).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode('ascii')}"


if __name__ == "__main__":
    sys.exit(main())
