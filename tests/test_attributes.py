"""Attributes and tags: every write function attaches them, every read answers the attributes, and a
store that cannot keep one refuses the write (``NotSupportedError``) and stores nothing; on memory,
file, moto and Azurite. Tags are read back with another client: boto3 on moto, the Blob service's
Get Blob Tags on Azurite."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from conftest import azure_config, s3_config
from emulators import AZURITE_ACCOUNT, AZURITE_KEY, RunningServer, azure_request, s3_client

import rustyobjectstore as ros

AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig
MiB = 1024 * 1024
SMALL = b"a,b\n1,2\n" * 128
BIG = bytes(range(256)) * (11 * MiB // 256)  # above the 10 MiB multipart threshold
GIVEN = {"content-type": "text/csv", "Cache-Control": "no-cache", "Content-Language": "en",
         "Content-Disposition": 'attachment; filename="a.csv"', "Content-Encoding": "identity",
         "Owner": "etl-job"}  # fmt: skip
# The standard names come back canonical, metadata names in lowercase.
READ_BACK = {"Content-Type": "text/csv", "Cache-Control": "no-cache", "Content-Language": "en",
             "Content-Disposition": 'attachment; filename="a.csv"', "Content-Encoding": "identity",
             "owner": "etl-job"}  # fmt: skip
TAGS = {"team": "data", "a b": "c/d=e"}

Write = Callable[[AnyConf, str, bytes, Path, dict[str, Any]], None]


def _from_file(conf: AnyConf, key: str, data: bytes, tmp: Path, extra: dict[str, Any]) -> None:
    source = tmp / f"{uuid.uuid4().hex}.bin"
    source.write_bytes(data)
    assert ros.put_object_from_file(key, source, conf, **extra) == len(data)


def _from_file_async(
    conf: AnyConf, key: str, data: bytes, tmp: Path, extra: dict[str, Any]
) -> None:
    source = tmp / f"{uuid.uuid4().hex}.bin"
    source.write_bytes(data)
    assert asyncio.run(ros.put_object_from_file_async(key, source, conf, **extra)) == len(data)


def _stream(conf: AnyConf, key: str, data: bytes, tmp: Path, extra: dict[str, Any]) -> None:
    with ros.put_object_stream(key, conf, **extra) as writer:
        writer.write(data)


def _stream_async(conf: AnyConf, key: str, data: bytes, tmp: Path, extra: dict[str, Any]) -> None:
    async def write() -> None:
        writer = await ros.put_object_stream_async(key, conf, **extra)
        async with writer:
            await writer.write(data)

    asyncio.run(write())


def _put_async(conf: AnyConf, key: str, data: bytes, tmp: Path, extra: dict[str, Any]) -> None:
    assert asyncio.run(ros.put_object_async(key, data, conf, **extra)) == len(data)


def _put(conf: AnyConf, key: str, data: bytes, tmp: Path, extra: dict[str, Any]) -> None:
    assert ros.put_object(key, data, conf, **extra) == len(data)


WRITES: dict[str, Write] = {
    "put_object": _put,
    "put_object_async": _put_async,
    "put_object_from_file": _from_file,
    "put_object_from_file_async": _from_file_async,
    "put_object_stream": _stream,
    "put_object_stream_async": _stream_async,
}
# (write, size): every function with a small object, and the three whose big objects go up as
# multipart uploads.
CASES = [(name, "small") for name in WRITES] + [
    (name, "big") for name in ("put_object", "put_object_from_file", "put_object_stream")
]


def _data(size: str) -> bytes:
    return SMALL if size == "small" else BIG


def _refused(conf: AnyConf, run: Callable[[], None], match: str) -> None:
    with pytest.raises(ros.NotSupportedError, match=match):
        run()
    with pytest.raises(ros.NotFoundError):
        ros.head_object("k", conf)  # nothing was stored


def _reads(conf: AnyConf) -> list[ros.Attributes | None]:
    """The attributes of "k" as every read that answers them gives them."""

    async def stream_async() -> ros.Attributes | None:
        async with await ros.get_object_stream_async("k", conf) as reader:
            return reader.meta.attributes

    with ros.get_object_stream("k", conf) as stream:
        streamed = stream.meta.attributes
    with ros.open_reader("k", conf) as reader:
        opened = reader.meta.attributes
    return [ros.head_object("k", conf).attributes, streamed, opened, asyncio.run(stream_async())]


@pytest.mark.parametrize(("write", "size"), CASES)
def test_every_write_attaches_attributes(
    conf: AnyConf, write: str, size: str, tmp_path: Path
) -> None:
    run = WRITES[write]
    data = _data(size)
    if isinstance(conf, ros.Config) and conf.url.startswith("file:"):
        for given in ({"Content-Type": "text/csv"}, {"owner": "etl"}):
            attach = partial(run, conf, "k", data, tmp_path, {"attributes": given})
            _refused(conf, attach, "file:// stores cannot keep")
        return
    run(conf, "k", data, tmp_path, {"attributes": GIVEN})
    assert ros.get_object("k", conf) == data
    assert _reads(conf) == [READ_BACK] * 4


@pytest.mark.parametrize(("write", "size"), CASES)
def test_every_write_attaches_tags(
    conf: AnyConf, write: str, size: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run = WRITES[write]
    data = _data(size)
    if isinstance(conf, ros.Config):  # memory:// and file:// keep no tags
        _refused(conf, lambda: run(conf, "k", data, tmp_path, {"tags": TAGS}),
                 "stores cannot keep tags")  # fmt: skip
        return
    run(conf, "k", data, tmp_path, {"tags": TAGS, "attributes": {"Content-Type": "text/csv"}})
    assert ros.get_object("k", conf) == data
    assert _tags_of(conf, "k", request) == TAGS


def _tags_of(conf: AnyConf, key: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The object's tags as another client reads them."""
    if isinstance(conf, ros.AWSConfig):
        moto: RunningServer = request.getfixturevalue("moto_server")
        client = s3_client(moto.endpoint, "testing", "testing")
        answer = client.get_object_tagging(Bucket=conf.bucket_name, Key=key)
        return {tag["Key"]: tag["Value"] for tag in answer["TagSet"]}
    assert isinstance(conf, ros.AzureConfig)
    azurite: RunningServer = request.getfixturevalue("azurite_server")
    url = f"{azurite.endpoint}/{conf.container_name}/{key}?comp=tags"
    response = azure_request("GET", url)
    assert response.status == 200, response.body
    tags = ET.fromstring(response.body).iter("Tag")
    return {tag.findtext("Key", ""): tag.findtext("Value", "") for tag in tags}


def test_reads_answer_what_the_store_keeps(conf: AnyConf) -> None:
    ros.put_object("k", SMALL, conf)
    plain = _reads(conf)
    defaults = {
        # What each store answers for an object written with no attributes.
        ros.AWSConfig: {"Content-Type": "binary/octet-stream"},
        ros.AzureConfig: {"Content-Type": "application/octet-stream"},
        ros.Config: {},
    }[type(conf)]
    assert plain == [defaults] * 4
    assert [m.attributes for m in ros.list_objects("", conf)] == [None], "listings carry none"
    # A conditional put carries them too.
    if not (isinstance(conf, ros.Config) and conf.url.startswith("file:")):
        meta = ros.head_object("k", conf)
        ros.put_object("k", b"new", conf, mode=ros.UpdateVersion(meta.e_tag),
                       attributes={"Content-Type": "text/plain"})  # fmt: skip
        assert ros.head_object("k", conf).attributes == {"Content-Type": "text/plain"}


@pytest.mark.parametrize("store_kind", ["memory", "s3", "azure"])  # file:// keeps none
def test_copy_and_rename_keep_attributes(conf: AnyConf) -> None:
    ros.put_object("a", SMALL, conf, attributes=GIVEN)
    ros.copy_object("a", "b", conf)
    ros.rename_object("b", "c", conf)
    assert ros.head_object("a", conf).attributes == ros.head_object("c", conf).attributes
    assert ros.head_object("c", conf).attributes == READ_BACK


@pytest.mark.parametrize("store_kind", ["s3", "azure"])
def test_copy_and_rename_keep_tags(conf: AnyConf, request: pytest.FixtureRequest) -> None:
    """Azure's Copy Blob leaves the tags behind: they are carried over by the worker, through
    copies and renames, with overwrite and create; an object without tags gets none."""
    ros.put_object("a", SMALL, conf, tags=TAGS)
    ros.copy_object("a", "b", conf)
    # S3 copies only with overwrite (object_store has no copy-if-not-exists there)
    ros.copy_object("a", "only-once", conf, overwrite=not isinstance(conf, ros.AzureConfig))
    ros.rename_object("b", "dir/c", conf)
    for key in ("a", "only-once", "dir/c"):
        assert _tags_of(conf, key, request) == TAGS, key
    if isinstance(conf, ros.AzureConfig):  # moto keeps a target's old tags under a copy
        ros.put_object("plain", SMALL, conf)
        ros.copy_object("plain", "dir/c", conf)  # over a tagged blob: the copy's tags are none
        assert _tags_of(conf, "dir/c", request) == {}


@pytest.mark.parametrize("store_kind", ["azure"])
def test_azure_tag_requests_go_by_the_stores_own_http_client(
    conf: AnyConf, request: pytest.FixtureRequest
) -> None:
    """The tags' requests are sent by a client made as the store's (its options, TLS roots and
    counters), not a bare one: a copy of a tagged blob counts one request more than a copy of an
    untagged one (Set Blob Tags; both read the tags)."""

    def requests_of_copy(source: str, target: str) -> int:
        before = ros.current_metrics().total.http_requests
        ros.copy_object(source, target, conf)
        return ros.current_metrics().total.http_requests - before

    ros.put_object("tagged", SMALL, conf, tags=TAGS)
    ros.put_object("plain", SMALL, conf)
    assert requests_of_copy("tagged", "t2") == requests_of_copy("plain", "p2") + 1
    assert _tags_of(conf, "t2", request) == TAGS


def test_attributes_and_tags_are_checked_before_anything_is_sent() -> None:
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    bad: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"attributes": {"Content-Type": "caf\u00e9"}}, ValueError, "printable ASCII"),
        ({"attributes": {"owner": "a\r\nX-Injected: 1"}}, ValueError, "printable ASCII"),
        ({"attributes": {"two words": "v"}}, ValueError, "valid HTTP header name"),
        ({"attributes": {"content-type": "a", "Content-Type": "b"}}, ValueError, "given twice"),
        ({"attributes": {"Owner": "a", "owner": "b"}}, ValueError, "given twice"),
        ({"attributes": {"owner": 1}}, TypeError, "must be a str"),
        ({"attributes": {"": "v"}}, TypeError, "non-empty strs"),
        ({"attributes": [("Content-Type", "a")]}, TypeError, "must be a mapping"),
        ({"tags": {"team": None}}, TypeError, "must be a str"),
    ]
    for extra, error, match in bad:
        with pytest.raises(error, match=match):
            ros.put_object("k", b"x", conf, **extra)
        with pytest.raises(error, match=match):
            ros.put_object_stream("k", conf, **extra)
    with pytest.raises(ros.NotFoundError):
        ros.head_object("k", conf)
    ros.put_object("k", b"x", conf, attributes=None, tags={})  # None and empty: nothing to attach
    assert ros.head_object("k", conf).attributes == {}


def test_stores_without_tags_or_metadata_refuse_them_before_sending() -> None:
    # No server listens on these: the refusal comes before any request.
    http = ros.Config("http://127.0.0.1:1/")
    with pytest.raises(ros.NotSupportedError, match="HTTP stores cannot keep user metadata"):
        ros.put_object("k", b"x", http, attributes={"owner": "etl"})
    with pytest.raises(ros.NotSupportedError, match="HTTP stores cannot keep tags"):
        ros.put_object_stream("k", http, tags={"team": "data"})
    with pytest.raises(ros.NotSupportedError, match="GCS stores cannot keep tags"):
        ros.put_object(
            "k", b"x", ros.Config("gs://bucket", {"anon": "true"}), tags={"team": "data"}
        )


def test_s3_with_tagging_disabled_refuses_tags(moto_server: RunningServer, s3_bucket: str) -> None:
    conf = s3_config(moto_server, s3_bucket)
    untagged = ros.Config(f"s3://{s3_bucket}", {
        "aws_endpoint": moto_server.endpoint, "aws_allow_http": "true", "aws_region": "us-east-1",
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
        "aws_disable_tagging": "true",
    })  # fmt: skip
    with pytest.raises(ros.NotSupportedError, match="S3 stores cannot keep tags"):
        ros.put_object("k", b"x", untagged, tags={"team": "data"})
    with pytest.raises(ros.NotFoundError):
        ros.head_object("k", conf)
    ros.put_object("k", b"x", untagged, attributes={"owner": "etl"})
    assert ros.head_object("k", conf).attributes == {
        "Content-Type": "binary/octet-stream",
        "owner": "etl",
    }


def test_azure_copies_keep_tags_under_a_sas_token(
    azurite_server: RunningServer, azure_container: str, request: pytest.FixtureRequest
) -> None:
    """Signed with a SAS (its pairs in the query), the tags come along when the SAS may read and
    write them; a SAS that may not still copies, as Copy Blob alone does."""
    keyed = azure_config(azurite_server, azure_container)
    ros.put_object("a", SMALL, keyed, tags=TAGS)

    def sas_conf(tag: bool) -> ros.AzureConfig:
        token = generate_container_sas(
            AZURITE_ACCOUNT, azure_container, account_key=AZURITE_KEY,
            permission=ContainerSasPermissions(read=True, write=True, delete=True, tag=tag),
            expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        )  # fmt: skip
        return azure_config(azurite_server, azure_container, storage_account_key=None,
                            storage_sas_token=token)  # fmt: skip

    ros.copy_object("a", "b", sas_conf(tag=True))
    assert _tags_of(keyed, "b", request) == TAGS
    ros.copy_object("a", "c", sas_conf(tag=False))
    assert ros.get_object("c", keyed) == SMALL
