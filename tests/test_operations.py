"""Every operation on every store, against the real servers."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

import rustyobjectstore as ros

MiB = 1024 * 1024
AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig


def test_put_then_get_returns_the_same_bytes(conf: AnyConf) -> None:
    data = os.urandom(1000)
    assert ros.put_object("dir/obj.bin", data, conf) == 1000
    assert ros.get_object("dir/obj.bin", conf) == data


def test_put_replaces_an_existing_object(conf: AnyConf) -> None:
    ros.put_object("k", b"first version", conf)
    ros.put_object("k", b"second", conf)
    assert ros.get_object("k", conf) == b"second"


def test_put_accepts_any_bytes_like(conf: AnyConf) -> None:
    import array

    ros.put_object("a", bytearray(b"abc"), conf)
    ros.put_object("b", memoryview(b"xxdefxx")[2:5], conf)
    ros.put_object("c", array.array("i", [1, 2]), conf)
    assert ros.get_object("a", conf) == b"abc"
    assert ros.get_object("b", conf) == b"def"
    assert ros.get_object("c", conf) == array.array("i", [1, 2]).tobytes()


@pytest.mark.parametrize(("size", "buffer_size"), [(0, 0), (0, 1024), (100, 100), (MiB, 20 * MiB)])
def test_get_into_fills_the_buffer_prefix(conf: AnyConf, size: int, buffer_size: int) -> None:
    data = os.urandom(size)
    ros.put_object("x", data, conf)
    buffer = bytearray(b"\xee" * buffer_size)
    assert ros.get_object_into("x", buffer, conf) == size
    assert buffer[:size] == data
    assert buffer[size:] == b"\xee" * (buffer_size - size)


def test_get_into_a_too_small_buffer_says_how_large_the_object_is(conf: AnyConf) -> None:
    ros.put_object("x", b"0123456789", conf)
    buffer = bytearray(b"." * 9)
    with pytest.raises(ros.BufferTooSmallError) as caught:
        ros.get_object_into("x", buffer, conf)
    assert isinstance(caught.value, ValueError)
    assert caught.value.object_size == 10
    assert "10 bytes" in str(caught.value)
    assert buffer == b"." * 9


def test_get_into_rejects_a_read_only_buffer(conf: AnyConf) -> None:
    with pytest.raises(TypeError, match="read-only"):
        ros.get_object_into("x", b"immutable", conf)


def test_get_range(conf: AnyConf) -> None:
    ros.put_object("r", b"0123456789", conf)
    assert ros.get_object_range("r", 2, 5, conf) == b"234"
    assert ros.get_object_range("r", 0, 10, conf) == b"0123456789"
    assert ros.get_object_range("r", 7, 7, conf) == b""
    with pytest.raises(ValueError):
        ros.get_object_range("r", 5, 2, conf)
    with pytest.raises(ros.NotFoundError):
        ros.get_object_range("missing", 0, 0, conf)


def test_head_describes_the_object(conf: AnyConf) -> None:
    before = datetime.now(timezone.utc) - timedelta(minutes=5)
    ros.put_object("h/meta", b"12345", conf)
    meta = ros.head_object("h/meta", conf)
    assert meta.path == "h/meta"
    assert meta.size == 5
    assert before < meta.last_modified < datetime.now(timezone.utc) + timedelta(minutes=5)
    assert meta.e_tag


def test_every_call_gives_one_e_tag_form(conf: AnyConf) -> None:
    """A HEAD, a reader, a listing and a one-level listing name the same e_tag in the same form
    (Azure's listings carry it unquoted, its headers quoted: the worker quotes the listings')."""
    ros.put_object("etag/one", b"12345", conf)
    head = ros.head_object("etag/one", conf).e_tag
    assert head
    with ros.open_reader("etag/one", conf) as reader:
        assert reader.meta.e_tag == head
    assert [m.e_tag for m in ros.list_objects("etag/", conf)] == [head]
    assert [m.e_tag for m in ros.list_with_delimiter("etag/", conf).objects] == [head]
    assert [m.e_tag for m in ros.list_objects("etag/", conf, offset="etag/")] == [head]


def test_delete_removes_the_object(conf: AnyConf) -> None:
    ros.put_object("gone", b"x", conf)
    ros.delete_object("gone", conf)
    with pytest.raises(ros.NotFoundError):
        ros.head_object("gone", conf)


def test_missing_key_is_a_file_not_found_error(conf: AnyConf, store_kind: str) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        ros.get_object("no/such/key", conf)
    error = caught.value
    assert isinstance(error, ros.NotFoundError)
    assert error.op == "get"
    assert error.path == "no/such/key"
    assert ros.status_code(error) == 404
    with pytest.raises(ros.NotFoundError):
        ros.get_object_into("no/such/key", bytearray(10), conf)
    with pytest.raises(ros.NotFoundError):
        ros.head_object("no/such/key", conf)


def test_list_uses_a_plain_string_prefix(conf: AnyConf) -> None:
    for key in ["other/prefix/a", "other/prefix/b", "other/p/c", "other/pz", "top"]:
        ros.put_object(key, key.encode(), conf)

    def keys(prefix: str) -> list[str]:
        return sorted(m.path for m in ros.list_objects(prefix, conf))

    assert keys("other/p/") == ["other/p/c"]
    assert keys("other/p") == ["other/p/c", "other/prefix/a", "other/prefix/b", "other/pz"]
    assert keys("other/prefix/a") == ["other/prefix/a"]
    assert keys("nothing") == []
    assert keys("") == ["other/p/c", "other/prefix/a", "other/prefix/b", "other/pz", "top"]
    sizes = {m.path: m.size for m in ros.list_objects("other/prefix/", conf)}
    assert sizes == {"other/prefix/a": 14, "other/prefix/b": 14}


def test_list_pages_through_many_keys(conf: AnyConf) -> None:
    keys = [f"many/{i:05d}" for i in range(1203)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: ros.put_object(k, b"", conf), keys))
    listed = [m.path for m in ros.list_objects("many/", conf)]
    assert sorted(listed) == keys


def test_list_can_stop_early(conf: AnyConf) -> None:
    for i in range(5):
        ros.put_object(f"s/{i}", b"", conf)
    iterator = ros.list_objects("s/", conf)
    first = next(iterator)
    iterator.close()
    assert first.path.startswith("s/")
    with pytest.raises(StopIteration):
        next(iterator)


@pytest.mark.parametrize("size", [20 * MiB, 10 * MiB + 1])
def test_large_objects_go_in_parts_and_come_back_whole(conf: AnyConf, size: int) -> None:
    data = os.urandom(size)
    assert ros.put_object("big/object", data, conf) == size
    assert ros.head_object("big/object", conf).size == size
    assert ros.get_object("big/object", conf) == data
    exact = bytearray(size)
    assert ros.get_object_into("big/object", exact, conf) == size
    assert exact == data
    roomy = bytearray(size + MiB)
    assert ros.get_object_into("big/object", roomy, conf) == size
    assert roomy[:size] == data
    start, end = 3 * MiB + 7, size - 5
    assert ros.get_object_range("big/object", start, end, conf) == data[start:end]


def test_async_twins(conf: AnyConf) -> None:
    async def main() -> None:
        payloads = {f"async/{i}": os.urandom(100 + i) for i in range(40)}
        sizes = await asyncio.gather(
            *(ros.put_object_async(k, v, conf) for k, v in payloads.items())
        )
        assert sizes == [len(v) for v in payloads.values()]
        got = await asyncio.gather(*(ros.get_object_async(k, conf) for k in payloads))
        assert got == list(payloads.values())
        buffer = bytearray(200)
        assert await ros.get_object_into_async("async/3", buffer, conf) == 103
        assert buffer[:103] == payloads["async/3"]
        assert await ros.get_object_range_async("async/3", 1, 4, conf) == payloads["async/3"][1:4]
        meta = await ros.head_object_async("async/3", conf)
        assert meta.size == 103
        listed = [m.path async for m in ros.list_objects_async("async/", conf)]
        assert sorted(listed) == sorted(payloads)
        await ros.delete_object_async("async/3", conf)
        with pytest.raises(ros.NotFoundError):
            await ros.get_object_async("async/3", conf)

    asyncio.run(main())


def test_an_event_loop_is_freed_once_its_run_ends() -> None:
    # Each asyncio.run() is a new loop; one that the library kept would pile up in a long program.
    conf = ros.Config("memory://")
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await ros.put_object_async("loops/k", b"x", conf)
        assert await ros.get_object_async("loops/k", conf) == b"x"

    for _ in range(3):
        asyncio.run(main())
    gc.collect()
    assert [ref() for ref in loops] == [None, None, None]


def test_many_threads_each_get_their_own_bytes(conf: AnyConf) -> None:
    def round_trip(i: int) -> bool:
        data = os.urandom(i * 37 % 5000)
        key = f"threads/{threading.get_ident()}/{i}"
        ros.put_object(key, data, conf)
        return ros.get_object(key, conf) == data

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(round_trip, range(200)))
