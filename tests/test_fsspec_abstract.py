"""fsspec's own abstract test suite (``fsspec.tests.abstract``: copy, get, put, open, pipe) on the
library's filesystem, over memory, local files, moto and Azurite, each made the way users make
them: by protocol, from s3fs- and adlfs-style storage options.

Stores have no empty directories, so ``supports_empty_directories`` is False, the fixture
fsspec's suite documents for such filesystems (s3fs and gcsfs run it so too). Nothing is skipped.
``fsspec.tests.abstract.mv`` holds no suite: its two functions test fsspec's own local filesystem
(``fsspec.filesystem("file")``) for errors that a directory-less store does not have; moves are
tested in ``test_fsspec.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from emulators import AZURITE_ACCOUNT, AZURITE_KEY, RunningServer
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.copy import AbstractCopyTests
from fsspec.tests.abstract.get import AbstractGetTests
from fsspec.tests.abstract.open import AbstractOpenTests
from fsspec.tests.abstract.pipe import AbstractPipeTests
from fsspec.tests.abstract.put import AbstractPutTests

from rustyobjectstore import fsspec as rosfs


def _slash_join(*parts: str) -> str:
    return "/".join(parts)


class _Suite(
    AbstractFixtures,  # type: ignore[misc]
    AbstractCopyTests,  # type: ignore[misc]
    AbstractGetTests,  # type: ignore[misc]
    AbstractPutTests,  # type: ignore[misc]
    AbstractOpenTests,  # type: ignore[misc]
    AbstractPipeTests,  # type: ignore[misc]
):
    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return _slash_join

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestMemory(_Suite):
    @pytest.fixture
    def fs(self) -> rosfs.ObjectStoreFileSystem:
        return rosfs.MemoryFileSystem()

    @pytest.fixture
    def fs_path(self) -> str:
        return f"/{uuid.uuid4().hex}"


class TestLocalFiles(_Suite):
    @pytest.fixture
    def fs(self) -> rosfs.ObjectStoreFileSystem:
        return rosfs.LocalFileSystem(auto_mkdir=True)

    @pytest.fixture
    def fs_path(self, tmp_path: Path) -> str:
        root = tmp_path / "remote"
        root.mkdir()
        return str(root)


class TestS3(_Suite):
    @pytest.fixture
    def fs(self, moto_server: RunningServer) -> rosfs.ObjectStoreFileSystem:
        options: dict[str, Any] = {"endpoint_url": moto_server.endpoint}
        return rosfs.S3FileSystem(key="testing", secret="testing", client_kwargs=options)

    @pytest.fixture
    def fs_path(self, s3_bucket: str) -> str:
        return s3_bucket


class TestAzure(_Suite):
    @pytest.fixture
    def fs(self, azurite_server: RunningServer) -> rosfs.ObjectStoreFileSystem:
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={azurite_server.endpoint};"
        )
        return rosfs.AzureBlobFileSystem(connection_string=connection)

    @pytest.fixture
    def fs_path(self, azure_container: str) -> str:
        return azure_container
