"""Conditional and versioned reads: every read function takes ``if_match``, ``if_none_match``,
``if_modified_since``, ``if_unmodified_since`` and ``version`` (object_store's ``GetOptions``), on
memory, file, moto and Azurite; a versioned read of many parts stays on its version (moto with
versioning on)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import own_pool, s3_config
from emulators import RunningServer, s3_client

import rustyobjectstore as ros

AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig
DATA = b"0123456789" * 100
HOUR = timedelta(hours=1)

Read = Callable[[AnyConf, Path, dict[str, Any]], bytes]


def _view(conf: AnyConf, tmp: Path, when: dict[str, Any]) -> bytes:
    with ros.get_object_view("k", conf, **when) as view:
        return bytes(view)


def _to_file(conf: AnyConf, tmp: Path, when: dict[str, Any]) -> bytes:
    ros.get_object_to_file("k", tmp / "out", conf, **when)
    return (tmp / "out").read_bytes()


def _stream(conf: AnyConf, tmp: Path, when: dict[str, Any]) -> bytes:
    with ros.get_object_stream("k", conf, **when) as f:
        return f.read()


def _reader(conf: AnyConf, tmp: Path, when: dict[str, Any]) -> bytes:
    with ros.open_reader("k", conf, block_size=256, **when) as f:
        return f.read()


def _into(conf: AnyConf, tmp: Path, when: dict[str, Any]) -> bytes:
    buffer = bytearray(len(DATA))
    return bytes(buffer[: ros.get_object_into("k", buffer, conf, **when)])


def _async(conf: AnyConf, tmp: Path, when: dict[str, Any]) -> bytes:
    return asyncio.run(ros.get_object_async("k", conf, **when))


READS: dict[str, Read] = {
    "get_object": lambda conf, tmp, when: ros.get_object("k", conf, **when),
    "get_object_async": _async,
    "get_object_into": _into,
    "get_object_range": lambda conf, tmp, when: ros.get_object_range("k", 0, None, conf, **when),
    "get_object_ranges": lambda conf, tmp, when: b"".join(
        ros.get_object_ranges("k", [(0, 500), (500, 1000)], conf, coalesce=0, **when)
    ),
    "get_object_view": _view,
    "get_object_to_file": _to_file,
    "get_object_stream": _stream,
    "open_reader": _reader,
    "head_object": lambda conf, tmp, when: (
        DATA if ros.head_object("k", conf, **when).size == len(DATA) else b"?"
    ),
}


@pytest.mark.parametrize("read", READS)
def test_every_read_keeps_its_conditions(conf: AnyConf, read: str, tmp_path: Path) -> None:
    ros.put_object("k", DATA, conf)
    meta = ros.head_object("k", conf)
    assert meta.e_tag is not None
    run = READS[read]
    admitted: list[dict[str, Any]] = [
        {"if_match": meta.e_tag},
        {"if_none_match": '"not-this-one"'},
        {"if_modified_since": meta.last_modified - HOUR},
        {"if_unmodified_since": meta.last_modified + HOUR},
    ]
    for when in admitted:
        assert run(conf, tmp_path, when) == DATA, when
    refusals: list[tuple[dict[str, Any], type[ros.ObjectStoreError]]] = [
        ({"if_match": '"not-this-one"'}, ros.PreconditionFailedError),
        ({"if_unmodified_since": meta.last_modified - HOUR}, ros.PreconditionFailedError),
        ({"if_none_match": meta.e_tag}, ros.NotModifiedError),
        ({"if_modified_since": meta.last_modified + HOUR}, ros.NotModifiedError),
    ]
    for when, error in refusals:
        with pytest.raises(error):
            run(conf, tmp_path, when)
    # memory://, file:// and Azurite keep no versions (Azurite ignores the one asked for and
    # answers with the current object, which the worker refuses); moto's bucket is unversioned.
    refused = ros.ObjectStoreError if isinstance(conf, ros.AWSConfig) else ros.NotSupportedError
    with pytest.raises(refused, match=None if refused is ros.ObjectStoreError else "no versions"):
        run(conf, tmp_path, {"version": "v1"})


def test_conditions_are_checked_before_anything_is_sent() -> None:
    conf = ros.Config("memory://")
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*if_matches"):
        ros.get_object("k", conf, if_matches="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="aware datetime"):
        ros.head_object("k", conf, if_modified_since=datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="must be a datetime"):
        ros.head_object("k", conf, if_modified_since="yesterday")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty str"):
        ros.get_object("k", conf, version="")
    with pytest.raises(ValueError, match="between the years"):
        ros.get_object("k", conf, if_unmodified_since=datetime(9999, 1, 1, tzinfo=timezone.utc))


def _versioned_bucket(moto: RunningServer, name: str) -> ros.AWSConfig:
    client = s3_client(moto.endpoint, "testing", "testing")
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3_config(moto, name)


def test_an_old_version_reads_whole_in_parts(moto_server: RunningServer) -> None:
    conf = _versioned_bucket(moto_server, "versioned-reads")
    old = bytes(range(256)) * 4096  # 1 MiB, read in parts of 64 KiB below
    with own_pool(n_workers=1, multipart_get_threshold=64 * 1024,
                  multipart_get_part_size=64 * 1024):  # fmt: skip
        ros.put_object("k", old, conf)
        first = ros.head_object("k", conf)
        ros.put_object("k", b"new", conf)
        assert first.version is not None and ros.head_object("k", conf).version != first.version
        assert ros.get_object("k", conf, version=first.version) == old
        assert ros.get_object_range("k", -10, None, conf, version=first.version) == old[-10:]
        with ros.open_reader("k", conf, version=first.version, block_size=100_000) as f:
            f.seek(500_000)
            assert f.read(1000) == old[500_000:501_000]
        assert ros.head_object("k", conf, version=first.version).size == len(old)
        assert ros.get_object("k", conf) == b"new"
        with pytest.raises(ros.ObjectStoreError):
            ros.get_object("k", conf, version="no-such-version")
