"""The emulator fixtures start real servers that store and return real bytes."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from emulators import (
    RunningServer,
    _http,
    _launch,
    azure_request,
    create_azure_container,
    create_s3_bucket,
    reset_moto,
    s3_client,
    start_moto,
)

# Bytes that any accidental text handling would mangle: NUL, CR LF, invalid UTF-8.
PAYLOAD = b"\x00\r\n\xff\xfe" + os.urandom(64 * 1024)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_azurite_blob_round_trip(azurite_server: RunningServer, azure_container: str) -> None:
    assert azurite_server.endpoint.endswith("/devstoreaccount1")
    url = f"{azurite_server.endpoint}/{azure_container}/dir/blob.bin"

    put = azure_request("PUT", url, PAYLOAD, {"x-ms-blob-type": "BlockBlob"})
    assert put.status == HTTPStatus.CREATED, put.body

    got = azure_request("GET", url)
    assert got.status == HTTPStatus.OK, got.body
    assert got.body == PAYLOAD

    missing = azure_request("GET", f"{url}.missing")
    assert missing.status == HTTPStatus.NOT_FOUND


def test_azurite_checks_the_shared_key(azurite_server: RunningServer, azure_container: str) -> None:
    wrong_key = base64.b64encode(b"not the key").decode()
    url = f"{azurite_server.endpoint}/{azure_container}?restype=container&comp=list"
    assert azure_request("GET", url).status == HTTPStatus.OK
    assert azure_request("GET", url, key=wrong_key).status == HTTPStatus.FORBIDDEN


def test_create_azure_container_is_idempotent(
    azurite_server: RunningServer, azure_container: str
) -> None:
    create_azure_container(azurite_server.endpoint, azure_container)


def test_moto_object_round_trip(moto_server: RunningServer, s3_bucket: str) -> None:
    s3 = s3_client(moto_server.endpoint, "testing", "testing")
    s3.put_object(Bucket=s3_bucket, Key="dir/object.bin", Body=PAYLOAD)
    got = s3.get_object(Bucket=s3_bucket, Key="dir/object.bin")
    assert got["Body"].read() == PAYLOAD
    create_s3_bucket(moto_server.endpoint, s3_bucket)  # idempotent


def test_fixtures_hand_out_fresh_names(s3_bucket: str, azure_container: str) -> None:
    assert s3_bucket.startswith("test-")
    assert azure_container.startswith("test-")


def test_moto_reset_and_stop() -> None:
    # A server of its own: a reset clears every bucket on the server.
    server = start_moto()
    try:
        create_s3_bucket(server.endpoint, "to-be-reset")
        s3 = s3_client(server.endpoint, "testing", "testing")
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert names == ["to-be-reset"]
        reset_moto(server.endpoint)
        assert s3.list_buckets()["Buckets"] == []
    finally:
        server.stop()
    assert not server.is_running()
    assert not _pid_exists(server.pid)
    assert not server.log_path.exists()
    server.stop()  # idempotent


def test_start_failure_raises_with_log_tail() -> None:
    code = "import sys; print('no such flag: --frobnicate', flush=True); sys.exit(3)"
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*--frobnicate"):
        _launch(
            name="failing",
            argv=[sys.executable, "-c", code],
            listening=re.compile(r"never"),
            endpoint=lambda port: f"http://127.0.0.1:{port}",
            ready=lambda _endpoint: True,
        )


def test_emulators_script_starts_each_server_and_stops_them_on_sigterm() -> None:
    """``python scripts/emulators.py``, the README's way to start the emulators by hand: one JSON
    line per server, each answering at its endpoint, all stopped by their PIDs on SIGTERM."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "emulators.py"
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(3)]
        assert [line["name"] for line in lines] == ["moto", "azurite", "fake-gcs-server"]
        probes = {"moto": "/moto-api/", "azurite": "?comp=list", "fake-gcs-server": "/storage/v1/b"}
        for line in lines:
            status = _http("GET", line["endpoint"] + probes[line["name"]]).status
            assert status in (HTTPStatus.OK, HTTPStatus.FORBIDDEN), line  # Azurite: unsigned
            assert _pid_exists(line["pid"])
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert not any(_pid_exists(line["pid"]) for line in lines)
