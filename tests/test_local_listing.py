"""Listing a ``file://`` store: the worker walks the directories itself (one stat per file) and must
list what object_store's local store lists, and refuse what it refuses. Also the listing's frames:
a page of long keys stays within the frame limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import rustyobjectstore as ros


def _local(tmp_path: Path) -> ros.Config:
    return ros.Config(tmp_path.as_uri())


def _keys(prefix: str, conf: ros.Config) -> list[str]:
    return [m.path for m in ros.list_objects(prefix, conf)]


def test_links_are_followed_and_broken_ones_skipped(tmp_path: Path) -> None:
    conf = _local(tmp_path)
    ros.put_object("real/a", b"12345", conf)
    ros.put_object("real/sub/b", b"1", conf)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "a")
    (tmp_path / "linked_dir").symlink_to(tmp_path / "real")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    assert _keys("", conf) == [
        "link", "linked_dir/a", "linked_dir/sub/b", "real/a", "real/sub/b",
    ]  # fmt: skip
    sizes = {m.path: m.size for m in ros.list_objects("", conf)}
    assert sizes["link"] == 5 and sizes["linked_dir/a"] == 5
    level = ros.list_with_delimiter("", conf)
    assert [m.path for m in level.objects] == ["link"]
    assert level.common_prefixes == ["linked_dir", "real"]


def test_a_link_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    conf = _local(tmp_path)
    ros.put_object("d/a", b"1", conf)
    (tmp_path / "d" / "up").symlink_to(tmp_path / "d")
    with pytest.raises(ros.ObjectStoreError, match="loops back"):
        _keys("", conf)


def test_staged_uploads_and_special_files_are_not_objects(tmp_path: Path) -> None:
    conf = _local(tmp_path)
    ros.put_object("a", b"1", conf)
    (tmp_path / "a#1").write_bytes(b"staged")
    (tmp_path / "b#x").write_bytes(b"kept")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "empty_dir").mkdir()
    assert _keys("", conf) == ["a", "b#x"]
    assert ros.list_with_delimiter("", conf).common_prefixes == ["empty_dir"]


def test_a_name_that_is_no_key_fails_the_listing(tmp_path: Path) -> None:
    conf = _local(tmp_path)
    ros.put_object("a", b"1", conf)
    (tmp_path / "bad\x01name").write_bytes(b"x")
    with pytest.raises(ros.InvalidPathError, match="cannot be a key"):
        _keys("", conf)


def test_listed_e_tags_pin_reads_as_head_e_tags_do(tmp_path: Path) -> None:
    conf = _local(tmp_path)
    ros.put_object("k", b"abc", conf)
    (listed,) = ros.list_objects("", conf)
    head = ros.head_object("k", conf)
    assert listed == head._replace(attributes=None)  # a listing carries no attributes
    assert head.attributes == {}


def test_a_prefix_inside_a_name_walks_only_what_matches(tmp_path: Path) -> None:
    conf = _local(tmp_path)
    for key in ["ab/1", "ab/2/3", "abc", "ax/1", "b/1", "a"]:
        ros.put_object(key, b"1", conf)
    (tmp_path / "ax" / "up").symlink_to(tmp_path / "ax")  # a walk into it fails
    assert _keys("ab", conf) == ["ab/1", "ab/2/3", "abc"]
    assert _keys("ab/", conf) == ["ab/1", "ab/2/3"]
    assert [m.path for m in ros.list_objects("ab", conf, offset="ab/1")] == ["ab/2/3", "abc"]
    with pytest.raises(ros.ObjectStoreError, match="loops back"):
        _keys("ax", conf)


def test_a_big_directory_lists_whole_in_key_order(tmp_path: Path) -> None:
    # Big enough that its entries are stat'ed on several threads.
    conf = _local(tmp_path)
    names = [f"k{i:05d}" for i in range(3000)]
    for name in names:
        (tmp_path / name).write_bytes(name.encode())
    listed = list(ros.list_objects("", conf))
    assert [m.path for m in listed] == names
    assert all(m.size == 6 for m in listed)


def test_a_page_of_long_keys_stays_within_the_frame_limit() -> None:
    conf = ros.Config("memory://")
    stem = "long/" + "x" * 1000
    keys = [f"{stem}{i:05d}" for i in range(5000)]  # 5 MB of keys: more than one frame holds
    for key in keys:
        ros.put_object(key, b"", conf)
    level = ros.list_with_delimiter("long/", conf)
    assert [m.path for m in level.objects] == keys
    assert _keys("long/", conf) == keys
