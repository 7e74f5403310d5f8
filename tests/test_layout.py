"""The package's layout holds: layers import only downwards, no module imports one that imports
it back, the public names are badged ``rustyobjectstore``, what the previous release pickled still
unpickles, and the one scheme table agrees with the worker's.
"""

from __future__ import annotations

import ast
import inspect
import pickle
from datetime import datetime, timezone
from pathlib import Path

import pytest

import rustyobjectstore as ros
from rustyobjectstore._auth.schemes import CLOUD_OF_SCHEME, FSSPEC_PROTOCOLS, LOCAL_SCHEMES
from rustyobjectstore.fsspec import AzureBlobFileSystem, GCSFileSystem, S3FileSystem

PACKAGE = Path(ros.__file__).parent
VECTORS = Path(__file__).parent / "vectors" / "pickles"

# Each module's layer, lowest first: a module may import its own layer and those below it.
LAYERS = [
    ("rustyobjectstore._errors", "rustyobjectstore._redact", "rustyobjectstore._version"),
    ("rustyobjectstore._worker",),  # knows no cloud: codec, transport, arena, connection, pool
    ("rustyobjectstore._auth",),  # credentials and the scheme table
    ("rustyobjectstore._config",),
    ("rustyobjectstore._ops",),  # every operation, written once as steps
    ("rustyobjectstore._api",),
    ("rustyobjectstore._storage_options", "rustyobjectstore._cli", "rustyobjectstore.fsspec"),
    ("rustyobjectstore.__init__", "rustyobjectstore.__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 2 else ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports, anywhere in it (type-checking blocks
    and function bodies too): ``from a import b`` counts as ``a.b`` when that is a module."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                inner = f"{node.module}.{alias.name}"
                found.add(inner if inner in modules else node.module)
    return {m for m in found if m.startswith("rustyobjectstore")}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) - {module_name(p)} for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    if module == "rustyobjectstore":
        return len(LAYERS) - 1
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} has no layer: add it to LAYERS")


def test_layers_import_only_downwards() -> None:
    upward = [
        f"{module} imports {imported}"
        for module, imported_set in sorted(graph().items())
        for imported in sorted(imported_set)
        if layer_of(imported) > layer_of(module)
    ]
    assert upward == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    edges = graph()
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(module, ())):
            if nxt == "rustyobjectstore" or nxt.endswith("__init__"):
                continue  # the package root re-exports; nothing below imports it
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif len(path) < len(edges):
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        if start not in ("rustyobjectstore", "rustyobjectstore.__init__"):
            visit(start, [start])
    assert cycles == []
    assert not any("rustyobjectstore" == m for ms in edges.values() for m in ms), (
        "no module below the root imports the package root"
    )


def test_the_worker_layer_knows_no_cloud_and_no_configuration() -> None:
    for module, imported in graph().items():
        if module.startswith("rustyobjectstore._worker"):
            assert not {m for m in imported if m.startswith(("rustyobjectstore._auth",
                        "rustyobjectstore._config", "rustyobjectstore._ops"))}, module  # fmt: skip


def test_the_layer_test_sees_every_module() -> None:
    names = {module_name(p) for p in PACKAGE.rglob("*.py")}
    assert {"rustyobjectstore._worker.connection", "rustyobjectstore._ops.get",
            "rustyobjectstore._auth.schemes"} <= names  # fmt: skip
    for name in names:
        layer_of(name)


def test_public_classes_report_the_package() -> None:
    """Classes report ``rustyobjectstore``; functions and classes that declare fields keep their
    module, where the API reference resolves their annotations (test_surface builds it)."""
    badged = []
    for name in ros.__all__:
        public = getattr(ros, name)
        if isinstance(public, type) and not inspect.get_annotations(public):
            assert public.__module__ == "rustyobjectstore", name
            badged.append(name)
    assert {"NotFoundError", "ObjectWriter", "RangeReader", "WorkerCrashedError"} <= set(badged)
    assert repr(ros.NotFoundError).startswith("<class 'rustyobjectstore.NotFoundError'")
    assert pickle.loads(pickle.dumps(ros.NotFoundError("gone"))).args == ("gone",)


def test_what_the_previous_release_pickled_still_unpickles() -> None:
    """``tests/vectors/pickles`` were written by the release before this layout (1af2681)."""
    expected = {
        "aws_config": ros.AWSConfig("us-east-1", "bucket", "AKIDEXAMPLE", "secret",
                                    host="http://127.0.0.1:9000",
                                    opts=ros.ClientOptions(max_retries=3,
                                                           request_timeout_secs=10)),
        "azure_config": ros.AzureConfig("devstoreaccount1", "container", storage_account_key="a2V5"),
        "gcs_config": ros.GCSConfig("bucket", service_account_key='{"type": "service_account"}'),
        "snowflake_config": ros.SnowflakeConfig(stage="STAGE", account="acct", database="DB",
                                                schema="PUBLIC", endpoint="http://127.0.0.1:8080",
                                                master_token_path="/tmp/token"),
        "config": ros.Config("s3://bucket", {"aws_region": "us-east-1",
                                             "aws_skip_signature": "true"}),
        "client_options": ros.ClientOptions(connect_timeout_secs=2.5),
        "static_config": ros.StaticConfig(n_workers=3, arena_size=64 << 20),
        "object_meta": ros.ObjectMeta("a/b.csv", 12, datetime(2026, 12, 6, tzinfo=timezone.utc),
                                      '"etag"', None),
        "update_version": ros.UpdateVersion(e_tag='"etag"'),
        "aws_credentials": ros.AWSCredentials("AKID", "SECRET", "TOKEN"),
        "bearer_token": ros.BearerToken("token"),
    }  # fmt: skip
    assert sorted(p.stem for p in VECTORS.glob("*.pickle")) == sorted(expected)
    for name, value in expected.items():
        old = pickle.loads((VECTORS / f"{name}.pickle").read_bytes())
        assert old == value, name
        assert type(old) is type(value)


def test_every_reader_of_schemes_uses_the_one_table() -> None:
    assert S3FileSystem.protocol[1:] == FSSPEC_PROTOCOLS["s3"]
    assert GCSFileSystem.protocol[1:] == FSSPEC_PROTOCOLS["gs"]
    assert AzureBlobFileSystem.protocol[1:] == FSSPEC_PROTOCOLS["az"]
    for path in PACKAGE.rglob("*.py"):
        if path.name != "schemes.py":
            text = path.read_text()
            assert '"s3a"' not in text and '"abfss"' not in text, f"{path} spells schemes itself"


# The worker's word for each cloud in an unknown-option error (worker/src/stores: parse_option).
WORKER_LABEL = {"s3": "S3", "az": "Azure", "gs": "GCS"}


@pytest.mark.parametrize("scheme", sorted(CLOUD_OF_SCHEME))
def test_the_worker_reads_each_scheme_as_the_table_does(scheme: str) -> None:
    cloud = CLOUD_OF_SCHEME[scheme]
    conf = ros.Config(f"{scheme}://bucket", {"anon": "true", "not_an_option": "1"})
    with pytest.raises(ros.ConfigurationError, match=f"for {WORKER_LABEL[cloud]} stores"):
        ros.head_object("key", conf)


@pytest.mark.parametrize("scheme", LOCAL_SCHEMES)
def test_local_schemes_take_no_cloud_options(scheme: str, tmp_path: Path) -> None:
    url = tmp_path.as_uri() if scheme == "file" else "memory:///"
    with pytest.raises(ros.ConfigurationError, match="not_an_option"):
        ros.head_object("key", ros.Config(url, {"not_an_option": "1"}))


def test_the_readme_layout_names_every_module() -> None:
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme[readme.index("## Layout") :].split("```")[1]
    for path in PACKAGE.rglob("*.py"):
        if path.stem not in ("__init__", "__main__", "_version"):
            assert path.stem in layout, f"README's Layout does not name {path.relative_to(PACKAGE)}"
