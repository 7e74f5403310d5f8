"""The rest of the seed's surface: list streams and offsets, bulk delete, compressed streams, copy,
rename and conditional puts, on every store."""

from __future__ import annotations

import ast
import asyncio
import gzip
import html
import inspect
import os
import re
import subprocess
import sys
import types
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from emulators import RunningServer

import rustyobjectstore as ros

MiB = 1024 * 1024
AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig


def _put_many(keys: list[str], conf: AnyConf) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: ros.put_object(k, k.encode(), conf), keys))


def test_listing_is_in_key_order_and_offset_is_exclusive(conf: AnyConf) -> None:
    keys = [f"off/{i:03d}" for i in range(101)]
    _put_many(keys, conf)
    assert [m.path for m in ros.list_objects("off/", conf)] == keys
    after = [m.path for m in ros.list_objects("off/", conf, offset=keys[49])]
    assert after == keys[50:]
    assert [m.path for m in ros.list_objects("off/", conf, offset=keys[-1])] == []


def test_list_stream_gives_exact_chunks(conf: AnyConf) -> None:
    keys = [f"chunks/{i:04d}" for i in range(1001)]
    _put_many(keys, conf)
    stream = ros.list_objects_stream("chunks/", conf)
    assert stream.max_entries_per_chunk() == 1000
    first, second = stream.next_chunk(), stream.next_chunk()
    assert first is not None and second is not None
    assert [len(first), len(second)] == [1000, 1]
    assert [m.path for m in first + second] == keys
    assert stream.next_chunk() is None
    assert stream.finish() is False  # already at the end
    assert [len(c) for c in ros.list_objects_stream("chunks/", conf)] == [1000, 1]


def test_list_stream_can_finish_early(conf: AnyConf) -> None:
    _put_many([f"early/{i}" for i in range(5)], conf)
    stream = ros.list_objects_stream("early/", conf)
    assert stream.finish() is True
    assert stream.finish() is False
    assert stream.next_chunk() is None
    assert ros.list_objects_stream("nothing/here/", conf).next_chunk() is None


def test_async_list_stream_and_offset(conf: AnyConf) -> None:
    keys = [f"als/{i:02d}" for i in range(30)]
    _put_many(keys, conf)

    async def main() -> None:
        stream = ros.list_objects_stream_async("als/", conf, offset="als/09")
        chunks = [chunk async for chunk in stream]
        assert [m.path for chunk in chunks for m in chunk] == keys[10:]
        listed = [m.path async for m in ros.list_objects_async("als/", conf, offset="als/27")]
        assert listed == keys[28:]

    asyncio.run(main())


def test_bulk_delete_deletes_many_and_reports_failures(conf: AnyConf) -> None:
    keys = [f"bulk/{i:04d}" for i in range(1200)]
    _put_many(keys, conf)
    failed = ros.bulk_delete_objects([*keys, "bulk/never-existed", "../escape"], conf)
    assert [f.path for f in failed] == ["../escape"], [(f.path, str(f.error)) for f in failed]
    assert isinstance(failed[0].error, ros.InvalidPathError)
    assert list(ros.list_objects("bulk/", conf)) == []
    assert ros.bulk_delete_objects([], conf) == []
    assert asyncio.run(ros.bulk_delete_objects_async(["bulk/gone"], conf)) == []


@pytest.mark.parametrize("codec", ["gzip", "deflate", "zlib", "zstd"])
@pytest.mark.parametrize("size", [0, 20_000_000])
def test_compressed_streams_round_trip(conf: AnyConf, codec: str, size: int) -> None:
    data = (os.urandom(1000) + bytes(3000)) * (size // 4000)
    with ros.put_object_stream("comp/obj", conf, compress=codec) as writer:
        for start in range(0, len(data), 3 * MiB + 17):
            writer.write(data[start : start + 3 * MiB + 17])
    stored = ros.get_object("comp/obj", conf)
    if size:
        assert len(stored) < len(data)  # it really is compressed
    if codec == "gzip":
        assert gzip.decompress(stored) == data
    elif codec == "zlib":
        assert zlib.decompress(stored) == data
    elif codec == "deflate":
        assert zlib.decompress(stored, -15) == data
    else:
        assert stored[:4] == b"\x28\xb5\x2f\xfd"  # the zstd frame magic
    with ros.get_object_stream("comp/obj", conf, decompress=codec) as reader:
        assert reader.read() == data


def test_an_unknown_codec_is_a_configuration_error(conf: AnyConf) -> None:
    with pytest.raises(ros.ConfigurationError, match="brotli"):
        ros.put_object_stream("x", conf, compress="brotli")
    with pytest.raises(ros.ConfigurationError, match="lz4"):
        ros.get_object_stream("x", conf, decompress="lz4")


def test_corrupt_compressed_data_is_a_data_error(conf: AnyConf) -> None:
    ros.put_object("not-gzip", b"this is plain text, not gzip", conf)
    with ros.get_object_stream("not-gzip", conf, decompress="gzip") as reader:
        with pytest.raises(ros.DataError):
            reader.read()


def test_read_stream_reads_in_pieces(conf: AnyConf) -> None:
    data = b"line one\nline two\n" + os.urandom(3 * MiB)
    ros.put_object("s/plain", data, conf)
    with ros.get_object_stream("s/plain", conf) as reader:
        assert reader.readline() == b"line one\n"
        assert reader.read(4) == b"line"
        assert reader.read() == data[13:]
        assert reader.read() == b""
    with pytest.raises(ros.NotFoundError):
        ros.get_object_stream("s/missing", conf)


def test_a_cancelled_write_stream_stores_nothing(conf: AnyConf) -> None:
    writer = ros.put_object_stream("s/cancelled", conf)
    writer.write(os.urandom(12 * MiB))
    writer.cancel()
    assert writer.closed
    with pytest.raises(ros.NotFoundError):
        ros.head_object("s/cancelled", conf)
    with pytest.raises(RuntimeError), ros.put_object_stream("s/failed", conf) as w:
        w.write(b"partial")
        raise RuntimeError("the job failed half way")
    with pytest.raises(ros.NotFoundError):
        ros.head_object("s/failed", conf)


def test_async_streams(conf: AnyConf) -> None:
    data = os.urandom(5 * MiB + 3)

    async def main() -> None:
        async with await ros.put_object_stream_async("as/obj", conf, compress="zstd") as w:
            await w.write(data[: 2 * MiB])
            await w.write(data[2 * MiB :])
        async with await ros.get_object_stream_async("as/obj", conf, decompress="zstd") as r:
            assert await r.read(10) == data[:10]
            assert await r.read() == data[10:]
        writer = await ros.put_object_stream_async("as/cancelled", conf)
        await writer.write(b"x")
        await writer.cancel()
        with pytest.raises(ros.NotFoundError):
            await ros.head_object_async("as/cancelled", conf)

    asyncio.run(main())


def test_copy_and_rename(conf: AnyConf) -> None:
    ros.put_object("c/src", b"payload", conf)
    ros.copy_object("c/src", "c/dst", conf)
    assert ros.get_object("c/dst", conf) == b"payload"
    ros.put_object("c/src", b"changed", conf)
    ros.copy_object("c/src", "c/dst", conf)  # overwrites by default
    assert ros.get_object("c/dst", conf) == b"changed"
    ros.rename_object("c/dst", "c/moved", conf)
    assert ros.get_object("c/moved", conf) == b"changed"
    with pytest.raises(ros.NotFoundError):
        ros.head_object("c/dst", conf)
    with pytest.raises(ros.NotFoundError):
        ros.copy_object("c/missing", "c/other", conf)
    asyncio.run(ros.copy_object_async("c/src", "c/async", conf))
    asyncio.run(ros.rename_object_async("c/async", "c/async2", conf))
    assert ros.get_object("c/async2", conf) == b"changed"


def test_copy_without_overwrite(conf: AnyConf, store_kind: str) -> None:
    ros.put_object("n/src", b"new", conf)
    ros.put_object("n/dst", b"old", conf)
    expected: type[Exception] = ros.AlreadyExistsError
    if store_kind == "s3":
        expected = ros.NotSupportedError  # S3 needs copy_if_not_exists configured
    with pytest.raises(expected):
        ros.copy_object("n/src", "n/dst", conf, overwrite=False)
    assert ros.get_object("n/dst", conf) == b"old"
    if store_kind != "s3":
        ros.copy_object("n/src", "n/fresh", conf, overwrite=False)
        assert ros.get_object("n/fresh", conf) == b"new"


def test_conditional_puts(conf: AnyConf, store_kind: str) -> None:
    ros.put_object("cond", b"v1", conf, mode="create")
    with pytest.raises(ros.AlreadyExistsError):
        ros.put_object("cond", b"v2", conf, mode="create")
    assert ros.get_object("cond", conf) == b"v1"
    meta = ros.head_object("cond", conf)
    if store_kind == "file":
        with pytest.raises(ros.NotSupportedError):
            ros.put_object("cond", b"v2", conf, mode=ros.UpdateVersion(e_tag=meta.e_tag))
        return
    ros.put_object("cond", b"v2", conf, mode=ros.UpdateVersion(e_tag=meta.e_tag))
    assert ros.get_object("cond", conf) == b"v2"
    with pytest.raises(ros.PreconditionFailedError):
        ros.put_object("cond", b"v3", conf, mode=ros.UpdateVersion(e_tag=meta.e_tag))
    assert ros.get_object("cond", conf) == b"v2"
    with pytest.raises(ValueError):
        ros.UpdateVersion()
    with pytest.raises(ValueError):
        ros.put_object("cond", b"", conf, mode="sometimes")  # type: ignore[arg-type]


def test_s3_copy_without_overwrite_with_copy_if_not_exists(
    moto_server: RunningServer, s3_bucket: str
) -> None:
    conf = ros.Config(
        f"s3://{s3_bucket}",
        {"region": "us-east-1", "endpoint": moto_server.endpoint, "allow_http": "true",
         "access_key_id": "testing", "secret_access_key": "testing",
         "copy_if_not_exists": "multipart"},
    )  # fmt: skip
    ros.put_object("src", b"new", conf)
    ros.put_object("dst", b"old", conf)
    with pytest.raises(ros.AlreadyExistsError):
        ros.copy_object("src", "dst", conf, overwrite=False)
    ros.copy_object("src", "fresh", conf, overwrite=False)
    assert ros.get_object("fresh", conf) == b"new"


def test_one_version_everywhere() -> None:
    """The package, its wheel's metadata and the worker crate carry the same version."""
    root = Path(__file__).resolve().parent.parent
    # Read as text: tomllib is not in Python 3.10. Each file's first version line is its own.
    project, crate = (
        re.search(r'(?m)^version = "([^"]+)"', (root / name).read_text())
        for name in ("pyproject.toml", "worker/Cargo.toml")
    )
    assert project is not None and crate is not None
    assert ros.__version__ == project[1] == crate[1]


# The documentation: every public name has a docstring with an example, and the API reference
# builds from them.

ROOT = Path(__file__).resolve().parent.parent
# A double-backtick code span (RST, which pdoc renders) holding a call is an example, and so is a
# doctest prompt.
_CODE_SPAN = re.compile(r"``(.+?)``", flags=re.S)


def _has_example(doc: str) -> bool:
    return ">>>" in doc or any("(" in span for span in _CODE_SPAN.findall(doc))


def _variable_docstrings() -> dict[str, str]:
    """The docstrings of the package root's assignments: the string right after ``name = ...``, as
    pdoc reads them (a value such as a type alias or a str has no ``__doc__`` of its own)."""
    tree = ast.parse((ROOT / "rustyobjectstore" / "__init__.py").read_text())
    found = {}
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign):
            target = node.target
        else:
            continue
        if (
            isinstance(target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[target.id] = after.value.value
    return found


def _own_docstring(name: str, obj: object, variables: dict[str, str]) -> str:
    """The docstring written for ``obj`` itself: not inherited, nor made up by ``dataclass`` or
    ``NamedTuple`` (``"Metrics(total: ..., workers: ...)"``)."""
    if isinstance(obj, (types.GenericAlias, types.UnionType)) or not (
        inspect.isclass(obj) or inspect.isroutine(obj)
    ):
        return variables.get(name, "")
    if inspect.isclass(obj):
        doc = vars(obj).get("__doc__") or ""
        if re.fullmatch(rf"{re.escape(obj.__name__)}\(.*\)", doc.strip(), flags=re.S):
            return ""  # generated from the fields
        return doc
    return obj.__doc__ or ""


def test_all_lists_every_public_name() -> None:
    assert len(ros.__all__) == len(set(ros.__all__)), "a name is listed twice in __all__"
    missing = [name for name in ros.__all__ if not hasattr(ros, name)]
    assert not missing, f"in __all__ but not importable: {missing}"
    unlisted = sorted(
        name
        for name, value in vars(ros).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name not in ros.__all__
    )
    assert not unlisted, f"public but not in __all__: {unlisted}"
    assert "StoreConfig" in ros.__all__
    assert ros.StoreConfig == (
        ros.AzureConfig | ros.AWSConfig | ros.GCSConfig | ros.SnowflakeConfig | ros.Config
    )


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    variables = _variable_docstrings()
    undocumented, without_example = [], []
    for name in ros.__all__:
        doc = _own_docstring(name, getattr(ros, name), variables)
        if not doc.strip():
            undocumented.append(name)
        elif not _has_example(doc):
            without_example.append(name)
    assert not undocumented and not without_example, (
        f"no docstring: {undocumented}; a docstring without an example (a ``call(...)`` code span "
        f"or a >>> line): {without_example}"
    )


def test_every_public_method_has_a_docstring() -> None:
    """Methods and properties of the public classes; a docstring inherited from the method they
    override (``io.RawIOBase.writable``) counts."""
    missing = []
    for name in ros.__all__:
        cls = getattr(ros, name)
        if not inspect.isclass(cls) or isinstance(cls, types.GenericAlias):
            continue
        for attr, value in vars(cls).items():
            if attr.startswith("_") or not (
                inspect.isfunction(value)
                or isinstance(value, (property, staticmethod, classmethod))
            ):
                continue
            if not (inspect.getdoc(getattr(cls, attr)) or "").strip():
                missing.append(f"{name}.{attr}")
    assert not missing, f"public methods without a docstring: {missing}"


def test_api_reference_builds(tmp_path: Path) -> None:
    """The one command the README gives for the API reference works, without warnings, and the
    page shows the docstrings (examples included)."""
    argv = [sys.executable, "-m", "pdoc", "rustyobjectstore", "-o", str(tmp_path)]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = [line for line in output.splitlines() if "warn" in line.lower()]
    assert not warnings, "\n".join(warnings)
    page = html.unescape((tmp_path / "rustyobjectstore.html").read_text())
    for shown in [
        "get_object",
        "invalidate_config",
        "AWSConfig",
        "GCSConfig",
        "StoreConfig",
        "delete_object_async",
        "The async twin of",  # the _async twins' docstrings
        "NotFoundError",
        "Any store configuration",  # StoreConfig's docstring, re-bound in the package root
    ]:
        assert shown in page, shown
    # Examples, as pdoc renders code spans.
    for example in [
        'delete_object("a.csv", conf)',
        'data = await get_object_async("a.csv", conf)',
        "except NotFoundError: data = None",
    ]:
        assert f"<code>{example}</code>" in page, example
