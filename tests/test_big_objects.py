"""Big objects in bounded memory: files up and down, zero-copy views, progress, and streams."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import STORE_KINDS, own_pool, s3_config

import rustyobjectstore as ros
from rustyobjectstore._api import get_objects_to_files_async, put_objects_from_files_async
from rustyobjectstore._ops.files import SIZED_FROM
from rustyobjectstore._worker import lifetime

MiB = 1024 * 1024
AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        block = os.urandom(MiB)
        for start in range(0, size, MiB):
            chunk = block[: min(MiB, size - start)]
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


# Below, at and above the size from which a download's file is sized first (SIZED_FROM).
@pytest.mark.parametrize(
    "size", [0, 1000, SIZED_FROM - 1, SIZED_FROM, SIZED_FROM + 1, 10 * MiB + 1, 37 * MiB + 5]
)
def test_files_go_up_and_come_down_whole(conf: AnyConf, tmp_path: Path, size: int) -> None:
    source = tmp_path / "source.bin"
    digest = _random_file(source, size)
    seen: list[tuple[int, int | None]] = []
    assert (
        ros.put_object_from_file("f/obj", source, conf, progress=lambda d, t: seen.append((d, t)))
        == size
    )
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert ros.head_object("f/obj", conf).size == size
    target = tmp_path / "target.bin"
    target.write_bytes(b"old contents")
    seen.clear()
    assert (
        ros.get_object_to_file("f/obj", target, conf, progress=lambda d, t: seen.append((d, t)))
        == size
    )
    assert _sha256(target) == digest
    assert seen[-1] == (size, size)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_failed_download_leaves_the_old_file(conf: AnyConf, tmp_path: Path) -> None:
    target = tmp_path / "keep.bin"
    target.write_bytes(b"precious")
    with pytest.raises(ros.NotFoundError):
        ros.get_object_to_file("f/missing", target, conf)
    assert target.read_bytes() == b"precious"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


# Below, at and above the worker's writes of 1 MiB and the first request's length (the multipart
# get threshold, 8 MiB): a batch writes each whole, in one request.
BATCH_SIZES = [0, 1, 64 * 1024, MiB - 1, MiB, MiB + 1, 8 * MiB - 1, 8 * MiB, 8 * MiB + 1]


def test_many_downloads_go_in_one_request_and_each_failure_stays_its_own(
    conf: AnyConf, tmp_path: Path
) -> None:
    blobs = {f"many/{size}": os.urandom(size) for size in BATCH_SIZES}
    for key, data in blobs.items():
        ros.put_object(key, data, conf)
    kept = tmp_path / "kept"
    kept.write_bytes(b"old")
    kept.chmod(0o604)
    (tmp_path / "a-directory").mkdir()
    files = [(key, str(tmp_path / key.replace("/", "-"))) for key in blobs]
    files += [
        ("many/missing", str(tmp_path / "missing")),
        ("many/1", str(tmp_path / "no-such-dir" / "x")),
        ("many/1", str(tmp_path / "a-directory")),
        ("many/65536", str(kept)),
    ]
    before = ros.current_metrics().total.latency.get("download_many", ros.Latency()).count
    results = asyncio.run(get_objects_to_files_async(files, conf, fsync=False))
    after = ros.current_metrics().total.latency["download_many"].count
    assert after - before == 1  # one request for the thirteen files
    assert results[: len(blobs)] == [len(data) for data in blobs.values()]
    for (key, local), data in zip(files, blobs.values(), strict=False):
        assert Path(local).read_bytes() == data, key
    missing, no_dir, a_directory, replaced = results[len(blobs) :]
    assert isinstance(missing, ros.NotFoundError) and missing.path == "many/missing"
    assert type(no_dir) is FileNotFoundError and no_dir.filename == files[-3][1]
    assert isinstance(a_directory, IsADirectoryError) and (tmp_path / "a-directory").is_dir()
    assert replaced == 64 * 1024 and kept.read_bytes() == blobs["many/65536"]
    assert kept.stat().st_mode & 0o777 == 0o604
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]


LIMIT = 1024 * 1024
# Below, at and above the batch's limit per file.
UPLOAD_SIZES = [0, 1, 64 * 1024, LIMIT - 1, LIMIT]


def test_many_uploads_go_in_one_request_and_each_failure_stays_its_own(
    conf: AnyConf, tmp_path: Path
) -> None:
    """One request for the batch: each file read and stored whole by the worker, with its own
    attributes where the store keeps them; a file over the limit, a missing one and a directory
    fail alone, and with mode "create" an object already there fails alone too."""
    blobs = {f"up/{size}": os.urandom(size) for size in UPLOAD_SIZES}
    for key, data in blobs.items():
        (tmp_path / key.replace("/", "-")).write_bytes(data)
    keeps = not isinstance(conf, ros.Config)  # the clouds keep attributes; memory and files not
    typed = {"Content-Type": "text/csv"} if keeps else None
    files: list[tuple[str, str, dict[str, str] | None]] = [
        (key, str(tmp_path / key.replace("/", "-")), typed) for key in blobs
    ]
    (tmp_path / "too-big").write_bytes(os.urandom(LIMIT + 1))
    (tmp_path / "a-directory").mkdir()
    files += [
        ("up/too-big", str(tmp_path / "too-big"), None),
        ("up/missing", str(tmp_path / "missing"), None),
        ("up/a-directory", str(tmp_path / "a-directory"), None),
    ]
    before = ros.current_metrics().total.latency.get("upload_many", ros.Latency()).count
    results = asyncio.run(put_objects_from_files_async(files, conf, limit=LIMIT))
    after = ros.current_metrics().total.latency["upload_many"].count
    assert after - before == 1  # one request for the eight files
    assert results[: len(blobs)] == [len(data) for data in blobs.values()]
    for key, data in blobs.items():
        assert ros.get_object(key, conf) == data, key
        if keeps:
            attributes = dict(ros.head_object(key, conf).attributes or {})
            assert attributes.get("Content-Type") == "text/csv", (key, attributes)
    too_big, missing, a_directory = results[len(blobs) :]
    assert isinstance(too_big, OSError) and too_big.errno == errno.EFBIG, too_big
    assert type(missing) is FileNotFoundError and missing.filename == files[-2][1]
    assert isinstance(a_directory, IsADirectoryError), a_directory
    listed = {m.path for m in ros.list_objects("up/", conf)}
    assert listed == set(blobs)  # nothing of the failed ones
    (tmp_path / "new").write_bytes(b"new")
    again = [("up/1", str(tmp_path / "new"), None), ("up/fresh", str(tmp_path / "new"), None)]
    taken, fresh = asyncio.run(put_objects_from_files_async(again, conf, mode="create",
                                                            limit=LIMIT))  # fmt: skip
    assert isinstance(taken, ros.AlreadyExistsError) and taken.path == "up/1", taken
    assert fresh == 3 and ros.get_object("up/1", conf) == blobs["up/1"]


def test_a_download_gets_the_permissions_any_new_file_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = ros.Config("memory:///modes")
    ros.put_object("m/obj", b"data", conf)
    old = os.umask(0o027)

    def no_umask(mask: int) -> int:
        raise AssertionError("setting the umask, even briefly, changes it for every thread")

    monkeypatch.setattr(os, "umask", no_umask)
    try:
        ros.get_object_to_file("m/obj", tmp_path / "new.bin", conf)
        kept = tmp_path / "kept.bin"
        kept.write_bytes(b"old")
        kept.chmod(0o604)
        ros.get_object_to_file("m/obj", kept, conf)
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o640
    assert kept.stat().st_mode & 0o777 == 0o604 and kept.read_bytes() == b"data"


def test_async_file_twins(conf: AnyConf, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    digest = _random_file(source, 12 * MiB)

    async def main() -> None:
        await ros.put_object_from_file_async("f/async", source, conf)
        await ros.get_object_to_file_async("f/async", tmp_path / "b.bin", conf)

    asyncio.run(main())
    assert _sha256(tmp_path / "b.bin") == digest


@pytest.mark.parametrize("size", [0, 5000, 21 * MiB])
def test_a_view_shows_the_object_without_a_copy(conf: AnyConf, size: int) -> None:
    data = os.urandom(size)
    ros.put_object("v/obj", data, conf)
    with ros.get_object_view("v/obj", conf) as view:
        assert view.readonly
        assert len(view) == size
        assert view == data
        with pytest.raises(TypeError):
            view[:1] = b"x"
    with pytest.raises(ValueError):
        bytes(view)  # released: an error, not a crash


def test_async_view_and_missing_key(conf: AnyConf) -> None:
    ros.put_object("v/a", b"async view", conf)

    async def main() -> None:
        async with ros.get_object_view_async("v/a", conf) as view:
            assert bytes(view) == b"async view"

    asyncio.run(main())
    with pytest.raises(ros.NotFoundError), ros.get_object_view("v/none", conf):
        pass


def test_views_give_their_memory_back(tmp_path: Path) -> None:
    conf = ros.Config(tmp_path.as_uri())
    ros.put_object("v/big", os.urandom(20 * MiB), conf)
    arenas = [c.arena for c in lifetime.current_pool().connections]
    free_before = [a.free_bytes for a in arenas]
    for _ in range(20):
        with ros.get_object_view("v/big", conf) as view:
            assert len(view) == 20 * MiB
    assert [a.free_bytes for a in arenas] == free_before


def test_stream_progress(conf: AnyConf) -> None:
    data = os.urandom(9 * MiB)
    written: list[tuple[int, int | None]] = []
    with ros.put_object_stream("p/obj", conf, progress=lambda d, t: written.append((d, t))) as w:
        w.write(data)
    assert written[-1] == (len(data), None)
    read: list[tuple[int, int | None]] = []
    with ros.get_object_stream("p/obj", conf, progress=lambda d, t: read.append((d, t))) as r:
        assert r.read() == data
    assert read[-1] == (len(data), len(data))


def _pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


@pytest.fixture
def peak_pss() -> Iterator[list[int]]:
    """Fresh workers, and a sampler every 20 ms of their PSS plus this process's growth over its
    start (the test process holds the whole test session besides); yields [peak KiB]."""
    settings = lifetime.current_pool().settings
    ros.shutdown_object_store()
    ros.init_object_store(settings)
    workers = [c.pid for c in lifetime.current_pool().connections]
    baseline = _pss_kib([os.getpid()])
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            own = _pss_kib([os.getpid()]) - baseline
            peak[0] = max(peak[0], _pss_kib(workers) + max(own, 0))
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    yield peak
    stop.set()
    thread.join()


def test_a_big_object_moves_in_bounded_memory(tmp_path: Path, peak_pss: list[int]) -> None:
    """1 GiB up and down through the file functions; the README reports the 10 GiB run."""
    store = tmp_path / "store"
    store.mkdir()
    conf = ros.Config(store.as_uri())
    source = tmp_path / "big.bin"
    size = 1024 * MiB
    digest = _random_file(source, size)
    ros.put_object_from_file("big", source, conf)
    source.unlink()
    ros.get_object_to_file("big", tmp_path / "back.bin", conf)
    assert _sha256(tmp_path / "back.bin") == digest
    assert peak_pss[0] < 256 * 1024, f"peak PSS {peak_pss[0] // 1024} MiB"


def test_get_object_beyond_half_the_arena_goes_part_by_part(tmp_path: Path) -> None:
    settings = lifetime.current_pool().settings
    ros.shutdown_object_store()
    try:
        ros.init_object_store(ros.StaticConfig(n_workers=1, arena_size=24 * MiB))
        conf = ros.Config(tmp_path.as_uri())
        data = os.urandom(20 * MiB)
        ros.put_object("big", data, conf)
        assert ros.get_object("big", conf) == data
        with pytest.raises(ros.NotSupportedError, match="too large for a view"):
            with ros.get_object_view("big", conf):
                pass
        (connection,) = lifetime.current_pool().connections
        assert connection.arena.free_bytes == 24 * MiB
    finally:
        ros.shutdown_object_store()
        ros.init_object_store(settings)


@pytest.mark.parametrize("kind", [k for k in ("memory", "file", "s3") if k in STORE_KINDS])
def test_a_local_store_takes_whatever_fits_half_the_arena_in_one_put(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On memory:// and file:// a part costs the same trip through the worker as the whole object,
    so up to half the arena is one put; past it, and on a cloud past the put threshold, parts."""
    if kind == "s3":
        conf: AnyConf = s3_config(
            request.getfixturevalue("moto_server"), request.getfixturevalue("s3_bucket")
        )
    else:
        conf = ros.Config("memory:///half-arena" if kind == "memory" else f"file://{tmp_path}")
    arena, threshold = 64 * MiB, 5 * MiB  # the least part size clouds take
    with own_pool(arena_size=arena, multipart_put_threshold=threshold,
                  multipart_put_part_size=threshold, n_workers=1):  # fmt: skip
        for size in (threshold, threshold + 1, arena // 2, arena // 2 + 1):
            data = os.urandom(size)
            before = dict(ros.current_metrics().total.requests)
            assert ros.put_object(f"half/{size}", data, conf) == size
            after = ros.current_metrics().total.requests
            started = after.get("multipart_start", 0) - before.get("multipart_start", 0)
            one_put = size <= threshold or (kind != "s3" and size <= arena // 2)
            assert started == (0 if one_put else 1), size
            assert ros.get_object(f"half/{size}", conf) == data


def test_a_memory_put_larger_than_the_machine_is_storage_full_and_stores_nothing(
    tmp_path: Path,
) -> None:
    """A put to memory:// in parts is gathered in one buffer of the object's size, asked for at
    its start: one larger than the machine's memory is refused then, before any part is read."""
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as f:
        f.truncate(1 << 40)  # 1 TiB that takes no disk
    conf = ros.Config("memory:///too-big")
    with pytest.raises(ros.StorageFullError, match="larger than this machine's memory"):
        ros.put_object_from_file("huge.bin", sparse, conf)
    with pytest.raises(ros.NotFoundError):
        ros.head_object("huge.bin", conf)
    ros.put_object("after.bin", b"still here", conf)
    assert ros.get_object("after.bin", conf) == b"still here"
