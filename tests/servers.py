"""pytest fixtures for the real emulators in ``scripts/emulators.py``.

Load them from ``tests/conftest.py`` (``from servers import *``, or
``pytest_plugins = ["servers"]``). Importing this module puts ``scripts/`` on
``sys.path``, so tests can then ``from emulators import ...``.

A server that cannot start fails the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from emulators import (
    RunningServer,
    create_azure_container,
    create_minio_bucket,
    create_s3_bucket,
    start_azurite,
    start_minio,
    start_moto,
)

__all__ = [
    "azure_container",
    "azurite_server",
    "minio_bucket",
    "minio_server",
    "moto_server",
    "s3_bucket",
]


def _unique_name() -> str:
    # Valid as an S3 bucket and as an Azure container: 3-63 of [a-z0-9-].
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[RunningServer]:
    """A moto S3 server for the whole session; its ``endpoint`` is ``http://127.0.0.1:P``."""
    server = start_moto()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[RunningServer]:
    """An in-memory Azurite blob server for the session.

    Its ``endpoint`` is ``http://127.0.0.1:P/devstoreaccount1``.
    """
    server = start_azurite()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """MinIO for the session (it checks keys, where moto does not), on a data dir of its own."""
    server = start_minio(tmp_path_factory.mktemp("minio-data"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def minio_bucket(minio_server: RunningServer) -> str:
    """The name of a fresh, empty bucket on ``minio_server``."""
    name = _unique_name()
    create_minio_bucket(minio_server.endpoint, name)
    return name


@pytest.fixture
def s3_bucket(moto_server: RunningServer) -> str:
    """The name of a fresh, empty bucket on ``moto_server``."""
    name = _unique_name()
    create_s3_bucket(moto_server.endpoint, name)
    return name


@pytest.fixture
def azure_container(azurite_server: RunningServer) -> str:
    """The name of a fresh, empty container on ``azurite_server``."""
    name = _unique_name()
    create_azure_container(azurite_server.endpoint, name)
    return name
