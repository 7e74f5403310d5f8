"""Constants every part of the benchmark shares, and its logging; standard library only."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent.parent
EMULATORS = ROOT / ".emulators"
S3FS_VENV = EMULATORS / "venv-s3fs"

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
SEED = 20261124
HOST = "127.0.0.1"
BUCKET = "bench"
S3_REGION = "us-east-1"
MOTO_KEY = "testing"
THREADS = 16  # boto3 and azure-storage-blob: "in flight" is a pool of this many threads
# Emulators serve 1 GiB at well under 100 MB/s: object_store's default 30 s request timeout is short.
REQUEST_TIMEOUT_S = 300

ROS = "rustyobjectstore"
ROS_BYTES = "rustyobjectstore[get_object]"
LIBS = ("rustyobjectstore", "obstore", "boto3", "azure-storage-blob", "s3fs")
SERVERS = ("memory", "file", "minio", "moto", "azurite")
SUPPORTS: dict[str, tuple[str, ...]] = {
    "rustyobjectstore": SERVERS,
    "obstore": SERVERS,
    "boto3": ("minio", "moto"),
    "azure-storage-blob": ("azurite",),
    "s3fs": ("minio", "moto"),
}
MODULES = {
    "rustyobjectstore": "rustyobjectstore",
    "obstore": "obstore",
    "boto3": "boto3",
    "azure-storage-blob": "azure.storage.blob",
}
OPS = ("put", "get")
SHORT = {ROS_BYTES: "ros get_object"}  # table headers

Unit = Literal["ops/s", "GB/s", "us"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def short(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."


def dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
