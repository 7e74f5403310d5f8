"""The arena where memfd does not exist (macOS, the BSDs): an unlinked temp file with its blocks
reserved, tested here by hiding ``os.memfd_create`` for one pool."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
from conftest import own_pool

import rustyobjectstore as ros
from rustyobjectstore._worker import lifetime

DATA = os.urandom(3 * 1024 * 1024)


def test_a_pool_without_memfd_runs_on_an_unlinked_temp_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "memfd_create")
    with own_pool(n_workers=1, arena_size=64 * 1024 * 1024):
        conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
        ros.put_object("k", DATA, conf)
        assert ros.get_object("k", conf) == DATA
        buffer = bytearray(len(DATA))
        assert ros.get_object_into("k", buffer, conf) == len(DATA) and buffer == DATA
        (connection,) = lifetime.current_pool().connections
        info = os.fstat(connection.arena.fd)
        assert stat.S_ISREG(info.st_mode) and info.st_nlink == 0  # a file, already unlinked
        assert info.st_blocks * 512 >= 64 * 1024 * 1024  # its blocks reserved up front
        link = os.readlink(f"/proc/self/fd/{connection.arena.fd}")
        assert "rustyobjectstore-arena-" in link and "memfd:" not in link
