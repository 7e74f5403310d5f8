"""The golden vectors in ``tests/vectors/``, seen from Python.

``worker/src/vectors.rs`` decodes the same files with the Rust codec, so the two codecs agree with each
other and with protocol.md. Requests are what the ``_worker.codec`` builders produce once
``Connection.request`` has added the ``id``; responses are what the worker's encoder writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgpack
import pytest

from rustyobjectstore._auth.providers import AWSCredentials, BearerToken, credentials_fields
from rustyobjectstore._errors import (
    ERROR_CLASSES,
    DataError,
    InvalidPathError,
    LocalFileError,
    ObjectStoreError,
    PermissionDeniedError,
    ProtocolError,
    error_from_wire,
)
from rustyobjectstore._ops.attributes import Attributes, attached
from rustyobjectstore._ops.conditions import Conditions
from rustyobjectstore._ops.list import list_cursor, list_objects_of
from rustyobjectstore._ops.objectmeta import ObjectMeta
from rustyobjectstore._worker import codec
from rustyobjectstore._worker.codec import MAX_FRAME, FrameDecoder, FrameError, Message

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"

Vector = dict[str, Any]


def _timestamp(value: dict[str, Any]) -> Any:
    """``{"$timestamp_ns": n}`` in a vector's message stands for a msgpack timestamp, which the frame
    decoder answers as an aware UTC datetime."""
    if list(value) == ["$timestamp_ns"]:
        return _utc(value["$timestamp_ns"])
    return value


def _load(name: str) -> list[Vector]:
    text = (VECTORS / name).read_text(encoding="utf-8")
    vectors: list[Vector] = json.loads(text, object_hook=_timestamp)
    return vectors


def _utc(nanos: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=nanos // 1000)


REQUESTS = _load("requests.json")
RESPONSES = _load("responses.json")
VALID_REQUESTS = [v for v in REQUESTS if "expect" not in v]
INVALID_REQUESTS = [v for v in REQUESTS if "expect" in v]


def _with_id(message: Message, request_id: int) -> Message:
    """What ``Connection.request`` does before sending."""
    message["id"] = request_id
    return message


# One explicit builder call per request vector.
BUILDERS: dict[str, Callable[[], Message]] = {
    "register_s3_with_options_client_retry": lambda: codec.register(
        1,
        "s3://bucket",
        {
            "aws_region": "us-east-1",
            "aws_endpoint": "http://127.0.0.1:9000",
            "aws_allow_http": "true",
        },
        {"timeout_secs": 30.0, "connect_timeout_secs": 2.5},
        {
            "max_retries": 3,
            "retry_timeout_secs": 60.5,
            "initial_backoff_ms": 100,
            "max_backoff_ms": 15000,
            "backoff_exp_base": 2.0,
        },
    ),
    "register_memory_no_settings": lambda: codec.register(2, "memory://", {}, {}, {}),
    "get_whole": lambda: _with_id(codec.get(1, "dir/object.bin", (0, 1048576), whole=True), 1),
    "get_range_if_match": lambda: _with_id(
        codec.get(
            1,
            "dir/object.bin",
            (4096, 100),
            whole=False,
            range=(5000000000, 5000000100),
            when={"if_match": '"0x8DC1E2F3A4B5C6D"'},
        ),
        2,
    ),
    "get_range_only": lambda: _with_id(codec.get(3, "k", (7, 8), whole=True, range=(0, 8)), 3),
    "get_to_the_end": lambda: _with_id(
        codec.get(1, "k", (0, 4096), whole=False, range=(100, None)), 29
    ),
    "get_suffix": lambda: _with_id(
        codec.get(1, "data.parquet", (0, 65536), whole=False, suffix=65536), 30
    ),
    "head": lambda: _with_id(codec.path_op("head", 1, "dir/\u00fcber.txt"), 4),
    "get_conditional": lambda: _with_id(
        codec.get(
            1,
            "dir/a.txt",
            (0, 4096),
            whole=False,
            when=Conditions(
                if_none_match='"9b2cf535f27731c974343645a3985328"',
                if_modified_since=datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc),
                version="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            ).first(),
        ),
        34,
    ),
    "sign": lambda: _with_id(codec.sign(2, "dir/\u00fcber.txt", "PUT", 3600), 36),
    "head_conditional": lambda: _with_id(
        codec.path_op(
            "head",
            1,
            "dir/a.txt",
            Conditions(
                if_match='"9b2cf535f27731c974343645a3985328"',
                if_unmodified_since=datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
            ).first(),
        ),
        35,
    ),
    "put": lambda: _with_id(codec.put(1, "dir/new.bin", (8589934592, 65536)), 5),
    "put_attached": lambda: _with_id(
        codec.put(
            1,
            "dir/a.csv",
            (0, 11),
            mode="create",
            attached=attached(
                {"content-type": "text/csv", "Owner": "etl"}, {"team": "data"}
            ).fields(),
        ),
        37,
    ),
    "multipart_start_attached": lambda: _with_id(
        codec.multipart_start(
            1, "big/file.bin", None, attached({"Cache-Control": "no-cache"}, None).fields()
        ),
        38,
    ),
    "write_open_attached": lambda: _with_id(
        codec.stream_open(
            "write_open",
            2,
            "out/data.gz",
            "gzip",
            attached({"Content-Encoding": "gzip"}, {"a b": "c/d=e", "\u00fc": ""}).fields(),
        ),
        39,
    ),
    "delete": lambda: _with_id(codec.path_op("delete", 1, "dir/old.bin"), 6),
    "multipart_start": lambda: _with_id(codec.multipart_start(1, "big/file.bin", 1 << 30, {}), 7),
    "multipart_part": lambda: _with_id(codec.multipart_part(42, (0, 5242880)), 8),
    "multipart_complete": lambda: _with_id(codec.upload_op("multipart_complete", 42), 9),
    "multipart_abort": lambda: _with_id(codec.upload_op("multipart_abort", 43), 10),
    "list": lambda: _with_id(codec.list_start(1, "dir/", 1000), 11),
    "list_with_offset": lambda: _with_id(codec.list_start(1, "dir/", 10000, offset="dir/m"), 12),
    "list_one_level": lambda: _with_id(
        codec.list_start(1, "data/year=2026/", 1000, delimiter=True), 32
    ),
    "list_next": lambda: _with_id(codec.cursor_op("list_next", 5), 13),
    "list_close": lambda: _with_id(codec.cursor_op("list_close", 6), 2**64 - 1),
    "put_create": lambda: _with_id(codec.put(1, "dir/new.bin", (0, 11), mode="create"), 14),
    "put_update_e_tag_version": lambda: _with_id(
        codec.put(
            1,
            "dir/new.bin",
            (0, 11),
            mode="update",
            e_tag='"5d41402abc4b2a76b9719d911017c592"',
            version="v-0001",
        ),
        15,
    ),
    "bulk_delete": lambda: _with_id(
        codec.bulk_delete(1, ["dir/a.txt", "dir/\u00fcber.txt", "dir//bad"]), 16
    ),
    "copy_no_overwrite": lambda: _with_id(
        codec.copy("copy", 1, "dir/a.txt", "dir/b.txt", overwrite=False), 17
    ),
    "rename": lambda: _with_id(
        codec.copy("rename", 1, "dir/b.txt", "dir/c.txt", overwrite=True), 18
    ),
    "read_open_zstd": lambda: _with_id(
        codec.stream_open("read_open", 1, "logs/day.zst", codec="zstd"), 19
    ),
    "read_open": lambda: _with_id(codec.stream_open("read_open", 1, "dir/a.txt"), 20),
    "read_next": lambda: _with_id(codec.stream_chunk("read_next", 3, (65536, 65536)), 21),
    "read_close": lambda: _with_id(codec.stream_op("read_close", 3), 22),
    "write_open_gzip": lambda: _with_id(
        codec.stream_open("write_open", 2, "out/data.gz", codec="gzip"), 23
    ),
    "write_chunk": lambda: _with_id(codec.stream_chunk("write_chunk", 2**32, (0, 1048576)), 24),
    "write_finish": lambda: _with_id(codec.stream_op("write_finish", 2**32), 25),
    "write_abort": lambda: _with_id(codec.stream_op("write_abort", 5), 26),
    # _codec has no builder for it: this is the message ``_ops.metrics`` sends.
    "metrics": lambda: _with_id(codec.metrics(), 27),
    "ping": lambda: _with_id(codec.ping(), 28),
    "cancel": lambda: codec.cancel(2**40),
    "register_s3_with_credential_provider": lambda: codec.register(
        4, "s3://bucket", {"region": "us-east-1"}, {}, {}, credentials=7
    ),
    "credentials_aws": lambda: codec.credentials(
        7,
        credentials_fields(
            AWSCredentials("ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG", session_token="FwoGZXIvYXdzEJr")
        ),
    ),
    "credentials_bearer": lambda: codec.credentials(
        8, credentials_fields(BearerToken("eyJ0eXAiOiJKV1QiLCJhbGciOi"))
    ),
    "download": lambda: _with_id(
        codec.download(
            1,
            "dir/object.bin",
            "/data/.object.bin.0a1b2c3d.part",
            "/data/object.bin",
            8388608,
            fsync=False,
        ),
        80,
    ),
    "download_part": lambda: _with_id(
        codec.download_part(
            1,
            "big/file.bin",
            "/data/.file.bin.0a1b2c3d.part",
            "/data/file.bin",
            (8388608, 16777216),
            {"if_match": '"abc"'},
        ),
        82,
    ),
    "download_many": lambda: _with_id(
        codec.download_many(
            1,
            [
                ["t/a.bin", "/d/t/.a.bin.00000001.part", "/d/t/a.bin"],
                ["t/\u00fcber.bin", "/d/t/.\u00fcber.bin.00000002.part", "/d/t/\u00fcber.bin"],
            ],
            fsync=True,
        ),
        81,
    ),
    "upload_many": lambda: _with_id(
        codec.upload_many(
            1,
            [
                {
                    "file": "/d/t/a.csv",
                    "path": "t/a.csv",
                    "attributes": {"Content-Type": "text/csv", "owner": "etl"},
                },
                {"file": "/d/t/\u00fcber.bin", "path": "t/\u00fcber.bin"},
            ],
            mode="create",
            limit=1048576,
        ),
        83,
    ),
    "invalidate_one": lambda: codec.invalidate(3),
    "invalidate_all": lambda: codec.invalidate(None),
}

# Every op of protocol.md section 5.
PROTOCOL_OPS = {
    "register",
    "get",
    "download",
    "download_many",
    "download_part",
    "head",
    "put",
    "upload_many",
    "delete",
    "multipart_start",
    "multipart_part",
    "multipart_complete",
    "multipart_abort",
    "list",
    "list_next",
    "list_close",
    "bulk_delete",
    "copy",
    "rename",
    "read_open",
    "read_next",
    "read_close",
    "write_open",
    "write_chunk",
    "write_finish",
    "write_abort",
    "sign",
    "metrics",
    "ping",
    "cancel",
    "credentials",
    "invalidate",
}


def _section(number: int, title: str) -> str:
    text = (ROOT / "protocol.md").read_text(encoding="utf-8")
    return text.split(f"## {number}. {title}", 1)[1].split("\n## ", 1)[0]


def _names(vectors: list[Vector]) -> list[str]:
    return [str(v["name"]) for v in vectors]


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def test_every_request_vector_has_a_builder_and_every_op_a_vector() -> None:
    assert set(_names(VALID_REQUESTS)) == set(BUILDERS)
    assert {v["message"]["op"] for v in VALID_REQUESTS} == PROTOCOL_OPS
    assert set(re.findall(r"^\| `([a-z_]+)` \|", _section(5, "Requests"), re.MULTILINE)) == (
        PROTOCOL_OPS
    ), "the ops of protocol.md section 5"
    assert len(set(_names(REQUESTS))) == len(REQUESTS)
    assert len(set(_names(RESPONSES))) == len(RESPONSES)


@pytest.mark.parametrize("vector", VALID_REQUESTS, ids=_names(VALID_REQUESTS))
def test_builders_produce_the_request_bytes(vector: Vector) -> None:
    message = BUILDERS[vector["name"]]()
    assert message == vector["message"]
    assert list(message) == list(vector["message"]), "key order"
    frame = codec.encode_frame(message)
    assert frame[4:].hex() == vector["msgpack_hex"]
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4


def test_a_message_that_cannot_be_packed_leaves_the_next_frame_whole() -> None:
    # The packer is kept between frames: what a failed frame had packed must not leak into the next.
    for bad in ({"op": "ping", "id": object()}, {"op": "ping", "id": 2**70}):
        with pytest.raises((TypeError, OverflowError)):
            codec.encode_frame(bad)
        assert msgpack.unpackb(codec.encode_frame(codec.ping())[4:]) == codec.ping()


@pytest.mark.parametrize("vector", REQUESTS, ids=_names(REQUESTS))
def test_request_vectors_are_their_messages(vector: Vector) -> None:
    body = bytes.fromhex(vector["msgpack_hex"])
    assert msgpack.unpackb(body, raw=False) == vector["message"]
    assert msgpack.packb(vector["message"], use_bin_type=True) == body


@pytest.mark.parametrize("vector", INVALID_REQUESTS, ids=_names(INVALID_REQUESTS))
def test_invalid_vectors_say_what_the_worker_must_do(vector: Vector) -> None:
    expect = vector["expect"]
    message = vector["message"]
    if expect["decoded"] == "invalid":
        # A map with a usable id: a protocol error response for that id.
        assert isinstance(message, dict)
        assert message["id"] == expect["id"]
    else:
        assert expect == {"decoded": "error"}
        assert not isinstance(message, dict) or not isinstance(message.get("id"), int)
    if not isinstance(message, dict):
        # Python holds the worker to the same rule: a frame must be one map.
        with pytest.raises(FrameError, match="not a map"):
            FrameDecoder().feed(_frame(bytes.fromhex(vector["msgpack_hex"])))


@pytest.mark.parametrize("vector", RESPONSES, ids=_names(RESPONSES))
def test_frame_decoder_decodes_every_response(vector: Vector) -> None:
    decoder = FrameDecoder()
    assert decoder.feed(_frame(bytes.fromhex(vector["msgpack_hex"]))) == [vector["message"]]
    assert decoder.pending == 0


def test_frame_decoder_takes_frames_byte_by_byte() -> None:
    stream = b"".join(_frame(bytes.fromhex(v["msgpack_hex"])) for v in RESPONSES)
    decoder = FrameDecoder()
    decoded: list[Message] = []
    for i in range(len(stream)):
        decoded += decoder.feed(stream[i : i + 1])
    assert decoded == [v["message"] for v in RESPONSES]
    assert decoder.pending == 0


def test_frame_decoder_takes_many_frames_in_one_feed() -> None:
    stream = b"".join(_frame(bytes.fromhex(v["msgpack_hex"])) for v in RESPONSES)
    decoder = FrameDecoder()
    assert decoder.feed(stream[:-1]) == [v["message"] for v in RESPONSES[:-1]]
    assert decoder.feed(stream[-1:]) == [RESPONSES[-1]["message"]]


def test_frame_decoder_rejects_a_zero_length() -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


def test_frame_decoder_rejects_an_over_limit_length_before_the_body() -> None:
    decoder = FrameDecoder()
    # Only the header: the decoder must not wait for (or buffer) 4 MiB + 1 bytes first.
    with pytest.raises(FrameError, match=str(MAX_FRAME + 1)):
        decoder.feed((MAX_FRAME + 1).to_bytes(4, "big"))
    # The largest allowed length is only buffered, not rejected.
    decoder = FrameDecoder()
    assert decoder.feed(MAX_FRAME.to_bytes(4, "big") + b"\x80") == []
    assert decoder.pending == 5


def _response(name: str) -> Message:
    for vector in RESPONSES:
        if vector["name"] == name:
            message: Message = vector["message"]
            return message
    raise KeyError(name)


def test_the_hello_matches_this_package() -> None:
    hello = _response("hello")
    assert hello["t"] == "hello"
    assert hello["protocol"] == codec.PROTOCOL_VERSION
    assert hello["max_frame"] == MAX_FRAME
    cargo = (ROOT / "worker" / "Cargo.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', cargo, re.MULTILINE)
    assert version is not None
    assert hello["worker_version"] == version.group(1)


def _check_meta(wire: Any) -> ObjectMeta:
    meta = ObjectMeta.from_wire(wire)
    assert meta == ObjectMeta(
        path=wire["path"],
        size=wire["size"],
        last_modified=_utc(wire["last_modified"]),
        e_tag=wire["e_tag"],
        version=wire["version"],
    )
    return meta


def test_metas_parse() -> None:
    get = _check_meta(_response("success_get")["meta"])
    assert get.last_modified == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert get.version is None
    head = _check_meta(_response("success_head")["meta"])
    assert head.last_modified == datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    assert head.size == 5 * 2**30 and head.e_tag is None
    listing = _response("success_list_with_cursor")
    entries = list_objects_of(listing)
    columns = listing["objects"]
    rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    for row in rows:  # as a single meta carries it: nanoseconds
        row["last_modified"] = (row["last_modified"] - _utc(0)) // timedelta(microseconds=1) * 1000
    assert entries == [_check_meta(row) for row in rows], "columns and maps give the same metas"
    assert [e.path for e in entries] == ["dir/a.txt", "dir/\u00fcber.txt", "dir/zero"]
    assert entries[0] == get and entries[1].last_modified == head.last_modified
    assert list_cursor(listing) == 3
    done = _response("success_list_done")
    assert list_objects_of(done) == [] and list_cursor(done) is None
    one_level = _response("success_list_one_level")
    assert list_objects_of(one_level) == [get] and one_level["prefixes"] == [
        "dir/sub",
        "dir/\u00fcber",
    ]
    opened = _response("success_read_open")
    assert _check_meta(opened["meta"]) == get
    assert opened["stream"] == 3


def test_a_read_answers_attributes_a_listing_none() -> None:
    meta = ObjectMeta.from_wire(_response("success_head_attributes")["meta"])
    assert meta.attributes == Attributes({"Content-Type": "text/csv", "owner": "etl"})
    assert meta.attributes == {"Content-Type": "text/csv", "owner": "etl"}
    assert hash(meta) == hash(ObjectMeta.from_wire(_response("success_head_attributes")["meta"]))
    assert ObjectMeta.from_wire(_response("success_head")["meta"]).attributes is None
    assert {m.attributes for m in list_objects_of(_response("success_list_with_cursor"))} == {None}


def test_a_malformed_listing_page_is_a_protocol_error() -> None:
    good = _response("success_list_with_cursor")["objects"]
    assert len(ObjectMeta.from_columns(good)) == 3
    bad: list[Any] = [
        {**good, "last_modified": [0, 1, 2]},  # integers, not timestamps
        {**good, "size": ["1", "2", "3"]},
        {**good, "path": good["path"][:2]},
        {**good, "e_tag": [1, None, None]},
        {k: v for k, v in good.items() if k != "version"},
        "not a map",
    ]
    for page in bad:
        with pytest.raises(ProtocolError, match="malformed listing page"):
            ObjectMeta.from_columns(page)


def test_success_fields() -> None:
    assert _response("success_get")["size"] == _response("success_get")["written"] == 11
    assert _response("success_upload")["upload"] == 2**32
    put = _response("success_put_with_e_tag_and_version")
    assert (put["e_tag"], put["version"]) == ('"5d41402abc4b2a76b9719d911017c592"', "v-0001")
    bare = _response("success_put_without_e_tag_or_version")
    assert (bare["e_tag"], bare["version"]) == (None, None)
    assert _response("success_stream")["stream"] == 2**32
    more = _response("success_read_more")
    assert (more["written"], more["eof"]) == (65536, False)
    last = _response("success_read_eof")
    assert (last["written"], last["eof"]) == (11, True)
    metrics = _response("success_metrics")
    assert (metrics["http_requests"], metrics["retries"]) == (12345, 2)
    assert _response("success_bulk_delete_none_failed")["failed"] == []
    for vector in RESPONSES:
        if vector["name"].startswith("success_"):
            assert vector["message"]["ok"] is True


def test_bulk_delete_failures_become_their_classes() -> None:
    """As ``_ops.bulk_delete`` reads them: one error map per failed key."""
    failed = _response("success_bulk_delete_with_failures")["failed"]
    errors = [error_from_wire(entry["error"], "delete", entry["path"]) for entry in failed]
    assert [entry["path"] for entry in failed] == ["dir/\u00fcber.txt", "dir//bad"]
    assert [type(e) for e in errors] == [PermissionDeniedError, InvalidPathError]
    assert [e.status_code for e in errors] == [403, None]
    assert errors[0].message == "Access Denied"
    assert errors[1].message == 'Path "dir//bad" contained empty path segment'
    assert [e.path for e in errors] == ["dir/\u00fcber.txt", "dir//bad"]


@pytest.mark.parametrize(
    "name, status",
    [("error_with_status", 404), ("error_without_status", None), ("error_data", None)],
)
def test_error_responses_become_their_classes(name: str, status: int | None) -> None:
    response = _response(name)
    assert response["ok"] is False
    error = error_from_wire(response["error"], "get", "dir/a.txt")
    assert type(error) is ERROR_CLASSES[response["error"]["kind"]]
    assert error.kind == response["error"]["kind"]
    assert error.status_code == status
    assert error.message == response["error"]["message"]
    assert (error.op, error.path) == ("get", "dir/a.txt")


def test_a_local_file_error_names_its_errno_and_file() -> None:
    error = error_from_wire(_response("error_local_file")["error"], "download", "dir/object.bin")
    assert type(error) is LocalFileError and isinstance(error, OSError)
    assert (error.errno, error.filename) == (2, "/data/object.bin")
    assert error.strerror == "creating a temp file beside it: No such file or directory"


def test_a_data_error_is_a_value_error() -> None:
    error = error_from_wire(_response("error_data")["error"], "get", "logs/day.zst")
    assert type(error) is DataError and isinstance(error, ValueError)
    assert error.kind == "data" and error.status_code is None


def _section_6() -> str:
    return _section(6, "Responses")


def _protocol_error_kinds() -> dict[str, str]:
    """kind -> Python class name, from the table's first and last columns."""
    rows = re.findall(r"^\| `([a-z_]+)` \|.*\| `([A-Za-z]+)`[^|]*\|$", _section_6(), re.MULTILINE)
    assert rows, "protocol.md section 6 has no table of error kinds"
    kinds = dict(rows)
    assert len(kinds) == len(rows), "a kind is listed twice"
    return kinds


def _python_only_kinds() -> list[str]:
    section = _section_6()
    sentence = section.split("Python adds kinds that never come from the worker:", 1)[1]
    return re.findall(r"`([a-z_]+)` \(`[A-Za-z]+Error`", sentence.split("\n\n", 1)[0])


def test_every_error_kind_in_protocol_md_has_a_class_and_back() -> None:
    kinds = _protocol_error_kinds()
    python_only = _python_only_kinds()
    assert python_only == [
        "buffer_too_small",
        "worker_crashed",
        "worker_protocol",
        "deadline",
        "no_credentials",
    ]
    assert set(kinds) | set(python_only) == set(ERROR_CLASSES)
    assert not set(kinds) & set(python_only)
    for kind, class_name in kinds.items():
        cls = ERROR_CLASSES[kind]
        assert issubclass(cls, ObjectStoreError)
        assert (cls.kind, cls.__name__) == (kind, class_name)
        error = error_from_wire({"kind": kind, "message": "m", "status": 500}, "head", "k")
        assert type(error) is cls and error.status_code == 500
