"""Server faults, through the public API, against the scriptable loopback server of ``faultserver.py``:
status storms, connection resets, slow answers, bodies cut short. What each one does:

* 5xx / 429: object_store retries ``ClientOptions.max_retries`` times, then ``HTTPStatusError`` with
  the status; the message says how many retries were made.
* a reset connection: retried likewise, then ``ObjectStoreConnectionError`` (a ``ConnectionError``).
* an answer slower than ``request_timeout_secs``: retried likewise, then ``ObjectStoreTimeoutError``.
* a body cut short (FIN or reset): object_store asks again with a ``Range`` from where the body
  stopped (one retry of the same budget) and checks the ETag, so the bytes are whole and exact; when
  the retries run out, ``EarlyEOFError``; when the object changed meanwhile, an error, never a splice.
* 4xx: not retried; 401 / 403 / 404 map to ``PermissionDeniedError`` / ``NotFoundError``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import s3_at
from faultserver import (
    Canned,
    CutShort,
    FaultServer,
    Request,
    Reset,
    Serve,
    Stall,
    Status,
    e_tag_of,
)

import rustyobjectstore as ros
from rustyobjectstore._worker import lifetime

pytestmark = pytest.mark.timeout(60)  # a hang guard only

KEY = "k"
PATH = "/bucket/k"  # where the store's key lands on the server (path-style S3)
SMALL = bytes(range(256)) * 40  # 10 KiB: one GET
CUT = 1000  # bytes sent before a body is cut short

Op = Callable[[ros.AWSConfig], object]


def _get(conf: ros.AWSConfig) -> object:
    return ros.get_object(KEY, conf)


def _get_into(conf: ros.AWSConfig) -> object:
    buffer = bytearray(64 * 1024)
    size = ros.get_object_into(KEY, buffer, conf)
    return bytes(buffer[:size])


def _head(conf: ros.AWSConfig) -> object:
    return ros.head_object(KEY, conf).size


def _put(conf: ros.AWSConfig) -> object:
    return ros.put_object(KEY, b"payload", conf)


OPS: dict[str, Op] = {"get": _get, "get_into": _get_into, "head": _head, "put": _put}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        running.objects[PATH] = SMALL
        yield running


def at(server: FaultServer, max_retries: int, **opts: float | int) -> ros.AWSConfig:
    return s3_at(
        server.endpoint, max_retries=max_retries, initial_backoff_ms=1, max_backoff_ms=5, **opts
    )


def methods(requests: list[Request]) -> list[str]:
    return [r.method for r in requests]


# Status storms.


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (500, None), (429, "1")])
def test_a_status_storm_is_retried_max_retries_times_then_raised(
    server: FaultServer, op: str, status: int, retry_after: str | None
) -> None:
    server.default = Status(status, retry_after)
    with pytest.raises(ros.HTTPStatusError) as caught:
        OPS[op](at(server, max_retries=3))
    assert isinstance(caught.value, OSError)
    assert ros.status_code(caught.value) == status
    assert "after 3 retries" in str(caught.value) and "max_retries: 3" in str(caught.value)
    assert len(server.requests) == 4  # the first try and three retries
    assert server.objects[PATH] == SMALL  # no put landed


@pytest.mark.parametrize("status", [503, 429])
def test_a_storm_that_ends_before_the_retries_run_out_succeeds(
    server: FaultServer, status: int
) -> None:
    server.storm(Status(status), 2)
    assert ros.get_object(KEY, at(server, max_retries=3)) == SMALL
    assert len(server.requests) == 3 and server.unused == 0


def test_a_put_is_sent_whole_again_after_a_503(server: FaultServer) -> None:
    server.storm(Status(503), 2)
    assert ros.put_object(KEY, b"new value", at(server, max_retries=2)) == 9
    assert server.objects[PATH] == b"new value"
    assert [(r.method, r.body_size) for r in server.requests] == [("PUT", 9)] * 3


@pytest.mark.parametrize("retries", [0, 1])
def test_max_retries_bounds_the_requests(server: FaultServer, retries: int) -> None:
    server.default = Status(502)
    with pytest.raises(ros.HTTPStatusError) as caught:
        ros.get_object(KEY, at(server, max_retries=retries))
    assert caught.value.status_code == 502
    assert len(server.requests) == 1 + retries


# Client errors are not retried.


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    ("status", "error", "builtin"),
    [
        (403, ros.PermissionDeniedError, PermissionError),
        (401, ros.PermissionDeniedError, PermissionError),
        (404, ros.NotFoundError, FileNotFoundError),
        (400, ros.HTTPStatusError, OSError),
    ],
)
def test_a_client_error_is_not_retried(
    server: FaultServer,
    op: str,
    status: int,
    error: type[ros.ObjectStoreError],
    builtin: type[Exception],
) -> None:
    server.default = Status(status)
    with pytest.raises(error) as caught:
        OPS[op](at(server, max_retries=3))
    assert isinstance(caught.value, builtin)
    assert ros.status_code(caught.value) == status
    assert len(server.requests) == 1


def test_a_missing_object_is_not_found_once(server: FaultServer) -> None:
    with pytest.raises(ros.NotFoundError):
        ros.get_object("absent", at(server, max_retries=3))
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/bucket/absent")]


# Connection resets.


@pytest.mark.parametrize("op", OPS)
def test_a_reset_storm_is_retried_then_a_connection_error(server: FaultServer, op: str) -> None:
    server.default = Reset()
    with pytest.raises(ros.ObjectStoreConnectionError) as caught:
        OPS[op](at(server, max_retries=2))
    assert isinstance(caught.value, ConnectionError) and ros.is_connection(caught.value)
    assert ros.status_code(caught.value) is None
    assert "after 2 retries" in str(caught.value)
    assert len(server.requests) == 3


def test_a_reset_once_then_the_right_bytes(server: FaultServer) -> None:
    server.script(Reset())
    assert ros.get_object(KEY, at(server, max_retries=2)) == SMALL
    assert methods(server.requests) == ["GET", "GET"]


def test_a_put_reset_once_is_stored_once(server: FaultServer) -> None:
    server.script(Reset())
    assert ros.put_object(KEY, b"after a reset", at(server, max_retries=2)) == 13
    assert server.objects[PATH] == b"after a reset"
    assert methods(server.requests) == ["PUT", "PUT"]


# A delete goes out as S3's bulk POST, which object_store does not send again after a reset (POST
# is not idempotent); the worker does, as a delete is idempotent by meaning. A stale pooled
# connection after a server restart fails this way (seen in a chaos run).


def test_a_delete_reset_once_is_sent_again(server: FaultServer) -> None:
    server.script(Reset())
    ros.delete_object(KEY, at(server, max_retries=2))
    assert PATH not in server.objects
    assert methods(server.requests) == ["POST", "POST"]


def test_a_bulk_delete_reset_once_loses_no_key(server: FaultServer) -> None:
    server.objects["/bucket/other"] = b"x"
    server.script(Reset(), Reset())  # the batch, then the single delete of the first key
    assert ros.bulk_delete_objects([KEY, "other"], at(server, max_retries=2)) == []
    assert not server.objects


def test_a_resent_delete_that_finds_the_key_gone_succeeds(server: FaultServer) -> None:
    """The send that broke off may have deleted the key; only the first send's 404 is an error."""
    server.script(Reset(), Status(404, s3_code="NoSuchKey"))
    ros.delete_object(KEY, at(server, max_retries=2))
    server.script(Status(404, s3_code="NoSuchKey"))
    with pytest.raises(ros.NotFoundError):
        ros.delete_object(KEY, at(server, max_retries=2))


def test_a_delete_reset_storm_stops_when_the_retries_run_out(server: FaultServer) -> None:
    server.default = Reset()
    with pytest.raises(ros.ObjectStoreConnectionError):
        ros.delete_object(KEY, at(server, max_retries=2))
    assert methods(server.requests) == ["POST"] * 3
    with pytest.raises(ros.ObjectStoreConnectionError):
        ros.delete_object(KEY, at(server, max_retries=0))
    assert len(server.requests) == 4


# Answers slower than the client's timeout.


@pytest.mark.parametrize("op", ["get", "head", "put"])
def test_a_slow_answer_is_a_timeout_after_the_retries(server: FaultServer, op: str) -> None:
    server.default = Stall(20)
    with pytest.raises(ros.ObjectStoreTimeoutError) as caught:
        OPS[op](at(server, max_retries=1, request_timeout_secs=0.3))
    assert isinstance(caught.value, TimeoutError) and ros.is_timeout(caught.value)
    assert "after 1 retries" in str(caught.value)
    assert len(server.requests) == 2


def test_one_slow_answer_is_retried(server: FaultServer) -> None:
    server.script(Stall(20))
    assert ros.get_object(KEY, at(server, max_retries=1, request_timeout_secs=1)) == SMALL
    assert len(server.requests) == 2


# Bodies cut short, one GET.


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "reset"])
@pytest.mark.parametrize("op", ["get", "get_into"])
def test_a_body_cut_short_once_is_resumed_where_it_stopped(
    server: FaultServer, op: str, reset: bool
) -> None:
    server.script(CutShort(CUT, reset=reset))
    assert OPS[op](at(server, max_retries=2)) == SMALL
    assert [r.range for r in server.requests] == [None, f"bytes={CUT}-{len(SMALL) - 1}"]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "reset"])
def test_bodies_always_cut_short_end_in_an_early_eof(server: FaultServer, reset: bool) -> None:
    server.default = CutShort(CUT, reset=reset)
    with pytest.raises(ros.EarlyEOFError) as caught:
        ros.get_object(KEY, at(server, max_retries=2))
    assert isinstance(caught.value, EOFError) and ros.is_early_eof(caught.value)
    # Each retry asks for the rest, from where the last body stopped.
    end = len(SMALL) - 1
    assert [r.range for r in server.requests] == [None, f"bytes={CUT}-{end}", f"bytes={2 * CUT}-{end}"]  # fmt: skip


def test_an_object_replaced_while_its_body_was_cut_is_not_spliced(server: FaultServer) -> None:
    other = bytes(reversed(SMALL))  # the same size, so the resumed range is satisfiable
    server.script(CutShort(CUT, replace_with=other))
    # The resumed body's ETag differs from the first one's: the first error stands.
    with pytest.raises(ros.EarlyEOFError):
        ros.get_object(KEY, at(server, max_retries=2))
    assert len(server.requests) == 2
    assert ros.get_object(KEY, at(server, max_retries=2)) == other  # and it is readable whole


def test_a_download_cut_short_once_is_whole(server: FaultServer, tmp_path: Path) -> None:
    target = tmp_path / "target"
    server.script(CutShort(CUT))
    assert ros.get_object_to_file(KEY, target, at(server, max_retries=2)) == len(SMALL)
    assert target.read_bytes() == SMALL
    assert os.listdir(tmp_path) == ["target"]


def test_a_failed_download_leaves_the_old_file(server: FaultServer, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"the old contents")
    server.default = CutShort(CUT)
    with pytest.raises(ros.EarlyEOFError):
        ros.get_object_to_file(KEY, target, at(server, max_retries=1))
    assert target.read_bytes() == b"the old contents"
    assert os.listdir(tmp_path) == ["target"]  # no half-written temp file left behind


# Big objects read as parallel ranged parts.

PART = 16 * 1024
BIG = os.urandom(16 * PART)  # a first GET of one part, then fifteen ranged parts


@pytest.fixture
def small_parts() -> Iterator[None]:
    """A pool whose gets split above one small part; the session's pool comes back afterwards."""
    saved = lifetime.current_pool().settings
    ros.shutdown_object_store()
    ros.init_object_store(
        ros.StaticConfig(n_workers=2, multipart_get_threshold=PART, multipart_get_part_size=PART)
    )
    yield
    ros.shutdown_object_store()
    ros.init_object_store(saved)


@pytest.fixture
def big(server: FaultServer, small_parts: None) -> FaultServer:
    server.objects[PATH] = BIG
    return server


def _download(tmp_path: Path) -> Op:
    def download(conf: ros.AWSConfig) -> object:
        target = tmp_path / "target"
        ros.get_object_to_file(KEY, target, conf)
        return target.read_bytes()

    return download


def _readers(tmp_path: Path) -> dict[str, Op]:
    return {"get": _get, "get_into": _big_into, "to_file": _download(tmp_path)}


def _big_into(conf: ros.AWSConfig) -> object:
    buffer = bytearray(len(BIG))
    assert ros.get_object_into(KEY, buffer, conf) == len(BIG)
    return bytes(buffer)


READERS = ["get", "get_into", "to_file"]
_RANGE = re.compile(r"bytes=(\d+)-(\d+)$")


def _ranges(requests: list[Request]) -> list[tuple[int, int]]:
    """The ranged requests as ``(start, end)``, end exclusive."""
    found = []
    for r in requests:
        match = _RANGE.match(r.range or "")
        if match:
            found.append((int(match.group(1)), int(match.group(2)) + 1))
    return found


@pytest.mark.parametrize("reader", READERS)
def test_big_objects_are_read_in_pinned_parts(
    big: FaultServer, reader: str, tmp_path: Path
) -> None:
    assert _readers(tmp_path)[reader](at(big, max_retries=2)) == BIG
    parts = [(s, s + PART) for s in range(PART, len(BIG), PART)]
    assert sorted(_ranges(big.requests)) == parts
    assert big.requests[0].range is None
    assert {r.if_match for r in big.requests[1:]} == {e_tag_of(BIG)}  # pinned to one version


@pytest.mark.parametrize("reader", READERS)
def test_a_part_cut_short_is_resumed_and_the_object_is_exact(
    big: FaultServer, reader: str, tmp_path: Path
) -> None:
    big.script(Serve(), CutShort(CUT))  # the first GET whole, then one part cut short
    assert _readers(tmp_path)[reader](at(big, max_retries=2)) == BIG
    parts = [(s, s + PART) for s in range(PART, len(BIG), PART)]
    ranges = _ranges(big.requests)
    resumed = [r for r in ranges if r not in parts]
    assert sorted(r for r in ranges if r in parts) == parts
    assert len(resumed) == 1
    (start, end) = resumed[0]
    assert (start - CUT, end) in parts  # the rest of that part, from where it stopped


@pytest.mark.parametrize("reader", READERS)
def test_parts_always_cut_short_fail_without_partial_data(
    big: FaultServer, reader: str, tmp_path: Path
) -> None:
    (tmp_path / "target").write_bytes(b"the old contents")
    big.script(Serve())
    big.default = CutShort(CUT)
    with pytest.raises(ros.EarlyEOFError):
        _readers(tmp_path)[reader](at(big, max_retries=2))
    assert (tmp_path / "target").read_bytes() == b"the old contents"
    assert os.listdir(tmp_path) == ["target"]
    assert any(start % PART == CUT for start, _ in _ranges(big.requests))  # resumes were tried


@pytest.mark.parametrize("reader", READERS)
def test_a_big_object_replaced_mid_read_fails_with_a_precondition_error(
    big: FaultServer, reader: str, tmp_path: Path
) -> None:
    (tmp_path / "target").write_bytes(b"the old contents")
    big.script(Serve(), CutShort(CUT, replace_with=bytes(reversed(BIG))))
    with pytest.raises(ros.PreconditionFailedError) as caught:
        _readers(tmp_path)[reader](at(big, max_retries=2))
    assert ros.status_code(caught.value) == 412
    assert (tmp_path / "target").read_bytes() == b"the old contents"
    assert os.listdir(tmp_path) == ["target"]


@pytest.mark.parametrize("reader", READERS)
def test_a_503_storm_on_the_parts_fails_with_the_status(
    big: FaultServer, reader: str, tmp_path: Path
) -> None:
    big.script(Serve())
    big.default = Status(503)
    with pytest.raises(ros.HTTPStatusError) as caught:
        _readers(tmp_path)[reader](at(big, max_retries=2))
    assert caught.value.status_code == 503 and "after 2 retries" in str(caught.value)
    assert not (tmp_path / "target").exists()


# Bulk deletes. A batch request that fails as a whole is one error for all its keys, so each key
# of that batch is deleted on its own and reports its own outcome: none is reported deleted unless
# it is gone. (object_store deletes a single S3 key with a one-key batch request too.)


def _bulk(server: FaultServer, n: int) -> list[str]:
    keys = [f"bulk/{i:04d}" for i in range(n)]
    server.objects.update({f"/bucket/{key}": b"x" for key in keys})
    return keys


def test_bulk_delete_batches_keys_a_thousand_a_request(server: FaultServer) -> None:
    keys = _bulk(server, 1001)
    assert ros.bulk_delete_objects([*keys, "bulk/never-existed"], at(server, max_retries=0)) == []
    assert methods(server.requests) == ["POST", "POST"]
    assert server.objects == {PATH: SMALL}


def test_bulk_delete_falls_back_to_single_deletes_when_a_batch_fails(server: FaultServer) -> None:
    keys = _bulk(server, 5)
    server.script(Status(500))
    assert ros.bulk_delete_objects(keys, at(server, max_retries=0)) == []
    first, *singles = server.requests
    assert methods(server.requests) == ["POST"] * 6
    assert all(single.body_size < first.body_size / 2 for single in singles)
    assert server.objects == {PATH: SMALL}


def test_a_bulk_delete_answer_naming_a_key_not_asked_for_does_not_crash_the_worker(
    server: FaultServer,
) -> None:
    # object_store's S3 client unwraps the lookup of each key that an answer's <Error> names; such
    # an answer is taken as a batch that failed, and the keys go one by one.
    keys = _bulk(server, 3)
    foreign = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult><Error><Key>not/asked</Key>'
        b"<Code>InternalError</Code><Message>no</Message></Error></DeleteResult>"
    )
    server.script(Canned(200, foreign))
    (worker,) = [c.pid for c in lifetime.current_pool().connections][:1]
    restarts = ros.current_metrics().total.restarts
    assert ros.bulk_delete_objects(keys, at(server, max_retries=0)) == []  # by single deletes
    assert methods(server.requests) == ["POST"] * 4
    assert server.objects == {PATH: SMALL}
    assert ros.current_metrics().total.restarts == restarts
    assert worker in [c.pid for c in lifetime.current_pool().connections]


def test_bulk_delete_reports_each_key_that_stays(server: FaultServer) -> None:
    keys = _bulk(server, 5)
    server.script(Status(500), *[Status(403)] * 3)  # the batch, then three of the single deletes
    failed = ros.bulk_delete_objects(keys, at(server, max_retries=0))
    assert len(failed) == 3 and all(isinstance(f.error, ros.PermissionDeniedError) for f in failed)
    remaining = sorted(path.removeprefix("/bucket/") for path in server.objects if path != PATH)
    assert sorted(f.path for f in failed) == remaining


@pytest.mark.parametrize("unsigned", [False, True])
def test_unsigned_payload_signs_without_hashing_the_body(
    server: FaultServer, unsigned: bool
) -> None:
    conf = dataclasses.replace(at(server, max_retries=0), unsigned_payload=unsigned)
    ros.put_object(KEY, b"payload", conf)
    assert ros.get_object(KEY, conf) == b"payload"
    put = server.requests[0]
    assert put.method == "PUT"
    expected = "UNSIGNED-PAYLOAD" if unsigned else hashlib.sha256(b"payload").hexdigest()
    assert put.content_sha256 == expected
