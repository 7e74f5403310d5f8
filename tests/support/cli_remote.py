"""The command line run as a subprocess against a place in a store, for the tests of it: a
``Remote`` (its URL, the options that reach it, and the same place for the library), the runs'
checks, and a tree of files to move."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulators import AZURITE_ACCOUNT, AZURITE_KEY, s3_client

import rustyobjectstore as ros

if TYPE_CHECKING:  # the other Pythons' venvs, which load this through conftest, lack the SDKs
    from azure.storage.blob import ContainerClient

KiB, MiB = 1024, 1024 * 1024
# The installed command, as users run it: the launcher pip put beside this interpreter.
# Without it, each run fails naming the path (a FileNotFoundError), not a skip.
_BESIDE = Path(sys.executable).parent
CLI = (shutil.which("rustyobjectstore", path=str(_BESIDE)) or str(_BESIDE / "rustyobjectstore"),)
# The command line with Ctrl-C heard whatever this process was started with: a test run started
# in the background (nohup ... &) ignores SIGINT, and its children inherit that.
CLI_HEARING_CTRL_C = (
    sys.executable, "-c",
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('rustyobjectstore', run_name='__main__', alter_sys=True)",
)  # fmt: skip
KINDS = ["file", "minio", "moto", "azure"]
CLOUDS = ["minio", "moto", "azure"]


@dataclass(frozen=True)
class Remote:
    """A place in a store: its URL (ending in '/'), the CLI options that reach it, and the same
    place for the library (``conf``, with keys under ``prefix``)."""

    url: str
    opts: tuple[str, ...]
    conf: ros.StoreConfig
    prefix: str

    def keys(self) -> dict[str, bytes]:
        """Every object under the place, by name relative to it, with its bytes, as another
        client sees them (boto3, the Azure SDK, or the file system itself)."""
        return seen_by_another_client(self)

    def put(self, name: str, data: bytes) -> None:
        ros.put_object(self.prefix + name, data, self.conf)

    def endpoint(self) -> str:
        return dict(self.conf.spec().options)["endpoint"]

    def bucket(self) -> str:
        return self.conf.spec().url.split("://", 1)[1].strip("/")

    def s3_client(self) -> contextlib.closing[Any]:
        """boto3's client of an ``s3://`` place, with the same keys, closed after use."""
        options = dict(self.conf.spec().options)
        return contextlib.closing(s3_client(
            options["endpoint"], options["access_key_id"], options["secret_access_key"],
            options["region"],
        ))  # fmt: skip

    def through(self, endpoint: str) -> Remote:
        """The same place reached at another endpoint (a proxy in front of the server)."""
        opts = tuple(
            f"endpoint={endpoint}" if arg.startswith("endpoint=") else arg for arg in self.opts
        )
        return replace(self, opts=opts)


def cli(
    *args: str, opts: tuple[str, ...] = (), stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, *opts], input=stdin.decode(), capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr, result.stderr
    return result


def failed(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The error lines of a run that must have exited 1."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if "error:" in line]


TREE = {
    "a.csv": b"1,2\n",
    "b.txt": b"hello",
    "empty.txt": b"",
    "sub/c.csv": b"3,4\n" * 1000,
    "sub/deeper/d.bin": os.urandom(300 * KiB),
    "sub/deeper/e.csv": b"5,6\n",
}


def make_tree(root: Path, files: dict[str, bytes] = TREE) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def seen_by_another_client(remote: Remote) -> dict[str, bytes]:
    """Every object under ``remote``, by name relative to it, as boto3, the Azure SDK or the
    file system reads it."""
    if remote.url.startswith("file://"):
        root = Path("/" + remote.prefix)
        return local_files(root) if root.exists() else {}
    bucket = remote.bucket()
    if remote.url.startswith("s3://"):
        found = {}
        with remote.s3_client() as client:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=remote.prefix
            ):
                for entry in page.get("Contents", []):
                    body = client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                    found[entry["Key"][len(remote.prefix) :]] = body
        return found
    with azure_container_client(remote.endpoint(), bucket) as container:
        return {
            blob.name[len(remote.prefix) :]: container.download_blob(blob.name).readall()
            for blob in container.list_blobs(name_starts_with=remote.prefix)
        }


def azure_container_client(endpoint: str, name: str) -> ContainerClient:
    """Azurite's container, read with the account's key."""
    from azure.storage.blob import ContainerClient

    key = {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
    return ContainerClient(endpoint, name, credential=key)
