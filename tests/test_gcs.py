"""GCS on fake-gcs-server (built by ``scripts/install_fake_gcs.sh``): every read, listing and
delete the library has, through ``GCSConfig``, ``Config("gs://...")``, the async API, the fsspec
filesystem, pandas and the CLI.

fake-gcs-server takes no XML-API write, and object_store writes only that way, so the tests store
objects through the emulator's JSON API, as google-cloud-storage does. Each gap is a test that shows
the same request failing from a plain HTTP client too: an emulator that closes one fails that test,
and the gap list in the README ("GCS on fake-gcs-server") is revised with it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timezone
from pathlib import Path

import pandas as pd
import pytest
from conftest import gcs_config
from emulators import FAKE_GCS_KEY, RunningServer, _http, upload_gcs_object

import rustyobjectstore as ros
from rustyobjectstore import fsspec as rosfs

DATA = bytes(range(256)) * 4096  # 1 MiB, every byte value
TREE = {"a.txt": b"alpha", "d/b.txt": b"bb", "d/e/c.txt": b"c", "z.bin": DATA}


@pytest.fixture
def gcs(gcs_server: RunningServer, gcs_bucket: str) -> ros.GCSConfig:
    """A bucket holding ``TREE``, stored through the emulator's JSON API."""
    for key, data in TREE.items():
        upload_gcs_object(gcs_server.endpoint, gcs_bucket, key, data, "text/plain")
    return gcs_config(gcs_server, gcs_bucket)


def _keys(conf: ros.StoreConfig, prefix: str = "") -> list[str]:
    return [meta.path for meta in ros.list_objects(prefix, conf)]


def test_whole_and_ranged_reads(gcs: ros.GCSConfig) -> None:
    assert ros.get_object("z.bin", gcs) == DATA
    assert ros.get_object_range("z.bin", 1000, 1010, gcs) == DATA[1000:1010]
    assert ros.get_object_range("z.bin", -8, None, gcs) == DATA[-8:]
    assert ros.get_object_range("a.txt", 2, 99, gcs) == b"pha"  # cut at the end, as slicing is
    ranges = [(0, 4), (10, 20), (len(DATA) - 5, len(DATA))]
    assert ros.get_object_ranges("z.bin", ranges, gcs) == [DATA[a:b] for a, b in ranges]
    buffer = bytearray(len(DATA))
    assert ros.get_object_into("z.bin", buffer, gcs) == len(DATA) and buffer == DATA
    with pytest.raises(ros.BufferTooSmallError) as small:
        ros.get_object_into("z.bin", bytearray(10), gcs)
    assert small.value.object_size == len(DATA)
    with ros.get_object_view("a.txt", gcs) as view:
        assert bytes(view) == b"alpha"
    assert asyncio.run(ros.get_object_async("d/b.txt", gcs)) == b"bb"


def test_head_reader_and_download(gcs: ros.GCSConfig, tmp_path: Path) -> None:
    meta = ros.head_object("z.bin", gcs)
    assert (meta.path, meta.size) == ("z.bin", len(DATA))
    assert meta.last_modified.tzinfo is timezone.utc and meta.e_tag
    assert meta.attributes == {"Content-Type": "text/plain"}
    with ros.open_reader("z.bin", gcs, block_size=64 * 1024) as reader:
        reader.seek(300_000)
        assert reader.read(100) == DATA[300_000:300_100]
        reader.seek(-4, os.SEEK_END)
        assert reader.read() == DATA[-4:]
    target = tmp_path / "z.bin"
    assert ros.get_object_to_file("z.bin", target, gcs) == len(DATA)
    assert target.read_bytes() == DATA


def test_listings(gcs: ros.GCSConfig) -> None:
    assert _keys(gcs) == sorted(TREE)
    assert _keys(gcs, "d/") == ["d/b.txt", "d/e/c.txt"]
    assert [m.path for m in ros.list_objects("", gcs, offset="d/b.txt")] == ["d/e/c.txt", "z.bin"]
    sizes = {m.path: m.size for m in ros.list_objects("", gcs)}
    assert sizes == {key: len(data) for key, data in TREE.items()}
    top = ros.list_with_delimiter("", gcs)
    assert [m.path for m in top.objects] == ["a.txt", "z.bin"]
    assert top.common_prefixes == ["d"]
    inner = ros.list_with_delimiter("d/", gcs)
    assert ([m.path for m in inner.objects], inner.common_prefixes) == (["d/b.txt"], ["d/e"])


def test_deletes(gcs: ros.GCSConfig) -> None:
    ros.delete_object("a.txt", gcs)
    with pytest.raises(ros.NotFoundError):  # GCS answers 404 to a DELETE of no object
        ros.delete_object("a.txt", gcs)
    assert ros.bulk_delete_objects(["d/b.txt", "never-there", "d/e/c.txt"], gcs) == []
    assert _keys(gcs) == ["z.bin"]


def test_missing_key_and_bucket(gcs_server: RunningServer, gcs: ros.GCSConfig) -> None:
    with pytest.raises(ros.NotFoundError) as missing:
        ros.get_object("no/such/key", gcs)
    assert isinstance(missing.value, FileNotFoundError) and ros.status_code(missing.value) == 404
    with pytest.raises(ros.NotFoundError):
        ros.head_object("no/such/key", gcs)
    with pytest.raises(ros.NotFoundError):
        ros.get_object("a.txt", gcs_config(gcs_server, "no-such-bucket"))


def test_config_url_fsspec_and_pandas(gcs_server: RunningServer, gcs: ros.GCSConfig) -> None:
    url_conf = ros.Config(
        f"gs://{gcs.bucket_name}",
        {"base_url": gcs_server.endpoint, "allow_http": "true",
         "service_account_key": FAKE_GCS_KEY},
    )  # fmt: skip
    assert ros.get_object("a.txt", url_conf) == b"alpha"
    anonymous = ros.GCSConfig(gcs.bucket_name, host=gcs_server.endpoint, anonymous=True)
    assert ros.get_object("d/b.txt", anonymous) == b"bb"  # unsigned: no token asked for
    fs = rosfs.GCSFileSystem(token=json.loads(FAKE_GCS_KEY), endpoint_url=gcs_server.endpoint)
    root = gcs.bucket_name
    assert fs.ls(root, detail=False) == [f"{root}/a.txt", f"{root}/d", f"{root}/z.bin"]
    assert fs.cat(f"{root}/d/e/c.txt") == b"c"
    with fs.open(f"{root}/z.bin", "rb") as f:
        f.seek(5000)
        assert f.read(10) == DATA[5000:5010]
    upload_gcs_object(gcs_server.endpoint, root, "t.csv", b"x,y\n1,2\n3,4\n")
    options = {"token": json.loads(FAKE_GCS_KEY), "endpoint_url": gcs_server.endpoint}
    frame = pd.read_csv(f"ros+gs://{root}/t.csv", storage_options=options)
    assert frame.to_dict("list") == {"x": [1, 3], "y": [2, 4]}


def test_cli_with_application_credentials(
    gcs_server: RunningServer, gcs: ros.GCSConfig, tmp_path: Path
) -> None:
    """The CLI finds the key through ``GOOGLE_APPLICATION_CREDENTIALS``, the default chain's
    first source; the key names the emulator (object_store's ``gcs_base_url``)."""
    key_file = tmp_path / "emulator.json"
    key_file.write_text(
        json.dumps({**json.loads(FAKE_GCS_KEY), "gcs_base_url": gcs_server.endpoint})
    )
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}

    def cli(*args: str) -> str:
        argv = [sys.executable, "-m", "rustyobjectstore", *args, "-o", "allow_http=true"]
        result = subprocess.run(argv, capture_output=True, env=env, timeout=120, check=False)
        assert result.returncode == 0 and result.stderr == b"", result.stderr.decode()
        return result.stdout.decode()

    def names(listing: str) -> list[str]:  # a line ends with the name: "PRE d/", "<date> 5 a.txt"
        return sorted(line.split()[-1] for line in listing.splitlines())

    bucket = gcs.bucket_name
    assert names(cli("ls", f"gs://{bucket}/")) == ["a.txt", "d/", "z.bin"]
    assert names(cli("ls", "-r", f"gs://{bucket}/d/")) == ["d/b.txt", "d/e/c.txt"]
    assert cli("cat", f"gs://{bucket}/a.txt") == "alpha"
    assert f"size: {len(DATA)}" in cli("stat", f"gs://{bucket}/z.bin")
    cli("rm", f"gs://{bucket}/a.txt")
    assert _keys(gcs) == ["d/b.txt", "d/e/c.txt", "z.bin"]


# The emulator's gaps: what object_store sends and fake-gcs-server does not serve.


def _xml_writes(conf: ros.GCSConfig, tmp_path: Path) -> dict[str, Callable[[], object]]:
    """A put, a copy (a PUT with ``x-goog-copy-source``) and a multipart upload (``POST
    ?uploads``): object_store's three kinds of XML-API write."""
    big = tmp_path / "big.bin"
    big.write_bytes(DATA * 12)  # above the multipart threshold
    return {
        "put": lambda: ros.put_object("new.txt", b"n", conf),
        "copy": lambda: ros.copy_object("a.txt", "copy.txt", conf),
        "multipart": lambda: ros.put_object_from_file("big.bin", big, conf),
    }


def test_gap_xml_api_writes(gcs_server: RunningServer, gcs: ros.GCSConfig, tmp_path: Path) -> None:
    """A put, a copy (a PUT with ``x-goog-copy-source``) and a multipart upload (``POST
    ?uploads``) are XML-API writes; fake-gcs-server routes them to its JSON upload handler, which
    wants an ``uploadType``. The error is an ``HTTPStatusError`` with the emulator's words, and
    nothing is stored."""
    for name, write in _xml_writes(gcs, tmp_path).items():
        with pytest.raises(ros.HTTPStatusError) as refused:
            write()
        assert ros.status_code(refused.value) == 400, name
        assert "invalid uploadType" in str(refused.value), (name, str(refused.value))
    assert _keys(gcs) == sorted(TREE)
    url = f"{gcs_server.endpoint}/{gcs.bucket_name}/new.txt"
    # The same requests from a plain HTTP client.
    put = _http("PUT", url, b"n", {"Content-Type": "text/plain"})
    assert (put.status, json.loads(put.body)["error"]["message"]) == (400, "invalid uploadType")
    assert _http("POST", f"{url}?uploads", b"").status == 400


def test_gap_conditional_reads_are_ignored(gcs_server: RunningServer, gcs: ros.GCSConfig) -> None:
    """fake-gcs-server serves an XML-API GET whatever its ``If-Match`` says (GCS answers 412), so
    conditional reads are tested on the other stores only (``tests/test_conditions.py``)."""
    stale = '"not-the-e-tag"'
    assert ros.get_object("a.txt", gcs, if_match=stale) == b"alpha"
    url = f"{gcs_server.endpoint}/{gcs.bucket_name}/a.txt"
    served = _http("GET", url, headers={"If-Match": stale})  # a plain HTTP client
    assert (served.status, served.body) == (200, b"alpha")


def test_anonymous_writes_ask_for_no_token(
    gcs_server: RunningServer, gcs: ros.GCSConfig, tmp_path: Path
) -> None:
    """object_store's GCS client asks for a token before every upload, even one it does not sign;
    an anonymous configuration's writes go out without asking (and without an ``Authorization``
    header: the worker's unit tests). No server here takes XML-API writes, so they end at
    fake-gcs-server's gap: an answer from the server itself, where they used to fail asking the
    metadata server for a token."""
    anonymous = ros.GCSConfig(gcs.bucket_name, host=gcs_server.endpoint, anonymous=True)
    with ros.deadline(60):
        for name, write in _xml_writes(anonymous, tmp_path).items():
            with pytest.raises(ros.HTTPStatusError) as refused:
                write()
            assert "invalid uploadType" in str(refused.value), (name, str(refused.value))
    assert _keys(gcs) == sorted(TREE)
