"""pytest fixtures for the real emulators in ``scripts/emulators.py``.

Load them from ``tests/conftest.py`` (``from servers import *``, or
``pytest_plugins = ["servers"]``). Importing this module puts ``scripts/`` on
``sys.path``, so tests can then ``from emulators import ...``.

A server that cannot start fails the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from credserver import CredentialServer, loopback_certificates
from emulators import (
    RunningServer,
    create_azure_container,
    create_gcs_bucket,
    create_minio_bucket,
    create_s3_bucket,
    start_azurite,
    start_fake_gcs,
    start_minio,
    start_moto,
)

__all__ = [
    "authority",
    "azure_container",
    "azurite_https",
    "azurite_server",
    "gcs_bucket",
    "gcs_server",
    "loopback_ca",
    "minio_bucket",
    "minio_server",
    "moto_server",
    "moto_sts",
    "oauth_container",
    "s3_bucket",
]


def _unique_name() -> str:
    # Valid as an S3 bucket and as an Azure container: 3-63 of [a-z0-9-].
    return f"test-{uuid.uuid4().hex}"


def _fresh(create: Callable[[str, str], None], server: RunningServer) -> str:
    """A new bucket (container) made on ``server`` by ``create(endpoint, name)``; its name."""
    name = _unique_name()
    create(server.endpoint, name)
    return name


@pytest.fixture(scope="session")
def moto_server() -> Iterator[RunningServer]:
    """A moto S3 server for the whole session; its ``endpoint`` is ``http://127.0.0.1:P``."""
    with start_moto() as server:
        yield server


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[RunningServer]:
    """An in-memory Azurite blob server for the session.

    Its ``endpoint`` is ``http://127.0.0.1:P/devstoreaccount1``.
    """
    with start_azurite() as server:
        yield server


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[RunningServer]:
    """fake-gcs-server for the session, in memory; its ``endpoint`` is ``http://127.0.0.1:P``."""
    with start_fake_gcs() as server:
        yield server


@pytest.fixture
def gcs_bucket(gcs_server: RunningServer) -> str:
    """The name of a fresh, empty bucket on ``gcs_server``."""
    return _fresh(create_gcs_bucket, gcs_server)


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """MinIO for the session (it checks keys, where moto does not), on a data dir of its own."""
    with start_minio(tmp_path_factory.mktemp("minio-data")) as server:
        yield server


@pytest.fixture
def minio_bucket(minio_server: RunningServer) -> str:
    """The name of a fresh, empty bucket on ``minio_server``."""
    return _fresh(create_minio_bucket, minio_server)


@pytest.fixture
def s3_bucket(moto_server: RunningServer) -> str:
    """The name of a fresh, empty bucket on ``moto_server``."""
    return _fresh(create_s3_bucket, moto_server)


@pytest.fixture
def azure_container(azurite_server: RunningServer) -> str:
    """The name of a fresh, empty container on ``azurite_server``."""
    return _fresh(create_azure_container, azurite_server)


@pytest.fixture(scope="session")
def loopback_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A test CA, and a certificate for 127.0.0.1 it signed with its key: for the servers that
    must speak HTTPS. Workers trust it through ``SSL_CERT_FILE``, set before they start."""
    return loopback_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def moto_sts(loopback_ca: tuple[Path, Path, Path]) -> Iterator[tuple[RunningServer, Path]]:
    """moto's STS over HTTPS (object_store sends web identity tokens to STS over HTTPS only),
    with the CA its certificate is signed by."""
    with start_moto(tls=loopback_ca, service="sts") as server:
        yield server, loopback_ca[0]


@pytest.fixture(scope="session")
def azurite_https(loopback_ca: tuple[Path, Path, Path]) -> Iterator[RunningServer]:
    """Azurite over HTTPS, where it takes bearer tokens (``--oauth basic``)."""
    with start_azurite(tls=loopback_ca) as server:
        yield server


@pytest.fixture
def oauth_container(
    azurite_https: RunningServer,
    loopback_ca: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A fresh container on ``azurite_https``; this test's workers, urllib and requests (the
    SDKs' HTTP client) trust its CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(loopback_ca[0]))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(loopback_ca[0]))
    return _fresh(create_azure_container, azurite_https)


@pytest.fixture
def authority(loopback_ca: tuple[Path, Path, Path]) -> Iterator[CredentialServer]:
    """The loopback credential server over HTTPS, as Azure AD and the identity endpoints are."""
    server = CredentialServer.start(tls=loopback_ca[1:])
    yield server
    server.stop()
