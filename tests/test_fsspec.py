"""``rustyobjectstore.fsspec`` beyond fsspec's abstract suite: listings, ranges, files, errors,
storage options, registration, pickling and fork, on the four backends."""

from __future__ import annotations

import multiprocessing
import pickle
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import fsspec
import pytest
from emulators import AZURITE_ACCOUNT, AZURITE_KEY, RunningServer

import rustyobjectstore as ros
from rustyobjectstore import fsspec as rosfs


@pytest.fixture(params=["memory", "file", "s3", "azure"])
def fs_root(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[rosfs.ObjectStoreFileSystem, str]:
    """A filesystem by protocol and an empty root in it."""
    kind = request.param
    if kind == "memory":
        return rosfs.MemoryFileSystem(), f"/{uuid.uuid4().hex}"
    if kind == "file":
        return rosfs.LocalFileSystem(), str(tmp_path / "root")
    if kind == "s3":
        moto: RunningServer = request.getfixturevalue("moto_server")
        fs = rosfs.S3FileSystem(key="testing", secret="testing", endpoint_url=moto.endpoint)
        return fs, request.getfixturevalue("s3_bucket")
    azurite: RunningServer = request.getfixturevalue("azurite_server")
    fs = rosfs.AzureBlobFileSystem(
        account_name=AZURITE_ACCOUNT, account_key=AZURITE_KEY, host=azurite.endpoint
    )
    return fs, request.getfixturevalue("azure_container")


def _tree(fs: rosfs.ObjectStoreFileSystem, root: str) -> None:
    fs.pipe({f"{root}/a.txt": b"0123456789", f"{root}/d/b.txt": b"bb", f"{root}/d/e/c.txt": b"c"})


def test_ls_info_and_find(fs_root: tuple[rosfs.ObjectStoreFileSystem, str]) -> None:
    fs, root = fs_root
    _tree(fs, root)
    assert fs.ls(root, detail=False) == [f"{root}/a.txt", f"{root}/d"]
    entries = {e["name"]: e for e in fs.ls(root)}
    assert entries[f"{root}/d"] == {"name": f"{root}/d", "size": 0, "type": "directory"}
    a = entries[f"{root}/a.txt"]
    assert (a["size"], a["type"]) == (10, "file")
    assert isinstance(a["mtime"], datetime) and a["mtime"].tzinfo is timezone.utc
    assert fs.info(f"{root}/a.txt")["e_tag"] == a["e_tag"]
    assert fs.info(f"{root}/d")["type"] == "directory"
    assert fs.ls(f"{root}/a.txt", detail=False) == [f"{root}/a.txt"]
    assert fs.find(root) == [f"{root}/a.txt", f"{root}/d/b.txt", f"{root}/d/e/c.txt"]
    assert fs.find(root, withdirs=True) == [
        root, f"{root}/a.txt", f"{root}/d", f"{root}/d/b.txt", f"{root}/d/e", f"{root}/d/e/c.txt",
    ]  # fmt: skip
    assert fs.find(root, maxdepth=1) == [f"{root}/a.txt"]
    assert fs.find(f"{root}/a.txt") == [f"{root}/a.txt"]
    assert fs.glob(f"{root}/**/*.txt") == fs.find(root)
    assert fs.du(root) == 13
    assert [(p, sorted(d), sorted(f)) for p, d, f in fs.walk(root)] == [
        (root, ["d"], ["a.txt"]), (f"{root}/d", ["e"], ["b.txt"]), (f"{root}/d/e", [], ["c.txt"]),
    ]  # fmt: skip
    assert fs.isdir(f"{root}/d") and not fs.isfile(f"{root}/d")
    assert fs.isfile(f"{root}/a.txt") and not fs.isdir(f"{root}/a.txt")
    assert not fs.exists(f"{root}/nothing") and not fs.exists(f"{root}/a.tx")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{root}/nothing")
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{root}/nothing")


def test_reads_and_ranges(fs_root: tuple[rosfs.ObjectStoreFileSystem, str]) -> None:
    fs, root = fs_root
    _tree(fs, root)
    a = f"{root}/a.txt"
    assert fs.cat_file(a) == b"0123456789"
    assert fs.cat_file(a, 2, 5) == b"234"
    assert fs.cat_file(a, -3) == b"789"
    assert fs.cat_file(a, 1, -1) == b"12345678"
    assert fs.cat_file(a, -4, -2) == b"67"
    assert fs.cat_file(a, 8, 100) == b"89"
    assert fs.cat_file(a, 20, 30) == b""
    got = fs.cat_ranges([a, a, f"{root}/d/b.txt", a], [0, 5, 0, None], [2, None, 1, -8])
    assert got == [b"01", b"56789", b"b", b"01"]
    missing = fs.cat_ranges([a, f"{root}/none"], [0, 0], [1, 1])
    assert missing[0] == b"0" and isinstance(missing[1], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges([f"{root}/none"], [0], [1], on_error="raise")
    assert fs.cat([a, f"{root}/d/b.txt"]) == {a: b"0123456789", f"{root}/d/b.txt": b"bb"}
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{root}/none")


def test_open_modes(fs_root: tuple[rosfs.ObjectStoreFileSystem, str]) -> None:
    fs, root = fs_root
    path = f"{root}/f.bin"
    with fs.open(path, "wb") as f:
        f.write(b"x" * 1000)
        assert f.tell() == 1000
    with fs.open(path, "rb", block_size=64, cache_type="blockcache",
                 cache_options={"maxblocks": 2}) as r:  # fmt: skip
        assert r.size == 1000
        assert (r._blocks.block_size, r._blocks.cache_blocks) == (64, 2)
        r.seek(-10, 2)
        assert r.read() == b"x" * 10
    with fs.open(path, "rb") as r:  # smaller blocks, more of them ahead, opened by a head
        assert (r._blocks.block_size, r._blocks.read_ahead) == (rosfs.BLOCK_SIZE, rosfs.READ_AHEAD)
        assert not r._blocks.held and r.read(4) == b"xxxx"
    with fs.open(path, "rb", cache_type="none") as r:
        assert r.read(3) == b"xxx" and r._blocks.read_ahead == 0
    with fs.open(f"{root}/t.txt", "w") as t:
        t.write("héllo\n")
    assert fs.open(f"{root}/t.txt", "r").read() == "héllo\n"
    with pytest.raises(FileExistsError):
        fs.open(path, "xb")
    with fs.open(f"{root}/new.bin", "xb") as f:
        f.write(b"new")
    assert fs.cat_file(f"{root}/new.bin") == b"new"
    # A with block that fails stores nothing, in binary and in text mode.
    for mode in ("wb", "w"):
        with pytest.raises(RuntimeError), fs.open(f"{root}/dropped", mode) as f:
            f.write(b"partial" if mode == "wb" else "partial")
            raise RuntimeError("the job failed")
        assert not fs.exists(f"{root}/dropped")
    with pytest.raises(ros.NotSupportedError, match="'ab'"):
        fs.open(path, "ab")
    with pytest.raises(ValueError, match="cache_type 'nonsense'"):
        fs.open(path, "rb", cache_type="nonsense")
    with pytest.raises(TypeError, match="colour"):
        fs.open(path, "rb", colour="red")
    with pytest.raises(FileNotFoundError):
        fs.open(f"{root}/none", "rb")


def test_writes_copies_and_deletes(
    fs_root: tuple[rosfs.ObjectStoreFileSystem, str], tmp_path: Path
) -> None:
    fs, root = fs_root
    _tree(fs, root)
    fs.pipe_file(f"{root}/p", b"one")
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{root}/p", b"two", mode="create")
    assert fs.cat_file(f"{root}/p") == b"one"
    fs.cp_file(f"{root}/p", f"{root}/q")
    fs.mv(f"{root}/q", f"{root}/r")
    assert fs.cat_file(f"{root}/r") == b"one" and not fs.exists(f"{root}/q")
    fs.mv(f"{root}/d", f"{root}/moved", recursive=True)
    assert fs.find(f"{root}/moved") == [f"{root}/moved/b.txt", f"{root}/moved/e/c.txt"]
    assert not fs.exists(f"{root}/d")
    local = tmp_path / "local.bin"
    local.write_bytes(b"L" * 5000)
    fs.put_file(str(local), f"{root}/up.bin")
    fs.get_file(f"{root}/up.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == b"L" * 5000
    modified = fs.modified(f"{root}/up.bin")
    assert modified.tzinfo is timezone.utc
    assert fs.ukey(f"{root}/up.bin") == fs.info(f"{root}/up.bin")["e_tag"]
    before = fs.checksum(f"{root}/up.bin")
    fs.pipe_file(f"{root}/up.bin", b"changed")
    assert fs.checksum(f"{root}/up.bin") != before
    fs.rm(f"{root}/moved", recursive=True)
    assert not fs.exists(f"{root}/moved")
    fs.rm([f"{root}/p", f"{root}/r"])
    assert fs.find(root) == [f"{root}/a.txt", f"{root}/up.bin"]
    fs.rm(root, recursive=True)
    assert fs.find(root) == []


def test_listings_are_never_stale_unless_cached_on_request() -> None:
    conf = ros.Config("memory://")
    root = f"{uuid.uuid4().hex}"
    ros.put_object(f"{root}/a", b"1", conf)
    fresh = rosfs.ObjectStoreFileSystem(conf)
    cached = rosfs.ObjectStoreFileSystem(conf, use_listings_cache=True)
    assert fresh.ls(root, detail=False) == cached.ls(root, detail=False) == [f"{root}/a"]
    ros.put_object(f"{root}/b", b"2", conf)  # behind both filesystems' backs
    assert fresh.ls(root, detail=False) == [f"{root}/a", f"{root}/b"]
    assert cached.ls(root, detail=False) == [f"{root}/a"]
    cached.pipe_file(f"{root}/c", b"3")  # its own writes drop what it cached
    assert cached.ls(root, detail=False) == [f"{root}/a", f"{root}/b", f"{root}/c"]


def test_config_bound_filesystem(tmp_path: Path) -> None:
    conf = ros.Config(tmp_path.as_uri())
    fs = rosfs.ObjectStoreFileSystem(conf)
    fs.pipe_file("x/y.txt", b"data")
    assert (tmp_path / "x" / "y.txt").read_bytes() == b"data"
    assert fs.ls("", detail=False) == ["x"]
    assert fs.cat_file("ros://x/y.txt") == b"data"
    with pytest.raises(TypeError, match="needs a store configuration"):
        rosfs.ObjectStoreFileSystem()
    with pytest.raises(TypeError, match="endpoint_url"):
        rosfs.ObjectStoreFileSystem(conf, endpoint_url="http://x")


def test_storage_options_are_checked() -> None:
    with pytest.raises(ros.ConfigurationError, match="'colour'"):
        rosfs.S3FileSystem(colour="red")
    with pytest.raises(ros.ConfigurationError, match="'use_ssl'"):
        rosfs.S3FileSystem(client_kwargs={"use_ssl": False})
    with pytest.raises(ros.ConfigurationError, match="given twice"):
        rosfs.S3FileSystem(key="a", access_key_id="b")
    with pytest.raises(ros.ConfigurationError, match="given twice"):
        rosfs.S3FileSystem(endpoint_url="http://a", client_kwargs={"endpoint_url": "http://b"})
    with pytest.raises(ros.ConfigurationError, match=r"anonymous=True\) takes no credentials"):
        rosfs.S3FileSystem(anon=True, key="a", secret="b")
    with pytest.raises(ros.ConfigurationError, match="account_name"):
        rosfs.AzureBlobFileSystem()
    with pytest.raises(ros.ConfigurationError, match="cannot go with"):
        rosfs.AzureBlobFileSystem(connection_string="UseDevelopmentStorage=true", account_name="x")
    with pytest.raises(ros.ConfigurationError, match="'token'"):
        rosfs.GCSFileSystem(token="google_default")
    with pytest.raises(ros.ConfigurationError, match="'auto_mkdir'"):
        rosfs.MemoryFileSystem(auto_mkdir=True)
    secret = "s3cr3t-" + uuid.uuid4().hex
    fs = rosfs.S3FileSystem(key="k", secret=secret, endpoint_url="http://127.0.0.1:1")
    assert secret not in repr(fs) and secret not in fs._fs_token
    assert secret not in repr(fs._split("bucket/key")[0])
    # Two filesystems that differ only in their secret are different filesystems.
    other = rosfs.S3FileSystem(key="k", secret="other", endpoint_url="http://127.0.0.1:1")
    assert fs != other and fs == rosfs.S3FileSystem(
        key="k", secret=secret, endpoint_url="http://127.0.0.1:1"
    )


def test_connection_strings_reach_azurite(
    azurite_server: RunningServer, azure_container: str
) -> None:
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={azurite_server.endpoint};"
    )
    fs = rosfs.AzureBlobFileSystem(connection_string=connection)
    fs.pipe_file(f"{azure_container}/k", b"v")
    assert fs.cat_file(f"abfs://{azure_container}/k") == b"v"
    with pytest.raises(ros.ConfigurationError, match="no '='") as caught:
        rosfs.AzureBlobFileSystem(connection_string=f"AccountKey={AZURITE_KEY};junk")
    assert AZURITE_KEY not in str(caught.value)


def test_sign_gives_a_url_anyone_can_get(moto_server: RunningServer, s3_bucket: str) -> None:
    import urllib.request

    fs = rosfs.S3FileSystem(key="testing", secret="testing", endpoint_url=moto_server.endpoint)
    fs.pipe_file(f"{s3_bucket}/s", b"signed")
    with urllib.request.urlopen(fs.sign(f"s3://{s3_bucket}/s", expiration=60)) as answer:
        assert answer.read() == b"signed"


def test_register_takes_over_the_protocols(
    registered: None, moto_server: RunningServer, s3_bucket: str
) -> None:
    options = {"key": "testing", "secret": "testing",
               "client_kwargs": {"endpoint_url": moto_server.endpoint, "region_name": "us-east-1"}}  # fmt: skip
    with fsspec.open(f"s3://{s3_bucket}/via-fsspec.txt", "w", **options) as f:
        f.write("through us")
    fs, path = fsspec.core.url_to_fs(f"s3://{s3_bucket}/via-fsspec.txt", **options)
    assert isinstance(fs, rosfs.S3FileSystem) and path == f"{s3_bucket}/via-fsspec.txt"
    assert fs.cat_file(path) == b"through us"
    assert isinstance(fsspec.filesystem("memory"), rosfs.MemoryFileSystem)
    assert isinstance(fsspec.filesystem("abfs", account_name="a"), rosfs.AzureBlobFileSystem)
    with pytest.raises(ValueError, match="'ftp'"):
        rosfs.register(["ftp"])


def test_entry_points_name_our_own_protocols() -> None:
    assert isinstance(fsspec.filesystem("ros+memory"), rosfs.MemoryFileSystem)
    assert isinstance(fsspec.filesystem("ros", config=ros.Config("memory://")),
                      rosfs.ObjectStoreFileSystem)  # fmt: skip


def _child_reads(fs: rosfs.ObjectStoreFileSystem, path: str, queue: Any) -> None:
    try:
        fs.pipe_file(path + ".child", fs.cat_file(path) + b" and back")
        queue.put("ok")
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(repr(exc))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_works_in_forked_and_spawned_processes(
    method: str, moto_server: RunningServer, s3_bucket: str
) -> None:
    fs = rosfs.S3FileSystem(key="testing", secret="testing", endpoint_url=moto_server.endpoint)
    path = f"{s3_bucket}/shared"
    fs.pipe_file(path, b"from the parent")
    assert pickle.loads(pickle.dumps(fs)) == fs
    context: Any = multiprocessing.get_context(method)
    queue = context.Queue()
    child = context.Process(target=_child_reads, args=(fs, path, queue))
    child.start()
    try:
        assert queue.get(timeout=60) == "ok"
    finally:
        child.join(30)
    assert child.exitcode == 0
    assert fs.cat_file(path + ".child") == b"from the parent and back"
