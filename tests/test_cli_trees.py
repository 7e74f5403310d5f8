"""The command line on trees: ``cp``/``mv``/``rm``/``ls``/``du`` with ``-r``, wildcards and filters,
in parallel, run as a subprocess against real servers (local files, MinIO, moto, Azurite) and
checked with the library itself; and the failures (nothing matching, a missing bucket, a refused
write, an interrupted transfer) with their exit status and no partial file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from cli_remote import (
    CLI,
    CLI_HEARING_CTRL_C,
    CLOUDS,
    TREE,
    Remote,
    cli,
    failed,
    local_files,
    make_tree,
    ok,
)
from conftest import s3_config
from emulators import RunningServer
from faultserver import FaultServer, Hold, Serve

import rustyobjectstore as ros

KiB, MiB = 1024, 1024 * 1024


def test_cp_r_up_and_down_copies_every_file_byte_for_byte(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    result = ok(cli("cp", "-r", str(src), remote.url, opts=remote.opts))
    assert remote.keys() == TREE
    assert len(result.stdout.splitlines()) == len(TREE)  # a line per file
    assert f"copied {len(TREE)} object(s)" in result.stderr  # the summary
    down = tmp_path / "down"
    ok(cli("cp", "-r", remote.url, str(down), opts=remote.opts))
    assert local_files(down) == TREE
    assert not [p for p in down.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]


def test_wildcards_match_within_a_segment_and_across_with_two_stars(
    remote: Remote, tmp_path: Path
) -> None:
    for name, data in TREE.items():
        remote.put(name, data)
    top = tmp_path / "top"
    ok(cli("cp", remote.url + "*.csv", str(top), opts=remote.opts))
    assert local_files(top) == {"a.csv": TREE["a.csv"]}
    nested = tmp_path / "nested"
    ok(cli("cp", remote.url + "sub/**/*.csv", str(nested), opts=remote.opts))
    assert local_files(nested) == {
        "c.csv": TREE["sub/c.csv"],
        "deeper/e.csv": TREE["sub/deeper/e.csv"],
    }
    one = tmp_path / "one"
    ok(cli("cp", remote.url + "sub/deeper/?.bin", str(one), opts=remote.opts))
    assert local_files(one) == {"d.bin": TREE["sub/deeper/d.bin"]}
    # Local wildcards, quoted, are ours to expand: up into the store.
    src = make_tree(tmp_path / "src")
    ok(cli("cp", str(src) + "/**/*.csv", remote.url + "csvs/", opts=remote.opts))
    csvs = {k[len("csvs/") :]: v for k, v in remote.keys().items() if k.startswith("csvs/")}
    assert csvs == {"a.csv": TREE["a.csv"], "sub/c.csv": TREE["sub/c.csv"],
                    "sub/deeper/e.csv": TREE["sub/deeper/e.csv"]}  # fmt: skip


def test_a_pattern_matching_nothing_fails_and_writes_nothing(
    remote: Remote, tmp_path: Path
) -> None:
    remote.put("a.csv", b"x")
    (errors,) = failed(cli("cp", remote.url + "*.parquet", str(tmp_path / "out"), opts=remote.opts))
    assert "nothing matches" in errors
    assert not (tmp_path / "out").exists()
    (errors,) = failed(cli("rm", remote.url + "*.parquet", opts=remote.opts))
    assert "nothing matches" in errors
    assert remote.keys() == {"a.csv": b"x"}


def test_include_and_exclude_the_last_matching_rule_wins(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    ok(cli("cp", "-r", "--exclude", "*", "--include", "*.csv", "--exclude", "sub/deeper/*",
           str(src), remote.url, opts=remote.opts))  # fmt: skip
    assert remote.keys() == {"a.csv": TREE["a.csv"], "sub/c.csv": TREE["sub/c.csv"]}


def test_dryrun_prints_and_does_nothing(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    result = ok(cli("cp", "-r", "--dryrun", str(src), remote.url, opts=remote.opts))
    lines = result.stdout.splitlines()
    assert len(lines) == len(TREE) and all(line.startswith("(dryrun) cp ") for line in lines)
    assert remote.keys() == {}
    remote.put("x", b"1")
    result = ok(cli("rm", "-r", "--dryrun", remote.url, opts=remote.opts))
    assert result.stdout.startswith("(dryrun) rm ") and remote.keys() == {"x": b"1"}


def test_no_clobber_leaves_what_exists(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    remote.put("a.csv", b"old")
    result = ok(cli("cp", "-r", "-n", str(src), remote.url, opts=remote.opts))
    got = remote.keys()
    assert got["a.csv"] == b"old" and got["b.txt"] == TREE["b.txt"]
    assert "1 skipped" in result.stderr
    down = tmp_path / "down"
    down.mkdir()
    (down / "b.txt").write_bytes(b"mine")
    ok(cli("cp", "-r", "--no-clobber", remote.url, str(down), opts=remote.opts))
    assert (down / "b.txt").read_bytes() == b"mine" and (down / "a.csv").read_bytes() == b"old"


def test_flatten_puts_entries_by_their_base_names(remote: Remote, tmp_path: Path) -> None:
    """``--flatten``: a tree's entries land directly under DST by base name, up and down; a
    second entry of a base name fails, listed, and overwrites nothing."""
    src = make_tree(tmp_path / "src")
    ok(cli("cp", "-r", "--flatten", str(src / "sub"), remote.url, opts=remote.opts))
    sub = {k.rsplit("/", 1)[-1]: v for k, v in TREE.items() if k.startswith("sub/")}
    assert remote.keys() == sub
    down = tmp_path / "down"
    ok(cli("cp", "--flatten", remote.url + "**.csv", str(down) + "/", opts=remote.opts))
    assert local_files(down) == {"c.csv": TREE["sub/c.csv"], "e.csv": TREE["sub/deeper/e.csv"]}
    clash = make_tree(tmp_path / "clash", {"x/same.txt": b"first", "y/same.txt": b"second"})
    dst = remote.url + "flat/"
    errors = failed(cli("cp", "-r", "--flatten", "--workers", "1", str(clash), dst,
                        opts=remote.opts))  # fmt: skip
    assert len(errors) == 1 and "'same.txt' (--flatten)" in errors[0]
    assert remote.keys()["flat/same.txt"] == b"first"  # the first kept, the second refused


def test_mv_r_moves_within_a_store_and_from_the_disk(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    ok(cli("mv", "-r", str(src), remote.url + "in/", opts=remote.opts))
    assert local_files(src) == {}
    ok(cli("mv", "-r", remote.url + "in/", remote.url + "done/", opts=remote.opts))
    assert remote.keys() == {"done/" + name: data for name, data in TREE.items()}
    down = tmp_path / "down"
    ok(cli("mv", remote.url + "done/sub/*.csv", str(down), opts=remote.opts))
    assert local_files(down) == {"c.csv": TREE["sub/c.csv"]}
    assert "done/sub/c.csv" not in remote.keys()


def test_rm_r_and_rm_with_wildcards(remote: Remote) -> None:
    for name, data in TREE.items():
        remote.put(name, data)
    result = ok(cli("rm", remote.url + "**/*.csv", opts=remote.opts))
    assert len(result.stdout.splitlines()) == 3
    assert set(remote.keys()) == {"b.txt", "empty.txt", "sub/deeper/d.bin"}
    ok(cli("rm", "-r", remote.url + "sub", opts=remote.opts))
    assert set(remote.keys()) == {"b.txt", "empty.txt"}


def test_ls_r_summarize_json_and_du(remote: Remote) -> None:
    for name, data in TREE.items():
        remote.put(name, data)
    total = sum(map(len, TREE.values()))
    result = ok(cli("ls", "-r", "--summarize", "-H", remote.url, opts=remote.opts))
    assert f"Total Objects: {len(TREE)}" in result.stdout and "KiB" in result.stdout
    lines = ok(cli("ls", "-r", "--json", remote.url, opts=remote.opts)).stdout.splitlines()
    listed = {json.loads(line)["key"]: json.loads(line)["size"] for line in lines}
    assert listed == {remote.prefix + k: len(v) for k, v in TREE.items()}
    top = ok(cli("ls", remote.url, opts=remote.opts)).stdout
    assert "PRE  sub/" in top and "a.csv" in top and "c.csv" not in top
    du = ok(cli("du", remote.url, opts=remote.opts)).stdout
    assert du.startswith(f"{total} bytes in {len(TREE)} objects")
    du = ok(cli("du", remote.url + "**/*.csv", opts=remote.opts)).stdout
    assert du.startswith(f"{4 + 4000 + 4} bytes in 3 objects")
    du = ok(cli("du", remote.url, "--exclude", "sub/*", opts=remote.opts)).stdout
    assert du.startswith(f"{4 + 5 + 0} bytes in 3 objects")
    top = ok(cli("ls", remote.url, "--exclude", "*.txt", opts=remote.opts)).stdout
    assert "a.csv" in top and ".txt" not in top
    lines = ok(cli("ls", "-r", remote.url, "--include", "*", "--exclude", "*.csv",
                   opts=remote.opts)).stdout.splitlines()  # fmt: skip
    assert len(lines) == 3 and not any(line.endswith(".csv") for line in lines)


def test_failures_are_listed_once_and_the_rest_goes_on(remote: Remote, tmp_path: Path) -> None:
    for name, data in TREE.items():
        remote.put(name, data)
    down = tmp_path / "down"
    down.mkdir()
    (down / "sub").write_bytes(b"a file where a directory must go")
    errors = failed(cli("cp", "-r", remote.url, str(down), opts=remote.opts))
    assert len(errors) == 3  # the three files under sub/, each once
    assert all("sub" in e for e in errors)
    assert (down / "a.csv").read_bytes() == TREE["a.csv"]  # the others arrived


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)  # local files keep no attributes
def test_attributes_on_upload(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"t.csv": b"1", "page.html": b"<p>"})
    ok(cli("cp", "-r", "--cache-control", "max-age=60", "--metadata", "owner=etl",
           str(src), remote.url, opts=remote.opts))  # fmt: skip
    csv = dict(ros.head_object(remote.prefix + "t.csv", remote.conf).attributes or {})
    html = dict(ros.head_object(remote.prefix + "page.html", remote.conf).attributes or {})
    assert csv["Content-Type"] == "text/csv" and html["Content-Type"] == "text/html"
    assert csv["Cache-Control"] == "max-age=60" and csv["owner"] == "etl"
    ok(cli("cp", str(src / "t.csv"), remote.url + "typed", "--content-type", "text/plain",
           opts=remote.opts))  # fmt: skip
    typed = dict(ros.head_object(remote.prefix + "typed", remote.conf).attributes or {})
    assert typed["Content-Type"] == "text/plain"


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)  # a local store has no bucket
def test_a_missing_bucket_fails_clearly(remote: Remote, tmp_path: Path) -> None:
    scheme = remote.url.split("://")[0]
    missing = f"{scheme}://no-such-bucket-{os.getpid()}/top/"
    src = make_tree(tmp_path / "src", {"a": b"1"})
    errors = failed(cli("cp", "-r", str(src), missing, opts=remote.opts))
    assert len(errors) == 1 and "a" in errors[0]
    (error,) = failed(cli("ls", "-r", missing, opts=remote.opts))
    assert "no-such-bucket" in error


def test_copies_between_stores_stream(remote: Remote, tmp_path: Path) -> None:
    local = tmp_path / "other"
    make_tree(local)
    ok(cli("cp", "-r", local.as_uri() + "/", remote.url + "x/", opts=remote.opts))
    assert {k[2:]: v for k, v in remote.keys().items()} == TREE


def test_stat_json_pipe_and_presign(remote: Remote) -> None:
    ok(cli("pipe", remote.url + "p.txt", opts=remote.opts, stdin=b"piped"))
    assert remote.keys() == {"p.txt": b"piped"}
    meta = json.loads(ok(cli("stat", "--json", remote.url + "p.txt", opts=remote.opts)).stdout)
    assert meta["size"] == 5 and meta["path"] == remote.prefix + "p.txt"
    if remote.url.startswith("file:"):
        (error,) = failed(cli("presign", remote.url + "p.txt", opts=remote.opts))
        assert "sign" in error.lower()
        return
    signed = ok(cli("presign", remote.url + "p.txt", "--expires", "60", opts=remote.opts)).stdout
    with urllib.request.urlopen(signed.strip(), timeout=30) as answer:
        assert answer.read() == b"piped"


def test_sizes_across_the_multipart_thresholds_up_and_down(remote: Remote, tmp_path: Path) -> None:
    """Below, at and above the size up to which files go up in batches (1 MiB),
    multipart_get_threshold (8 MiB, below which objects come down in batches) and
    multipart_put_threshold (10 MiB)."""
    sizes = [0, 1, MiB - 1, MiB, MiB + 1, 8 * MiB - 1, 8 * MiB, 8 * MiB + 1, 10 * MiB,
             10 * MiB + 1, 17 * MiB]  # fmt: skip
    files = {f"f{size}": os.urandom(size) for size in sizes}
    src = make_tree(tmp_path / "src", files)
    ok(cli("cp", "-r", str(src), remote.url, opts=remote.opts))
    assert remote.keys() == files
    down = tmp_path / "down"
    ok(cli("cp", "-r", remote.url, str(down), opts=remote.opts))
    assert local_files(down) == files


def test_an_interrupted_download_leaves_no_partial_file(tmp_path: Path) -> None:
    """Ctrl-C while a download's parts are in flight (a server holds them, after the first part,
    which the worker wrote into the temporary file): exit status 130, no file at the destination,
    no temporary file beside it, and no wait for the server."""
    data = os.urandom(20 * MiB)
    with FaultServer(default=Hold()) as server:
        server.objects["/bucket/big.bin"] = data
        server.script(Serve(), Serve())  # the HEAD and the first part; the other parts wait
        opts = ("-o", f"endpoint={server.endpoint}", "-o", "access_key_id=a",
                "-o", "secret_access_key=s", "-o", "region=us-east-1", "-o", "allow_http=true")  # fmt: skip
        down = tmp_path / "down"
        down.mkdir()
        process = subprocess.Popen(
            [*CLI_HEARING_CTRL_C, "cp", "s3://bucket/big.bin", str(down / "big.bin"), *opts],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(server.requests) < 3:
            time.sleep(0.01)
        assert [r.method for r in server.requests[:3]] == ["HEAD", "GET", "GET"]
        assert list(down.iterdir())  # the temporary file, while the parts are held
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert list(down.iterdir()) == []
        server.release()


def test_sync_copies_what_differs_and_deletes_with_delete(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    first = ok(cli("sync", str(src), remote.url, opts=remote.opts))
    assert remote.keys() == TREE and len(first.stdout.splitlines()) == len(TREE)
    again = ok(cli("sync", str(src), remote.url, opts=remote.opts))
    assert again.stdout == ""  # nothing differs: nothing copied
    (src / "b.txt").write_bytes(b"changed size")
    (src / "new.txt").write_bytes(b"new")
    (src / "a.csv").unlink()
    third = ok(cli("sync", str(src), remote.url, opts=remote.opts))
    assert sorted(line.split()[1] for line in third.stdout.splitlines()) == sorted(
        [str(src / "b.txt"), str(src / "new.txt")]
    )
    assert "a.csv" in remote.keys()  # no --delete: kept
    ok(cli("sync", "--delete", str(src), remote.url, opts=remote.opts))
    assert remote.keys() == local_files(src)
    # Down, then the same again: the downloads took the objects' times, nothing is copied.
    down = tmp_path / "down"
    ok(cli("sync", remote.url, str(down), opts=remote.opts))
    assert local_files(down) == local_files(src)
    assert ok(cli("sync", remote.url, str(down), opts=remote.opts)).stdout == ""
    (down / "extra").write_bytes(b"x")
    result = ok(cli("sync", "--delete", "--dryrun", remote.url, str(down), opts=remote.opts))
    assert result.stdout.strip() == f"(dryrun) delete {down / 'extra'}"
    ok(cli("sync", "--delete", remote.url, str(down), opts=remote.opts))
    assert not (down / "extra").exists()


def test_sync_size_only_and_exact_timestamps(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"same-size": b"aaaa"})
    ok(cli("sync", str(src), remote.url, opts=remote.opts))
    down = tmp_path / "down"
    ok(cli("sync", remote.url, str(down), opts=remote.opts))
    (down / "same-size").write_bytes(b"bbbb")  # the same size, and newer than the object:
    later = time.time() + 3600
    os.utime(down / "same-size", (later, later))  # not copied by default
    assert ok(cli("sync", remote.url, str(down), opts=remote.opts)).stdout == ""
    assert ok(cli("sync", "--size-only", remote.url, str(down), opts=remote.opts)).stdout == ""
    ok(cli("sync", "--exact-timestamps", remote.url, str(down), opts=remote.opts))
    assert (down / "same-size").read_bytes() == b"aaaa"


def test_run_runs_a_batch_in_parallel_and_reports_each_failure(
    remote: Remote, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    batch = tmp_path / "batch.txt"
    batch.write_text(
        "# a comment, then blank\n\n"
        f"cp {src / 'a.csv'} {remote.url}one/a.csv\n"
        f"cp -r {src / 'sub'} {remote.url}two/\n"
        f"cp {remote.url}missing {tmp_path / 'never'}\n"
        f"pipe {remote.url}three\n"
    )  # fmt: skip
    errors = failed(cli("run", str(batch), opts=remote.opts))
    assert len(errors) == 1 and "batch.txt:5" in errors[0] and "missing" in errors[0]
    got = remote.keys()
    assert got["one/a.csv"] == TREE["a.csv"] and got["two/c.csv"] == TREE["sub/c.csv"]
    assert got["three"] == b""  # the batch's standard input was its file's: empty
    assert not (tmp_path / "never").exists()
    bad = tmp_path / "bad.txt"
    bad.write_text("frobnicate x\n")
    (error,) = failed(cli("run", str(bad)))
    assert "bad.txt:1" in error


def test_trees_to_and_from_snowflake_stages(
    stage: tuple[object, ros.SnowflakeConfig], tmp_path: Path
) -> None:
    """A stage is one more store: its URL and options as the configuration's (on S3 and Azure,
    encrypted or not); a file above the multipart threshold crosses it."""
    _, conf = stage
    spec = conf.spec()
    opts = tuple(arg for name, value in spec.options for arg in ("-o", f"{name}={value}"))
    files = {**TREE, "big.bin": os.urandom(10 * MiB + 1)}
    src = make_tree(tmp_path / "src", files)
    ok(cli("cp", "-r", str(src), spec.url + "cli/", opts=opts))
    down = tmp_path / "down"
    ok(cli("cp", "-r", spec.url + "cli/", str(down), opts=opts))
    assert local_files(down) == files
    listed = ok(cli("ls", "-r", spec.url + "cli/", opts=opts)).stdout.splitlines()
    assert len(listed) == len(files)


def test_the_credentials_and_endpoint_come_from_the_environment(
    moto_server: RunningServer, s3_bucket: str, tmp_path: Path
) -> None:
    """No -o at all: AWS_ENDPOINT_URL, the keys and the region from the environment, as the
    cloud's chain finds them; a --profile that does not exist is named."""
    endpoint = moto_server.endpoint
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}  # fmt: skip
    src = make_tree(tmp_path / "src", {"a.txt": b"from the environment"})
    run = subprocess.run([*CLI, "cp", "-r", str(src), f"s3://{s3_bucket}/env/"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    conf = s3_config(moto_server, s3_bucket)
    assert ros.get_object("env/a.txt", conf) == b"from the environment"
    run = subprocess.run([*CLI, "ls", f"s3://{s3_bucket}/", "--profile", "nosuchprofile"],
                         env=env, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 1 and "nosuchprofile" in run.stderr, run.stderr
