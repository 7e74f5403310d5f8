"""Shared fixtures: every store the library serves, backed by real servers (``servers.py``)."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec.asyn
import pytest
from cli_remote import KINDS, Remote
from emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    FAKE_GCS_KEY,
    MINIO_KEY,
    MINIO_SECRET,
    RunningServer,
)
from fsspec.registry import _registry

import rustyobjectstore as ros
from rustyobjectstore import fsspec as rosfs
from rustyobjectstore._auth.providers import _ProviderLoop
from rustyobjectstore._worker import lifetime

# sfgateway needs boto3 and azure-storage-blob, which the other Pythons' venvs lack: the stage
# fixtures import it when they run.
if TYPE_CHECKING:
    from sfgateway import Backend, Gateway

# The stores the backend-parametrized tests run on; tests/test_pythons.py narrows it to the
# server-free ones for the other Pythons' runs.
STORE_KINDS = os.environ.get("RUSTYOBJECTSTORE_TEST_STORES", "memory,file,s3,azure").split(",")

# Credentials in the tests are the tests' own: nothing from the machine that runs them (its
# variables, ~/.aws, gcloud's files) reaches a configuration's default chain.
CLOUD_VARIABLES = ("AWS_", "AZURE_", "GOOGLE_", "GCE_", "CLOUDSDK_", "IDENTITY_", "MSI_")
for _name in [n for n in os.environ if n.startswith(CLOUD_VARIABLES)]:
    del os.environ[_name]
os.environ.update(
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_CONFIG_FILE=os.devnull,
    CLOUDSDK_CONFIG=str(Path(os.devnull) / "gcloud"),
)


def s3_config(moto: RunningServer, bucket: str, **overrides: object) -> ros.AWSConfig:
    fields: dict[str, object] = {
        "region": "us-east-1",
        "bucket_name": bucket,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "host": moto.endpoint,
        "opts": ros.ClientOptions(max_retries=2, request_timeout_secs=30),
    }
    fields.update(overrides)
    return ros.AWSConfig(**fields)  # type: ignore[arg-type]


def minio_config(minio: RunningServer, bucket: str, secret: str = MINIO_SECRET) -> ros.AWSConfig:
    return ros.AWSConfig(
        "us-east-1", bucket, MINIO_KEY, secret, host=minio.endpoint,
        opts=ros.ClientOptions(max_retries=1, initial_backoff_ms=1, max_backoff_ms=5),
    )  # fmt: skip


def gcs_config(gcs: RunningServer, bucket: str) -> ros.GCSConfig:
    """A bucket on fake-gcs-server, with the key that tells object_store to send no token."""
    return ros.GCSConfig(
        bucket, service_account_key=FAKE_GCS_KEY, host=gcs.endpoint,
        opts=ros.ClientOptions(max_retries=1, initial_backoff_ms=1, max_backoff_ms=5),
    )  # fmt: skip


def s3_at(endpoint: str, **opts: float | int) -> ros.AWSConfig:
    """An S3 configuration aimed at a loopback fault server (no real bucket behind it)."""
    return ros.AWSConfig(
        "us-east-1", "bucket", access_key_id="a", secret_access_key="s", host=endpoint,
        opts=ros.ClientOptions(**opts),  # type: ignore[arg-type]
    )  # fmt: skip


def azure_config(azurite: RunningServer, container: str, **overrides: object) -> ros.AzureConfig:
    fields: dict[str, object] = {
        "storage_account_name": AZURITE_ACCOUNT,
        "container_name": container,
        "storage_account_key": AZURITE_KEY,
        "host": azurite.endpoint,
        "opts": ros.ClientOptions(max_retries=2, request_timeout_secs=30),
    }
    fields.update(overrides)
    return ros.AzureConfig(**fields)  # type: ignore[arg-type]


HANG_GUARD = 20.0  # seconds: generous, only there so that a hang fails instead of blocking forever


class SilentServer:
    """A loopback listener that takes connections and never answers: a call aimed at it stays in
    flight until its client gives up, the only way to hold a call open (or time it out) on cue."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(HANG_GUARD)  # wait_for_request fails, never blocks
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []

    def wait_for_request(self) -> None:
        """Returns once a worker has connected: its call is in flight, and stays so."""
        connection, _ = self.listener.accept()
        self.accepted.append(connection)

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@contextlib.contextmanager
def own_pool(**settings: object) -> Iterator[None]:
    """A pool of these ``StaticConfig`` settings inside the block; the session's comes back after."""
    saved = lifetime.current_pool().settings
    ros.shutdown_object_store()
    ros.init_object_store(ros.StaticConfig(**settings))  # type: ignore[arg-type]
    try:
        yield
    finally:
        ros.shutdown_object_store()
        ros.init_object_store(saved)


@pytest.fixture(scope="session", autouse=True)
def object_store_pool() -> Iterator[None]:
    """One pool for the session; tests that need their own shut it down and restart it."""
    # fsspec's event loop thread (the filesystem's sync calls run on it) lives as long as the
    # interpreter once started: started here, it is part of what every test begins with.
    fsspec.asyn.get_loop()
    _ProviderLoop.get()  # async credential providers' loop: the same, for the same reason
    ros.init_object_store(ros.StaticConfig(n_workers=2))
    yield
    ros.shutdown_object_store()


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def conf(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> ros.Config | ros.AWSConfig | ros.AzureConfig:
    """A fresh, empty store of each kind."""
    if store_kind == "memory":
        return ros.Config(f"memory:///{uuid.uuid4().hex}")
    if store_kind == "file":
        root = tmp_path / "store"
        root.mkdir()
        return ros.Config(root.as_uri())
    if store_kind == "s3":
        bucket: str = request.getfixturevalue("s3_bucket")
        return s3_config(request.getfixturevalue("moto_server"), bucket)
    container: str = request.getfixturevalue("azure_container")
    return azure_config(request.getfixturevalue("azurite_server"), container)


# Snowflake stages: on S3 (moto) or Azure (Azurite), client-side encrypted or not, behind the
# loopback gateway of ``sfgateway.py``.
STAGE_VARIANTS = [("s3", False), ("s3", True), ("azure", False), ("azure", True)]
STAGE_OPTS = ros.ClientOptions(max_retries=1, initial_backoff_ms=1, max_backoff_ms=5,
                         request_timeout_secs=30)  # fmt: skip


def variant_id(v: tuple[str, bool]) -> str:
    return f"{v[0]}-{'encrypted' if v[1] else 'plain'}"


@pytest.fixture
def backend_of(request: pytest.FixtureRequest) -> Any:
    from sfgateway import AzureBackend, S3Backend

    def make(cloud: str) -> Backend:
        if cloud == "s3":
            moto = request.getfixturevalue("moto_server")
            return S3Backend(moto.endpoint, request.getfixturevalue("s3_bucket"))
        azurite = request.getfixturevalue("azurite_server")
        return AzureBackend(azurite.endpoint, AZURITE_ACCOUNT, AZURITE_KEY,
                            request.getfixturevalue("azure_container"))  # fmt: skip

    return make


@pytest.fixture
def gateway_of(backend_of: Any, tmp_path: Path) -> Iterator[Any]:
    """Starts fake gateways (``gateway_of(cloud, encrypted, **fields)``), stopped after the test."""
    from sfgateway import Gateway, serve

    running: list[Any] = []

    def start(cloud: str, encrypted: bool, **fields: Any) -> Gateway:
        block = serve(Gateway(backend_of(cloud), encrypted, **fields), tmp_path)
        running.append(block)
        return block.__enter__()

    yield start
    for block in reversed(running):
        block.__exit__(None, None, None)


def config_for(gateway: Gateway, **fields: Any) -> ros.SnowflakeConfig:
    given: dict[str, Any] = {
        "stage": gateway.stages[0],
        **gateway.config_fields(),
        "opts": STAGE_OPTS,
    }
    given.update(fields)
    return ros.SnowflakeConfig(**given)


@pytest.fixture(params=STAGE_VARIANTS, ids=variant_id)
def stage(request: pytest.FixtureRequest, gateway_of: Any) -> tuple[Gateway, ros.SnowflakeConfig]:
    cloud, encrypted = request.param
    gateway = gateway_of(cloud, encrypted)
    return gateway, config_for(gateway)


@pytest.fixture
def registered() -> Iterator[None]:
    """``rustyobjectstore.fsspec.register()`` for one test; fsspec's registry as it was after."""
    saved = dict(_registry)
    rosfs.register()
    yield
    _registry.clear()
    _registry.update(saved)


@pytest.fixture(params=KINDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    """A place for the command line's tests, on each kind of store that takes writes."""
    kind = request.param
    if kind == "file":
        root = tmp_path / "store"
        root.mkdir()
        return Remote(
            root.as_uri() + "/", (), ros.Config("file:///"), root.as_posix().lstrip("/") + "/"
        )
    if kind == "minio":
        server = request.getfixturevalue("minio_server")
        bucket = request.getfixturevalue("minio_bucket")
        opts = ("-o", f"endpoint={server.endpoint}", "-o", f"access_key_id={MINIO_KEY}",
                "-o", f"secret_access_key={MINIO_SECRET}", "-o", "region=us-east-1",
                "-o", "allow_http=true")  # fmt: skip
        return Remote(f"s3://{bucket}/top/", opts, minio_config(server, bucket), "top/")
    if kind == "moto":
        server = request.getfixturevalue("moto_server")
        bucket = request.getfixturevalue("s3_bucket")
        opts = ("-o", f"endpoint={server.endpoint}", "-o", "access_key_id=testing",
                "-o", "secret_access_key=testing", "-o", "region=us-east-1",
                "-o", "allow_http=true")  # fmt: skip
        return Remote(f"s3://{bucket}/top/", opts, s3_config(server, bucket), "top/")
    server = request.getfixturevalue("azurite_server")
    container = request.getfixturevalue("azure_container")
    azurite: tuple[str, ...] = ("-o", f"endpoint={server.endpoint}",
                                "-o", f"account_name={AZURITE_ACCOUNT}",
                                "-o", f"account_key={AZURITE_KEY}", "-o", "allow_http=true")  # fmt: skip
    return Remote(f"az://{container}/top/", azurite, azure_config(server, container), "top/")
