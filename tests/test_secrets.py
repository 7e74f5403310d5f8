"""A canary secret, used every way a user can pass one, never shows: not in an error message, repr,
cause chain or log record, not in a worker's argv, environment or stderr, even with every logger at
DEBUG and the worker's Rust logging and backtraces turned all the way up."""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import azure_config
from emulators import RunningServer

import rustyobjectstore as ros
from rustyobjectstore._config import StoreConfig
from rustyobjectstore._worker import lifetime

CANARY = "CANARY-secret-value-0123456789"
CANARY_KEY = base64.b64encode(CANARY.encode()).decode()  # Azure keys must be base64


@pytest.fixture
def verbose_pool(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """A pool whose workers run with Rust logging at trace and full backtraces, every Python logger
    at DEBUG; the session's pool comes back afterwards."""
    saved = lifetime.current_pool().settings
    ros.shutdown_object_store()
    monkeypatch.setenv("RUST_LOG", "trace")
    monkeypatch.setenv("RUST_BACKTRACE", "full")
    caplog.set_level(logging.DEBUG)
    ros.init_object_store(ros.StaticConfig(n_workers=1))
    yield
    ros.shutdown_object_store()
    ros.init_object_store(saved)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _texts(error: BaseException) -> list[str]:
    """The error and everything chained to it, as a user or a logger could print them."""
    seen: list[str] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 40:
        seen += [str(current), repr(current), str(current.args)]
        current = current.__cause__ or current.__context__
    logging.getLogger("test_secrets").exception("logged", exc_info=error)
    return seen


def _worker_dumps() -> list[str]:
    dumps = []
    for conn in lifetime.current_pool()._slots:
        if conn is None or not conn.alive:
            continue
        for name in ("cmdline", "environ"):
            dumps.append(Path(f"/proc/{conn.pid}/{name}").read_bytes().decode("utf-8", "replace"))
        dumps.append("\n".join(conn.transport._stderr))
    return dumps


def test_a_canary_secret_shows_nowhere_even_at_the_most_verbose_logging(
    verbose_pool: None,
    caplog: pytest.LogCaptureFixture,
    azurite_server: RunningServer,
    azure_container: str,
    closed_port: int,
) -> None:
    dead_end = f"http://127.0.0.1:{closed_port}"
    fast = ros.ClientOptions(max_retries=0, connect_timeout_secs=2)
    failing: list[tuple[str, StoreConfig]] = [
        (
            "azure key",
            azure_config(azurite_server, azure_container, storage_account_key=CANARY_KEY),
        ),
        (
            "azure sas",
            azure_config(
                azurite_server,
                azure_container,
                storage_account_key=None,
                storage_sas_token=f"sv=2021-08-06&sp=rwdl&sig={CANARY}",
            ),
        ),
        (
            "s3 keys",
            ros.AWSConfig(
                "us-east-1",
                "b",
                access_key_id="AKIDEXAMPLE",
                secret_access_key=CANARY,
                session_token=CANARY,
                host=dead_end,
                opts=fast,
            ),
        ),
        ("url query", ros.Config(f"{dead_end}/data?sig={CANARY}", opts=fast)),
        (
            "option",
            ros.Config(
                "s3://b",
                {"secret_access_key": CANARY, "endpoint": dead_end, "allow_http": "true"},
                fast,
            ),
        ),
    ]
    texts: list[str] = []
    for label, conf in failing:
        for attempt in (ros.get_object, ros.head_object):
            with pytest.raises(ros.ObjectStoreError) as caught:
                attempt("k", conf)
            texts += [label, *_texts(caught.value)]
        texts.append(repr(conf))
    texts += _worker_dumps()

    # A worker that dies with a secret-bearing store registered: its crash report quotes its stderr.
    conn = next(c for c in lifetime.current_pool()._slots if c is not None)
    os.kill(conn.pid, signal.SIGABRT)
    with pytest.raises(ros.ObjectStoreError) as caught, ros.deadline(30):
        ros.head_object("k", failing[0][1])
    texts += _texts(caught.value)
    texts += _worker_dumps()
    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text]

    assert len(texts) > 30
    for text in texts:
        assert CANARY not in text
        assert CANARY_KEY not in text


def test_a_worker_maps_only_the_arena_it_was_given(tmp_path: Path) -> None:
    """Frames name keys and regions, never a file to map: after reads and writes of every kind on a
    local store, each worker's only shared mapping is its arena, and nothing of the store is mapped."""
    root = tmp_path / "store"
    root.mkdir()
    conf = ros.Config(root.as_uri())
    payload = os.urandom(20 * 1024 * 1024)  # big enough for multipart and ranged reads
    ros.put_object("big", payload, conf)
    assert ros.get_object("big", conf) == payload
    ros.get_object_to_file("big", tmp_path / "copy", conf)
    with ros.get_object_view("big", conf) as view:
        assert view[:16] == payload[:16]
    checked = 0
    for conn in lifetime.current_pool().connections:
        for line in Path(f"/proc/{conn.pid}/maps").read_text().splitlines():
            fields = line.split(maxsplit=5)
            name = fields[5] if len(fields) == 6 else ""
            assert str(tmp_path) not in name, line
            if fields[1][3] == "s":  # a shared mapping
                assert name.startswith("/memfd:rustyobjectstore-arena"), line
                checked += 1
    assert checked == len(lifetime.current_pool().connections)
