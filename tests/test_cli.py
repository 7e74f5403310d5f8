"""The command line (``python -m rustyobjectstore`` and the installed ``rustyobjectstore``), on
``file://`` URLs under ``tmp_path``. Most tests run the CLI for real in a subprocess; a few call
``main()`` in-process."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import rustyobjectstore as ros
from rustyobjectstore._cli import main, parse_url

MiB = 1024 * 1024
FILE_STORE = ros.Config("file:///")
ERROR_PREFIX = "rustyobjectstore: error: "


def run_cli(
    *args: str,
    stdin: bytes = b"",
    command: tuple[str, ...] = (sys.executable, "-m", "rustyobjectstore"),
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*command, *args], input=stdin, capture_output=True, timeout=120, check=False
    )


def ok(result: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stderr == b""
    return result


def failed(result: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    """The stderr of a run that must have failed with ``code`` and printed nothing on stdout."""
    err = result.stderr.decode()
    assert result.returncode == code, (result.returncode, err)
    assert result.stdout == b""
    if code == 1:
        assert err.startswith(ERROR_PREFIX) and err.endswith("\n") and err.count("\n") == 1, err
        assert "Traceback" not in err
    return err


def url(path: Path) -> str:
    return "file://" + path.as_posix()


def key(path: Path) -> str:
    """The key of ``path`` in ``Config("file:///")``."""
    return path.as_posix().lstrip("/")


# --- cp --------------------------------------------------------------------------------------------

PAYLOADS = {
    "random-3MiB": os.urandom(3 * MiB),
    "empty": b"",
    "small": b"hello\x00world\n\xff",
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_cp_uploads_and_downloads_byte_for_byte(tmp_path: Path, name: str) -> None:
    data = PAYLOADS[name]
    local = tmp_path / "local.bin"
    local.write_bytes(data)
    remote = tmp_path / "store" / "dir" / f"{name}.bin"

    ok(run_cli("cp", str(local), url(remote)))
    assert remote.read_bytes() == data  # the file store keeps the object at its path
    assert ros.get_object(key(remote), FILE_STORE) == data

    back = tmp_path / "down" / "back.bin"
    back.parent.mkdir()
    ok(run_cli("cp", url(remote), str(back)))
    assert back.read_bytes() == data
    assert sorted(p.name for p in back.parent.iterdir()) == ["back.bin"]  # no temporary left


def test_cp_download_replaces_a_file_keeping_its_mode(tmp_path: Path) -> None:
    remote = tmp_path / "store" / "obj"
    ros.put_object(key(remote), b"new contents", FILE_STORE)
    dest = tmp_path / "dest.txt"
    dest.write_bytes(b"old contents that are longer")
    dest.chmod(0o640)

    ok(run_cli("cp", url(remote), str(dest)))
    assert dest.read_bytes() == b"new contents"
    assert dest.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest.txt", "store"]


def test_cp_into_a_directory_uses_the_source_name(tmp_path: Path) -> None:
    remote = tmp_path / "store" / "a" / "report.csv"
    ros.put_object(key(remote), b"x,y\n1,2\n", FILE_STORE)
    target_dir = tmp_path / "out"
    target_dir.mkdir()
    ok(run_cli("cp", url(remote), str(target_dir)))
    assert (target_dir / "report.csv").read_bytes() == b"x,y\n1,2\n"

    local = tmp_path / "upload.txt"
    local.write_bytes(b"up")
    ok(run_cli("cp", str(local), url(tmp_path / "store" / "b") + "/"))
    assert ros.get_object(key(tmp_path / "store" / "b" / "upload.txt"), FILE_STORE) == b"up"


def test_cp_stdin_and_stdout(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    remote = tmp_path / "store" / "piped"
    ok(run_cli("cp", "-", url(remote), stdin=data))
    assert ros.get_object(key(remote), FILE_STORE) == data
    assert ok(run_cli("cp", url(remote), "-")).stdout == data


def test_cp_url_to_url(tmp_path: Path) -> None:
    data = os.urandom(5000)
    src = tmp_path / "store" / "src"
    ros.put_object(key(src), data, FILE_STORE)
    dst = tmp_path / "store" / "copy" / "dst"
    ok(run_cli("cp", url(src), url(dst)))
    assert ros.get_object(key(dst), FILE_STORE) == data
    assert ros.get_object(key(src), FILE_STORE) == data


def test_cp_of_a_missing_object_fails_and_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "never.bin"
    dest.parent.mkdir()
    err = failed(run_cli("cp", url(tmp_path / "store" / "missing"), str(dest)))
    assert "not found" in err.lower()
    assert list(dest.parent.iterdir()) == []


def test_cp_of_a_missing_local_file_fails(tmp_path: Path) -> None:
    missing = tmp_path / "nope.bin"
    err = failed(run_cli("cp", str(missing), url(tmp_path / "store" / "x")))
    assert err == f"{ERROR_PREFIX}{missing}: No such file or directory\n"
    assert not (tmp_path / "store").exists()


# --- ls, cat, rm, stat -----------------------------------------------------------------------------


def test_ls_r_lists_exactly_the_keys_under_a_prefix(tmp_path: Path) -> None:
    root = tmp_path / "store"
    sizes = {"d/a": 1, "d/sub/b": 22, "d/sub/deeper/c": 333, "dx/e": 4, "other/f": 5}
    for name, size in sizes.items():
        ros.put_object(key(root / name), b"z" * size, FILE_STORE)
    start = datetime.now(timezone.utc) - timedelta(minutes=5)

    out = ok(run_cli("ls", "-r", url(root / "d") + "/")).stdout.decode()
    listed: dict[str, int] = {}
    for line in out.splitlines():
        listed_size, modified, listed_key = line.split()
        listed[listed_key] = int(listed_size)
        stamp = datetime.fromisoformat(modified)
        assert stamp.tzinfo is not None and start <= stamp <= datetime.now(timezone.utc)
    expected = {key(root / n): s for n, s in sizes.items() if n.startswith("d/")}
    assert listed == expected
    assert len(out.splitlines()) == 3

    # The key part is a plain string prefix: "d" also matches "dx/".
    out = ok(run_cli("ls", "--recursive", url(root / "d"))).stdout.decode()
    assert sorted(line.split()[2] for line in out.splitlines()) == sorted(
        key(root / n) for n in ("d/a", "d/sub/b", "d/sub/deeper/c", "dx/e")
    )


def test_ls_lists_one_level_relative_to_the_url(tmp_path: Path) -> None:
    root = tmp_path / "store"
    for name in ("d/a", "d/sub/b", "d/sub/deeper/c", "dx/e", "other/f"):
        ros.put_object(key(root / name), b"zz", FILE_STORE)
    out = ok(run_cli("ls", url(root / "d") + "/")).stdout.decode().splitlines()
    assert [line.split() for line in out[:1]] == [["PRE", "sub/"]]
    assert [(line.split()[0], line.split()[2]) for line in out[1:]] == [("2", "a")]
    # Names are relative to the URL's directory; "d" matches "d/" and "dx/".
    out = ok(run_cli("ls", url(root / "d"))).stdout.decode().splitlines()
    assert [line.split() for line in out] == [["PRE", "d/"], ["PRE", "dx/"]]


def test_ls_of_an_empty_prefix_prints_nothing(tmp_path: Path) -> None:
    assert ok(run_cli("ls", url(tmp_path / "nothing") + "/")).stdout == b""


def test_cat_writes_the_object_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    remote = tmp_path / "store" / "blob"
    ros.put_object(key(remote), data, FILE_STORE)
    assert ok(run_cli("cat", url(remote))).stdout == data


def test_rm_then_stat_fails(tmp_path: Path) -> None:
    remote = tmp_path / "store" / "doomed"
    ros.put_object(key(remote), b"bye", FILE_STORE)
    assert ok(run_cli("rm", url(remote))).stdout == f"rm {url(remote)}\n".encode()
    assert not remote.exists()
    err = failed(run_cli("stat", url(remote)))
    assert "not found" in err.lower()
    assert key(remote) in err


def test_stat_prints_every_field(tmp_path: Path) -> None:
    remote = tmp_path / "store" / "meta.bin"
    ros.put_object(key(remote), b"x" * 1234, FILE_STORE)
    lines = ok(run_cli("stat", url(remote))).stdout.decode().splitlines()
    fields = dict(line.split(": ", 1) for line in lines)
    assert list(fields) == ["path", "size", "last_modified", "e_tag", "version"]
    assert fields["path"] == key(remote)
    assert fields["size"] == "1234"
    modified = datetime.fromisoformat(fields["last_modified"])
    assert abs(modified - datetime.now(timezone.utc)) < timedelta(minutes=5)
    meta = ros.head_object(key(remote), FILE_STORE)
    assert fields["e_tag"] == meta.e_tag and meta.e_tag
    assert fields["version"] == "-"  # a file store has no versions


@pytest.mark.parametrize("command", ["cat", "stat", "rm"])
def test_a_missing_key_fails(tmp_path: Path, command: str) -> None:
    # rm too: a file store reports a missing object (S3 would not).
    missing = tmp_path / "store" / "absent"
    err = failed(run_cli(command, url(missing)))
    assert "not found" in err.lower(), err
    assert key(missing) in err


def test_stdout_closed_early_exits_quietly(tmp_path: Path) -> None:
    remote = tmp_path / "store" / "big"
    ros.put_object(key(remote), os.urandom(3 * MiB), FILE_STORE)
    with subprocess.Popen(
        [sys.executable, "-m", "rustyobjectstore", "cat", url(remote)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert len(proc.stdout.read(10)) == 10
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    assert err == b""
    assert code == 1


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("foo://bucket/key", ["unsupported", "foo://"]),
        ("file://relative/key", ["absolute path"]),
        ("s3:///key", ["no bucket"]),
    ],
)
def test_a_bad_url_fails_clearly(bad: str, words: list[str]) -> None:
    err = failed(run_cli("cat", bad))
    for word in words:
        assert word in err, err


def test_a_url_without_a_key_fails() -> None:
    err = failed(run_cli("cat", "s3://bucket"))
    assert "key is empty" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["cp", "only-one"],
        ["cp", "local-a", "local-b"],
        ["frobnicate", "file:///tmp/x"],
        ["cat"],
        ["ls", "-o", "no-equals-sign", "file:///tmp/x"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    err = failed(run_cli(*argv), code=2)
    assert err.startswith("usage: rustyobjectstore")
    assert "error:" in err


def test_an_unknown_option_is_named(tmp_path: Path) -> None:
    err = failed(run_cli("ls", "-o", "bogus=1", url(tmp_path) + "/"))
    assert "bogus" in err
    # Before the command works the same.
    assert "bogus" in failed(run_cli("-o", "bogus=1", "stat", url(tmp_path / "x")))


def test_option_values_are_never_printed() -> None:
    secret = "SEKRIT-abc123"
    # The library rejects the unknown option before any request: no network needed.
    err = failed(
        run_cli("stat", "s3://bucket/key", "-o", f"secret_access_key={secret}", "-o", "bogus=1")
    )
    assert "bogus" in err and secret not in err
    # A value given without its name (no '=') is a usage error that does not repeat it.
    for argv in (
        ["-o", secret, "stat", "s3://bucket/key"],
        ["stat", "s3://bucket/key", "-o", secret],
    ):
        err = failed(run_cli(*argv), code=2)
        assert "NAME=VALUE" in err and secret not in err


def test_parse_url_maps_schemes_to_stores() -> None:
    parsed = parse_url("file:///tmp/d/", {})
    assert (parsed.config, parsed.key) == (FILE_STORE, "tmp/d/")
    parsed = parse_url("s3://bucket/a/b", {"region": "us-east-1"})
    assert parsed.config == ros.Config("s3://bucket", {"region": "us-east-1"})
    assert parsed.key == "a/b"
    assert parse_url("azure://box/k", {}).config == ros.Config("az://box")
    assert parse_url("az://box/k", {}).config == ros.Config("az://box")
    assert parse_url("gs://b/x/y/", {}).key == "x/y/"


# --- in-process main() -----------------------------------------------------------------------------


def test_main_in_process_stat_and_cat(
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    remote = tmp_path / "store" / "inproc"
    source = tmp_path / "src.bin"
    source.write_bytes(b"in process")
    assert main(["cp", str(source), url(remote)]) == 0
    assert main(["stat", url(remote)]) == 0
    assert b"size: 10\n" in capsysbinary.readouterr().out
    assert main(["cat", url(remote)]) == 0
    assert capsysbinary.readouterr().out == b"in process"


def test_main_in_process_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cat", url(tmp_path / "missing")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(ERROR_PREFIX) and "not found" in captured.err.lower()

    with pytest.raises(SystemExit) as exit_info:
        main(["cp", "a", "b"])
    assert exit_info.value.code == 2
    assert "at least one of SRC and DST must be an object URL" in capsys.readouterr().err


# --- the installed command -------------------------------------------------------------------------


def test_installed_command_round_trip(tmp_path: Path) -> None:
    command = shutil.which("rustyobjectstore")
    assert command is not None, "the rustyobjectstore command is not on PATH"
    data = os.urandom(70_000)
    local = tmp_path / "in.bin"
    local.write_bytes(data)
    remote = tmp_path / "store" / "via-launcher"
    ok(run_cli("cp", str(local), url(remote), command=(command,)))
    assert ros.get_object(key(remote), FILE_STORE) == data
    back = tmp_path / "back.bin"
    ok(run_cli("cp", url(remote), str(back), command=(command,)))
    assert back.read_bytes() == data


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_display_draws_on_a_terminal_only() -> None:
    from rustyobjectstore._cli.progress import Progress

    terminal = _FakeTerminal()
    progress = Progress("data", out=terminal)
    progress.planned(10 * MiB)
    progress.planned(10 * MiB)
    progress.moved(5 * MiB)
    progress.finished()
    progress.write("cp a b", terminal)
    progress.close()
    drawn = terminal.getvalue()
    assert (
        "data" in drawn and "cp a b\n" in drawn and "1/2 files" in drawn and "5.00M/20.0M" in drawn
    )
    piped = io.StringIO()
    quiet = Progress("data", out=piped)
    quiet.planned(2)
    quiet.moved(1)
    quiet.finished()
    quiet.close()
    assert piped.getvalue() == ""
    silenced = Progress("data", quiet=True, out=_FakeTerminal())
    silenced.planned(1)
    assert silenced._bar is None


def test_cp_is_quiet_when_stderr_is_piped(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    store = tmp_path / "store"
    store.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "rustyobjectstore", "cp", str(source), f"{store.as_uri()}/obj"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stderr == b""
    assert (store / "obj").read_bytes() == source.read_bytes()


def test_a_download_syncs_to_disk_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library's default is durable (fsync before the rename); the command line's, like
    s5cmd's and aws s3's, is not, unless --fsync; a download is renamed into place whole
    either way. The worker writes (and syncs) the files it downloads whole: what it is asked
    is counted here; the rest of a big one is written here, with ``os.fsync``."""
    from rustyobjectstore._ops import files
    from rustyobjectstore._worker import codec
    from rustyobjectstore._worker.codec import Message

    synced: list[int] = []
    real = os.fsync
    asked: list[bool] = []
    download, download_many = codec.download, codec.download_many

    def counted(fd: int) -> None:
        synced.append(fd)
        real(fd)

    def one(*args: Any, fsync: bool, **kwargs: Any) -> Message:
        asked.append(fsync)
        return download(*args, fsync=fsync, **kwargs)

    def many(store: int, triples: list[list[str]], *, fsync: bool) -> Message:
        asked.extend([fsync] * len(triples))
        return download_many(store, triples, fsync=fsync)

    monkeypatch.setattr(files, "os", types.SimpleNamespace(**{**vars(os), "fsync": counted}))
    monkeypatch.setattr(codec, "download", one)
    monkeypatch.setattr(codec, "download_many", many)
    remote = tmp_path / "store" / "obj"
    ros.put_object(key(remote), b"data", FILE_STORE)
    ros.get_object_to_file(key(remote), tmp_path / "a", FILE_STORE)
    ros.get_object_to_file(key(remote), tmp_path / "b", FILE_STORE, fsync=False)
    assert asked == [True, False] and (tmp_path / "b").read_bytes() == b"data"
    assert main(["cp", "-q", url(remote), str(tmp_path / "c")]) == 0
    assert main(["cp", "-q", "--fsync", url(remote), str(tmp_path / "d")]) == 0
    assert asked == [True, False, False, True] and (tmp_path / "d").read_bytes() == b"data"
    tree = tmp_path / "store" / "tree"
    for name in ("x", "y"):
        ros.put_object(key(tree / name), b"tree", FILE_STORE)
    assert main(["cp", "-q", "-r", url(tree) + "/", str(tmp_path / "e") + "/"]) == 0
    assert main(["cp", "-q", "-r", "--fsync", url(tree) + "/", str(tmp_path / "f") + "/"]) == 0
    assert asked[4:] == [False, False, True, True]
    assert (tmp_path / "f" / "y").read_bytes() == b"tree"
    assert synced == []  # all written by the worker
    big = os.urandom(9 * MiB)  # over the first request's 8 MiB: the rest is written here
    ros.put_object(key(remote), big, FILE_STORE)
    ros.get_object_to_file(key(remote), tmp_path / "g", FILE_STORE)
    assert len(synced) == 1 and (tmp_path / "g").read_bytes() == big
    assert main(["cp", "-q", url(remote), str(tmp_path / "h")]) == 0
    assert len(synced) == 1 and (tmp_path / "h").read_bytes() == big


def test_the_summary_counts_every_byte_of_jobs_done_at_once() -> None:
    """Jobs finishing while others wait: the total is the sum of all (``total += await job``
    would add to a total read before the wait, losing the others')."""
    import asyncio

    from rustyobjectstore._cli.progress import Progress
    from rustyobjectstore._cli.transfers import Job, run_jobs

    def job(size: int, delay: float) -> Job:
        async def work(_moved: Any) -> int:
            await asyncio.sleep(delay)
            return size

        return Job(f"cp {size}", size, work)

    async def jobs() -> Any:
        for i in range(8):
            yield job(1 << i, 0.01 * (8 - i))

    report = asyncio.run(run_jobs(jobs(), workers=8, progress=Progress("t", quiet=True), out=None))
    assert (report.done, report.moved) == (8, 255)
