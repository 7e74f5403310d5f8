"""``list_with_delimiter``: one level of a "directory" on every store and on MinIO, with
``list_objects``' plain string prefix rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import minio_config
from emulators import RunningServer

import rustyobjectstore as ros
from rustyobjectstore._ops import list as _listing

AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig

KEYS = ["a", "d", "data/x", "data/y/1", "data/y/2", "data/z/q/r", "data/zz", "datb/1", "e/\u00fc/1"]

# prefix -> (objects, common prefixes), as S3's ListObjectsV2 with delimiter "/" answers.
EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    "": (["a", "d"], ["data", "datb", "e"]),
    "data/": (["data/x", "data/zz"], ["data/y", "data/z"]),
    "data": ([], ["data"]),
    "data/z": (["data/zz"], ["data/z"]),
    "d": (["d"], ["data", "datb"]),
    "data/y/": (["data/y/1", "data/y/2"], []),
    "e/": ([], ["e/\u00fc"]),
    "nothing/": ([], []),
    "nothing": ([], []),
}


def _seed(conf: AnyConf) -> None:
    for key in KEYS:
        ros.put_object(key, key.encode(), conf)


def _shape(result: ros.ListResult) -> tuple[list[str], list[str]]:
    return [m.path for m in result.objects], result.common_prefixes


def test_one_level_of_each_prefix(conf: AnyConf) -> None:
    _seed(conf)
    for prefix, expected in EXPECTED.items():
        assert _shape(ros.list_with_delimiter(prefix, conf)) == expected, prefix
    result = ros.list_with_delimiter("data/", conf)
    assert [m.size for m in result.objects] == [len("data/x"), len("data/zz")]


def test_one_level_async(conf: AnyConf) -> None:
    _seed(conf)
    result = asyncio.run(ros.list_with_delimiter_async("data/", conf))
    assert _shape(result) == EXPECTED["data/"]


def test_a_level_larger_than_one_page_comes_whole(
    conf: AnyConf, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(conf)
    monkeypatch.setattr(_listing, "PAGE_ENTRIES", 1)  # a page per object or prefix
    for prefix in ("", "data/"):
        assert _shape(ros.list_with_delimiter(prefix, conf)) == EXPECTED[prefix]


def test_one_level_on_minio(minio_server: RunningServer, minio_bucket: str) -> None:
    conf = minio_config(minio_server, minio_bucket)
    _seed(conf)
    for prefix, expected in EXPECTED.items():
        assert _shape(ros.list_with_delimiter(prefix, conf)) == expected, prefix


def test_a_local_prefix_inside_a_name_walks_only_what_matches(tmp_path: Path) -> None:
    """``file:///t`` once walked all of ``/``: here a directory that loops back on itself, which a
    walk into it fails on, sits beside the matching ones."""
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "self").symlink_to("..")
    conf = ros.Config(tmp_path.as_uri())
    for key in ("sto/a", "stx/deep/b", "s"):
        ros.put_object(key, b"x", conf)
    assert [m.path for m in ros.list_objects("st", conf)] == ["sto/a", "stx/deep/b"]
    assert [m.path for m in ros.list_objects("st", conf, offset="sto/a")] == ["stx/deep/b"]
    assert [m.path for m in ros.list_objects("s", conf)] == ["s", "sto/a", "stx/deep/b"]
    assert [m.path for m in ros.list_objects("sto/a", conf)] == ["sto/a"]
    assert _shape(ros.list_with_delimiter("st", conf)) == ([], ["sto", "stx"])
    with pytest.raises(ros.ObjectStoreError, match="loop"):
        list(ros.list_objects("", conf))  # a walk into it does fail
