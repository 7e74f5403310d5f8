"""The refusal sweep: every operation the library offers (``sweep_ops.py``) against every way a
server refuses, on the loopback fault server and on the real servers that can produce the refusal
(MinIO with a wrong secret or a missing bucket, Azurite with a wrong key or a missing container,
moto with a missing bucket).

Each case asserts three things: the typed error of the README's table; the worker unchanged (the
same process, no restart); and a call in flight on the same worker at the same time (held open by a
second fault server until the refused operation is over) completes normally. A worker that died
would fail that call too: the pool here retries no read after a crash.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import HANG_GUARD, azure_config, minio_config, own_pool, s3_config
from emulators import RunningServer
from faultserver import FaultServer, Hold
from sweep_ops import KEY, OPERATIONS, REFUSALS, Expected, fault_config

import rustyobjectstore as ros
from rustyobjectstore._config import StoreConfig
from rustyobjectstore._worker import lifetime

pytestmark = pytest.mark.timeout(120)  # a hang guard only

PATH = f"/bucket/{KEY}"
# A gzip stream, so that a decompressing read has something real to decompress.
OBJECT = gzip.compress(bytes(range(256)) * 16)


# Answers without a body, which cannot be cut short mid-body (a reset right after their headers
# races the client's read of them): "reset" covers these.
NO_ANSWER_BODY = {
    "put", "put_create", "put_update", "put_async", "write_stream", "write_stream_gzip",
    "write_stream_async", "put_from_file", "head",
}  # fmt: skip

# Where an operation's outcome differs from its refusal's, and why.
EXCEPTIONS: dict[tuple[str, str], Expected] = {
    # A HEAD answer has no body: S3 says "missing bucket" to a HEAD with a bare 404.
    ("head", "missing_bucket"): ros.NotFoundError,
    # object_store: a 404 to a conditional update means the version to replace is gone.
    ("put_update", "missing_key"): ros.PreconditionFailedError,
    # A conditional create that fails its precondition found the key there.
    ("put_create", "precondition"): ros.AlreadyExistsError,
    # A key that is already gone is not a failure of a bulk delete.
    ("bulk_delete", "missing_key"): None,
    # A conditional update that lost a race to another conditional write.
    ("put_update", "conflict"): ros.PreconditionFailedError,
}

# A 409 is how S3 answers conditional writes that race; the other operations never meet one.
CONDITIONAL_WRITES = {"put_create", "put_update", "copy_if_absent"}

RETRIED = {"server_error": 2, "reset": 2, "timeout": 1}

CASES = [
    (op, refusal)
    for op in OPERATIONS
    for refusal in REFUSALS
    if not (refusal == "reset_mid_body" and op in NO_ANSWER_BODY)
    and not (refusal == "conflict" and op not in CONDITIONAL_WRITES)
]


@pytest.fixture(scope="module", autouse=True)
def one_worker() -> Iterator[None]:
    """One worker, so that every call of a case shares it, and no read retried after a crash."""
    with own_pool(n_workers=1, crash_retries_for_reads=0):
        yield


def worker_pid() -> int:
    (connection,) = lifetime.current_pool().connections
    return connection.pid


def refused_beside_a_call_in_flight(
    op: str, conf: StoreConfig, expected: Expected, scratch: Path
) -> None:
    """Runs ``op`` on ``conf`` while another call on the same worker is held in flight; checks
    the outcome, the worker, and that the other call then completes normally."""
    pid = worker_pid()
    restarts = ros.current_metrics().total.restarts
    with FaultServer(default=Hold()) as companion, ThreadPoolExecutor(1) as runner:
        companion.objects[PATH] = OBJECT
        in_flight = runner.submit(ros.get_object, KEY, fault_config(companion.endpoint))
        deadline = time.monotonic() + HANG_GUARD
        while not companion.requests and time.monotonic() < deadline:
            time.sleep(0.005)
        assert companion.requests, "the call to hold never reached its server"
        try:
            if expected is None:
                OPERATIONS[op](conf, scratch)
            else:
                with pytest.raises(expected) as caught:
                    OPERATIONS[op](conf, scratch)
                assert type(caught.value) is expected, repr(caught.value)
        finally:
            companion.release()
        assert in_flight.result(timeout=HANG_GUARD) == OBJECT
    assert worker_pid() == pid
    assert ros.current_metrics().total.restarts == restarts


@pytest.mark.parametrize(("op", "refusal"), CASES)
def test_on_the_fault_server(op: str, refusal: str, tmp_path: Path) -> None:
    behaviour, expected = REFUSALS[refusal]
    expected = EXCEPTIONS.get((op, refusal), expected)
    with FaultServer(default=behaviour) as server:
        server.objects[PATH] = OBJECT
        # What is retried is retried until the retries run out; other refusals take one try. A
        # short timeout only where the timeout is the refusal, so that a slow moment of the
        # machine cannot pass for one.
        retries = RETRIED.get(refusal, 0)
        timeout = 0.3 if refusal == "timeout" else 10.0
        conf = fault_config(server.endpoint, max_retries=retries, request_timeout_secs=timeout)
        refused_beside_a_call_in_flight(op, conf, expected, tmp_path)


# The real servers. MinIO and Azurite check the signature; moto checks no key, but knows its
# buckets.

WRONG_KEY = "d3Jvbmcga2V5IGZvciB0aGUgc3dlZXA="  # base64, as an account key is


# The error each real server's refusal means.
REAL_REFUSALS: dict[str, type[ros.ObjectStoreError]] = {
    "minio_wrong_secret": ros.PermissionDeniedError,
    "minio_missing_bucket": ros.BucketNotFoundError,
    "azurite_wrong_key": ros.PermissionDeniedError,
    "azurite_missing_container": ros.BucketNotFoundError,
    "moto_missing_bucket": ros.BucketNotFoundError,
}


def real_config(refusal: str, request: pytest.FixtureRequest) -> StoreConfig:
    if refusal.startswith("minio"):
        minio: RunningServer = request.getfixturevalue("minio_server")
        if refusal == "minio_wrong_secret":
            bucket: str = request.getfixturevalue("minio_bucket")
            return minio_config(minio, bucket, secret="not-the-secret")
        return minio_config(minio, "no-such-bucket")
    if refusal.startswith("azurite"):
        azurite: RunningServer = request.getfixturevalue("azurite_server")
        if refusal == "azurite_wrong_key":
            container: str = request.getfixturevalue("azure_container")
            return azure_config(azurite, container, storage_account_key=WRONG_KEY)
        return azure_config(azurite, "no-such-container")
    return s3_config(request.getfixturevalue("moto_server"), "no-such-bucket")


def real_expected(op: str, refusal: str) -> Expected:
    if op == "head" and "missing" in refusal:
        return ros.NotFoundError  # a HEAD answer has no body to say why
    if op == "get_suffix" and refusal == "azurite_missing_container":
        return ros.NotFoundError  # Azure has no suffix requests: a HEAD comes first
    if op == "copy_if_absent" and not refusal.startswith("azurite"):
        # S3 without a copy_if_not_exists option cannot copy only-if-absent; it asks no server.
        return ros.NotSupportedError
    return REAL_REFUSALS[refusal]


@pytest.mark.parametrize("refusal", REAL_REFUSALS)
@pytest.mark.parametrize("op", OPERATIONS)
def test_on_a_real_server(
    op: str, refusal: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    conf = real_config(refusal, request)
    refused_beside_a_call_in_flight(op, conf, real_expected(op, refusal), tmp_path)
