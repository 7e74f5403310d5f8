"""The README's examples run as written (the server one with this run's endpoints and names)."""

from __future__ import annotations

import argparse
import builtins
import re
from pathlib import Path

from emulators import MINIO_KEY, MINIO_SECRET, RunningServer

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_local_store_example_runs_as_written() -> None:
    block = _python_blocks()[0]
    assert "get_object_into" in block and "file://" in block
    exec(compile(block, "README.md", "exec"), {})


def test_the_server_example_runs_against_this_runs_servers(
    azurite_server: RunningServer, azure_container: str, moto_server: RunningServer, s3_bucket: str
) -> None:
    block = _python_blocks()[1]
    for written, actual in [
        ("http://127.0.0.1:10000/devstoreaccount1", azurite_server.endpoint),
        ("http://127.0.0.1:5000", moto_server.endpoint),
        ('"mycontainer"', repr(azure_container)),
        ('"mybucket"', repr(s3_bucket)),
    ]:
        assert written in block
        block = block.replace(written, actual)
    exec(compile(block, "README.md", "exec"), {})


def test_the_credential_provider_example_runs_against_this_runs_minio(
    minio_server: RunningServer, minio_bucket: str
) -> None:
    (block,) = [b for b in _python_blocks() if "boto3_credential_provider" in b]
    for written, actual in [
        ('boto3.Session(profile_name="sso")',
         f"boto3.Session(aws_access_key_id={MINIO_KEY!r}, aws_secret_access_key={MINIO_SECRET!r})"),
        ("http://127.0.0.1:9000", minio_server.endpoint),
        ('"mybucket"', repr(minio_bucket)),
    ]:  # fmt: skip
        assert written in block
        block = block.replace(written, actual)
    exec(compile(block, "README.md", "exec"), {})


def test_the_data_stack_examples_run_against_this_runs_server(
    registered: None, moto_server: RunningServer, s3_bucket: str
) -> None:
    start = next(i for i, b in enumerate(_python_blocks()) if "register()" in b)
    local, remote = _python_blocks()[start : start + 2]
    assert "file://" in local and "register()" in local
    exec(compile(local, "README.md", "exec"), {})
    for written, actual in [
        ("http://127.0.0.1:5000", moto_server.endpoint),
        ("mybucket", s3_bucket),
    ]:
        assert written in remote
        remote = remote.replace(written, actual)
    try:
        exec(compile(remote, "README.md", "exec"), {})
    finally:
        import zarr.core.sync

        zarr.core.sync.cleanup_resources()  # the event loop thread of zarr's sync API


# Every name RustyObjectStore.jl 0.12 exports (its `export` lines), and the ones its users call
# qualified (`RustyObjectStore.safe_message`, its exceptions and error reasons).
JULIA_NAMES = [
    "init_object_store", "get_object!", "put_object", "delete_object",
    "StaticConfig", "ClientOptions", "Config", "AzureConfig", "AWSConfig", "SnowflakeConfig",
    "status_code", "is_connection", "is_timeout", "is_early_eof", "is_unknown", "is_parse_url",
    "get_object_stream", "ReadStream", "finish!",
    "put_object_stream", "WriteStream", "cancel!", "shutdown!",
    "current_metrics", "invalidate_config",
    "max_entries_per_chunk", "ListEntry", "list_objects", "list_objects_stream", "next_chunk!",
    "safe_message", "message", "GetException", "PutException", "DeleteException",
    "ListException", "InitException", "ConnectionError", "StatusError", "EarlyEOF",
    "TimeoutError", "ParseURLError", "UnknownError",
]  # fmt: skip


def test_the_julia_table_maps_every_name_of_the_seed_to_a_real_one() -> None:
    import rustyobjectstore as ros

    text = README.read_text()
    table = text[text.index("## Coming from RustyObjectStore.jl") :]
    table = table[: table.index("\n## ")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    julia_side = " ".join(row.split(" | ")[0] for row in rows)
    missing = [n for n in JULIA_NAMES if f"`{n}" not in julia_side and f" {n}" not in julia_side]
    assert not missing, f"Julia names without a row: {missing}"
    # Every name on our side that looks like an identifier of the package exists.
    ours = " ".join(row.split(" | ")[1] for row in rows)
    # A code span that opens with a call or a class name names the package's own.
    for span in re.findall(r"`([^`]+)`", ours):
        call = re.match(r"([a-z_]+)\(", span)
        name = call.group(1) if call else span if re.fullmatch(r"[A-Z]\w+", span) else None
        if name is not None and not hasattr(builtins, name):
            assert hasattr(ros, name), f"the table names {name}, which the package does not have"


def _command_line_section() -> str:
    text = README.read_text()
    start = text.index("## The command line\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_command_line_example_runs_as_written(tmp_path: Path) -> None:
    """The local block runs in an empty directory (its store under this test's directory), and
    the section shows every command."""
    import subprocess
    import sys

    from rustyobjectstore._cli.parser import build_parser

    section = _command_line_section()
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert "/tmp/rosdemo" in block
    script = block.replace("/tmp/rosdemo", (tmp_path / "demo").as_posix())
    prelude = f'rustyobjectstore() {{ "{sys.executable}" -m rustyobjectstore "$@"; }}\n'
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", prelude + script], cwd=work,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello" in result.stdout and "Total Objects: 2" in result.stdout
    assert (work / "copy" / "2026-12-06" / "b.log").read_text() == "b\n"
    assert not [p for p in (tmp_path / "demo").rglob("*") if p.is_file()]  # the last line: all gone
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(action.choices)
    shown = set(re.findall(r"^(?:echo .*\| )?rustyobjectstore (\w+)", section, flags=re.M))
    assert commands <= shown, commands - shown
