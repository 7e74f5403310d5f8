"""The command line's options each shown to work by a run of the installed command against real
servers, the result seen by another client or by the traffic itself: ``--workers`` bounds the
requests in flight, a copy within a cloud sends no object bytes through this machine, ``presign
--method PUT``, attributes on ``pipe``, ``mv --dryrun`` and ``-n``, filters on ``rm`` and
``sync``, ``run -``, ``du -H``, ``--profile`` and ``--anonymous``, the progress display on a
terminal, ``gs://`` reads on fake-gcs-server, and ``memory://`` within one batch."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
import urllib.request
from pathlib import Path

import pytest
from azure.storage.blob import PublicAccess
from cli_remote import (
    CLI,
    CLOUDS,
    KINDS,
    TREE,
    Remote,
    azure_container_client,
    cli,
    failed,
    local_files,
    make_tree,
    ok,
    seen_by_another_client,
)
from conftest import azure_config, minio_config
from emulators import (
    AZURITE_ACCOUNT,
    FAKE_GCS_KEY,
    MINIO_KEY,
    MINIO_SECRET,
    RunningServer,
    s3_client,
    upload_gcs_object,
)
from tap import tap

MiB = 1024 * 1024


def _small_tree(root: Path, n: int = 12) -> dict[str, bytes]:
    files = {f"f{i:02}.bin": os.urandom(1000 + i) for i in range(n)}
    make_tree(root, files)
    return files


@pytest.mark.parametrize("remote", ["minio"], indirect=True)
def test_workers_bounds_the_requests_in_flight(remote: Remote, tmp_path: Path) -> None:
    """Each answer held 50 ms by a tap in front of MinIO: with ``--workers 2`` no more than two
    requests wait at once, up and down; by default the same tree has many more in flight."""
    files = _small_tree(tmp_path / "src")
    with tap(remote.endpoint()) as (endpoint, traffic):
        tapped = remote.through(endpoint)
        ok(cli("cp", "-r", "--workers", "2", str(tmp_path / "src"), tapped.url + "two/",
               opts=tapped.opts))  # fmt: skip
        assert traffic.requests >= len(files) and traffic.most_waiting == 2, traffic
        traffic.most_waiting = 0
        down = tmp_path / "down"
        ok(cli("cp", "-r", "--workers", "2", tapped.url + "two/", str(down), opts=tapped.opts))
        assert local_files(down) == files
        assert traffic.most_waiting == 2, traffic
        traffic.most_waiting = 0
        ok(cli("cp", "-r", str(tmp_path / "src"), tapped.url + "all/", opts=tapped.opts))
        assert traffic.most_waiting > 4, traffic
    assert {k[4:]: v for k, v in seen_by_another_client(remote).items() if k[:4] == "all/"} == files


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)
def test_a_copy_within_a_cloud_store_moves_no_object_bytes_here(
    remote: Remote, tmp_path: Path
) -> None:
    """``cp`` and ``mv`` of a 6 MiB object within one store, through a tap: the store copies it,
    and what passes the tap is requests and answers, not the object."""
    data = os.urandom(6 * MiB)
    remote.put("big.bin", data)
    with tap(remote.endpoint(), latency=0) as (endpoint, traffic):
        tapped = remote.through(endpoint)
        ok(cli("cp", tapped.url + "big.bin", tapped.url + "copy.bin", opts=tapped.opts))
        ok(cli("mv", tapped.url + "copy.bin", tapped.url + "moved.bin", opts=tapped.opts))
        assert traffic.requests >= 2 and traffic.sent + traffic.received < 256 * 1024, traffic
    assert seen_by_another_client(remote) == {"big.bin": data, "moved.bin": data}


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)
def test_presign_put_lets_a_plain_http_client_write(remote: Remote) -> None:
    url = ok(cli("presign", "--method", "PUT", "--expires", "600", remote.url + "up.txt",
                 opts=remote.opts)).stdout.strip()  # fmt: skip
    request = urllib.request.Request(url, data=b"written by urllib", method="PUT")
    # urllib's default for a body is a form's type, which moto's server parses away
    request.add_header("Content-Type", "application/octet-stream")
    if remote.url.startswith("az://"):
        request.add_header("x-ms-blob-type", "BlockBlob")  # Azure's Put Blob asks for it
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status in (200, 201)
    assert seen_by_another_client(remote) == {"up.txt": b"written by urllib"}
    got = ok(cli("presign", remote.url + "up.txt", opts=remote.opts)).stdout.strip()
    with urllib.request.urlopen(got, timeout=30) as answer:
        assert answer.read() == b"written by urllib"


def _attributes_seen(remote: Remote, name: str) -> tuple[str, str, dict[str, str]]:
    """Content-Type, Cache-Control and user metadata of an object, as boto3 or the Azure SDK
    sees them."""
    if remote.url.startswith("s3://"):
        with remote.s3_client() as client:
            head = client.head_object(Bucket=remote.bucket(), Key=remote.prefix + name)
        return head["ContentType"], head.get("CacheControl", ""), head["Metadata"]
    with azure_container_client(remote.endpoint(), remote.bucket()) as container:
        props = container.get_blob_client(remote.prefix + name).get_blob_properties()
    settings = props.content_settings
    return settings.content_type or "", settings.cache_control or "", dict(props.metadata)


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)
def test_pipe_gives_the_attributes_asked_for(remote: Remote) -> None:
    ok(cli("pipe", "--content-type", "application/x-ndjson", "--cache-control", "no-store",
           "--metadata", "source=pipe", "--metadata", "run=7", remote.url + "events",
           opts=remote.opts, stdin=b'{"a": 1}\n'))  # fmt: skip
    assert _attributes_seen(remote, "events") == (
        "application/x-ndjson",
        "no-store",
        {"source": "pipe", "run": "7"},
    )
    assert seen_by_another_client(remote) == {"events": b'{"a": 1}\n'}
    ok(cli("pipe", remote.url + "notes.csv", opts=remote.opts, stdin=b"1,2\n"))
    assert _attributes_seen(remote, "notes.csv")[0] == "text/csv"  # guessed from the name


@pytest.mark.parametrize("remote", KINDS, indirect=True)
def test_mv_dryrun_moves_nothing_and_no_clobber_keeps_both_sides(
    remote: Remote, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    result = ok(cli("mv", "-r", "--dryrun", str(src), remote.url, opts=remote.opts))
    lines = result.stdout.splitlines()
    assert len(lines) == len(TREE) and all(line.startswith("(dryrun) mv ") for line in lines)
    assert local_files(src) == TREE and remote.keys() == {}
    remote.put("a.csv", b"there first")
    result = ok(cli("mv", "-r", "-n", str(src), remote.url, opts=remote.opts))
    assert "1 skipped" in result.stderr
    assert remote.keys() == {**TREE, "a.csv": b"there first"}
    assert local_files(src) == {"a.csv": TREE["a.csv"]}  # the one not moved stays
    # within the store: a taken destination keeps its bytes, and the source stays
    result = ok(cli("mv", "-n", remote.url + "b.txt", remote.url + "a.csv", opts=remote.opts))
    assert "1 skipped" in result.stderr
    assert remote.keys() == {**TREE, "a.csv": b"there first"}


@pytest.mark.parametrize("remote", KINDS, indirect=True)
def test_rm_and_sync_follow_include_and_exclude(remote: Remote, tmp_path: Path) -> None:
    for name, data in TREE.items():
        remote.put(name, data)
    removed = ok(cli("rm", "-r", "--exclude", "*.csv", "--include", "sub/deeper/e.csv",
                     remote.url, opts=remote.opts)).stdout.splitlines()  # fmt: skip
    assert len(removed) == 4, removed
    assert remote.keys() == {"a.csv": TREE["a.csv"], "sub/c.csv": TREE["sub/c.csv"]}
    src = make_tree(tmp_path / "src")
    for path in src.rglob("*"):
        os.utime(path, (946684800, 946684800))  # 2000: older than every object
    synced = ok(cli("sync", "--delete", "--exclude", "sub/*", "--include", "sub/deeper/*.bin",
                    str(src), remote.url, opts=remote.opts)).stdout.splitlines()  # fmt: skip
    # a.csv is older on disk and of the same size: it stays; sub/c.csv is excluded, so neither
    # copied nor deleted
    assert sorted(line.split()[0] for line in synced) == ["cp", "cp", "cp"], synced
    assert remote.keys() == {
        name: data for name, data in TREE.items() if name in ("a.csv", "b.txt", "empty.txt",
                                                              "sub/c.csv", "sub/deeper/d.bin")
    }  # fmt: skip


@pytest.mark.parametrize("remote", KINDS, indirect=True)
def test_run_reads_its_commands_from_standard_input(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    batch = "\n".join([
        "# a comment, then commands as they would follow the program's name",
        f"cp {src / 'a.csv'} {remote.url}one.csv",
        f"cp -r {src / 'sub'} {remote.url}sub/",
        f"cat {remote.url}no-such-key",
        "",
    ])  # fmt: skip
    result = cli("run", "-", opts=remote.opts, stdin=batch.encode())
    (error,) = failed(result)
    assert "no-such-key" in error
    sub = {k: v for k, v in TREE.items() if k.startswith("sub/")}
    assert remote.keys() == {"one.csv": TREE["a.csv"], **sub}


@pytest.mark.parametrize("remote", KINDS, indirect=True)
def test_du_human_readable(remote: Remote) -> None:
    remote.put("big", b"x" * (3 * MiB + 512 * 1024))
    remote.put("small", b"y" * 2048)
    assert ok(cli("du", "-H", remote.url, opts=remote.opts)).stdout == (
        f"3.5 MiB in 2 objects: {remote.url}\n"
    )
    assert ok(cli("du", "--human-readable", remote.url + "s*", opts=remote.opts)).stdout == (
        f"2.0 KiB in 1 object: {remote.url}s*\n"
    )
    assert ok(cli("du", remote.url, opts=remote.opts)).stdout.startswith(
        f"{3 * MiB + 512 * 1024 + 2048} bytes in 2 objects"
    )


def _no_aws_environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws of this machine's user
    return env


def test_a_profile_of_the_shared_files_reaches_its_store(
    minio_server: RunningServer, minio_bucket: str, tmp_path: Path
) -> None:
    """``--profile``: keys from a credentials file, the region and the endpoint from a config
    file (both named by the environment, as the AWS CLI has them); nothing else is set."""
    credentials, config = tmp_path / "credentials", tmp_path / "config"
    credentials.write_text(
        f"[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n"
        f"[etl]\naws_access_key_id = {MINIO_KEY}\naws_secret_access_key = {MINIO_SECRET}\n"
    )
    config.write_text(
        f"[profile etl]\nregion = us-east-1\nendpoint_url = {minio_server.endpoint}\n"
    )
    env = {**_no_aws_environment(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
           "AWS_CONFIG_FILE": str(config), "AWS_ALLOW_HTTP": "true"}  # fmt: skip

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *argv], env=env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip

    src = make_tree(tmp_path / "src")
    ok(run("cp", "-r", "--profile", "etl", str(src), f"s3://{minio_bucket}/p/"))
    remote = Remote(f"s3://{minio_bucket}/p/", (), minio_config(minio_server, minio_bucket), "p/")
    assert seen_by_another_client(remote) == TREE
    listed = ok(run("ls", "-r", "--profile", "etl", f"s3://{minio_bucket}/p/")).stdout
    assert len(listed.splitlines()) == len(TREE)
    refused = run("ls", f"s3://{minio_bucket}/p/")  # the default profile's keys are wrong
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr


def test_anonymous_reads_a_public_bucket_and_container_and_may_not_write(
    minio_server: RunningServer, minio_bucket: str, azurite_server: RunningServer,
    azure_container: str, tmp_path: Path,
) -> None:  # fmt: skip
    """``--anonymous`` with no credentials anywhere: a bucket whose policy lets anyone read and
    list, and a container with public access, are read; a write is refused by the server."""
    s3 = s3_client(minio_server.endpoint)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{minio_bucket}/*"]},
        {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{minio_bucket}"]},
    ]}  # fmt: skip
    with contextlib.closing(s3):
        s3.put_object(Bucket=minio_bucket, Key="open/data.txt", Body=b"for everyone")
        s3.put_bucket_policy(Bucket=minio_bucket, Policy=json.dumps(policy))
    endpoint = dict(azure_config(azurite_server, azure_container).spec().options)["endpoint"]
    with azure_container_client(endpoint, azure_container) as container:
        container.upload_blob("open/data.txt", b"for everyone")
        container.set_container_access_policy({}, public_access=PublicAccess.CONTAINER)
    env = _no_aws_environment(tmp_path)
    env = {k: v for k, v in env.items() if not k.startswith("AZURE_")}
    places = [
        (f"s3://{minio_bucket}/", ("-o", f"endpoint={minio_server.endpoint}",
                                   "-o", "region=us-east-1", "-o", "allow_http=true")),
        (f"az://{azure_container}/", ("-o", f"endpoint={endpoint}",
                                      "-o", f"account_name={AZURITE_ACCOUNT}",
                                      "-o", "allow_http=true")),
    ]  # fmt: skip
    for url, opts in places:

        def run(*argv: str, opts: tuple[str, ...] = opts) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*CLI, *argv, "--anonymous", *opts], env=env,
                                  capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

        assert ok(run("cat", url + "open/data.txt")).stdout == "for everyone"
        assert "open/data.txt" in ok(run("ls", "-r", url)).stdout
        down = tmp_path / url.split(":")[0]
        ok(run("cp", "-r", url + "open/", str(down)))
        assert local_files(down) == {"data.txt": b"for everyone"}
        (error,) = failed(run("cp", str(down / "data.txt"), url + "open/new.txt"))
        assert "denied" in error.lower() or "403" in error or "401" in error, error


def test_the_progress_display_draws_on_a_terminal(tmp_path: Path) -> None:
    """Standard error a terminal (a pseudo-terminal here): tqdm's bar with the files and bytes;
    the same run with ``--quiet`` draws nothing."""
    src = make_tree(tmp_path / "src")
    store = tmp_path / "store"
    store.mkdir()

    def drawn(*extra: str) -> str:
        leader, follower = pty.openpty()
        # a terminal of 100 columns: a new pseudo-terminal has none, and tqdm fits its width
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        process = subprocess.Popen(
            [*CLI, "cp", "-r", *extra, str(src), f"{store.as_uri()}/run{len(extra)}/"],
            stdout=subprocess.DEVNULL, stderr=follower,
        )  # fmt: skip
        os.close(follower)
        shown = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal's other end closed: the command is done
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
        os.close(leader)
        assert process.wait(timeout=60) == 0, shown
        return shown.decode(errors="replace")

    shown = drawn()
    assert re.search(rf"\d/{len(TREE)} files", shown) and "B/s" in shown and "\r" in shown, shown
    assert f"copied {len(TREE)} object(s), 303.9 KiB" in shown  # the summary stays
    assert drawn("--quiet") == ""


def test_gs_urls_list_read_and_download_a_tree(
    gcs_server: RunningServer, gcs_bucket: str, tmp_path: Path
) -> None:
    """``gs://`` on fake-gcs-server: the tree is stored through the emulator's own JSON API (it
    takes no XML-API write, which is how object_store writes), then listed, measured, read and
    copied down by the command line."""
    for name, data in TREE.items():
        upload_gcs_object(gcs_server.endpoint, gcs_bucket, "t/" + name, data)
    url = f"gs://{gcs_bucket}/t/"
    opts = ("-o", f"base_url={gcs_server.endpoint}", "-o", f"service_account_key={FAKE_GCS_KEY}",
            "-o", "allow_http=true")  # fmt: skip
    listed = ok(cli("ls", "-r", url, opts=opts)).stdout.splitlines()
    assert sorted(line.split()[-1] for line in listed) == sorted("t/" + name for name in TREE)
    total = sum(len(data) for data in TREE.values())
    assert ok(cli("du", url, opts=opts)).stdout.startswith(f"{total} bytes in {len(TREE)} objects")
    assert ok(cli("cat", url + "b.txt", opts=opts)).stdout == TREE["b.txt"].decode()
    meta = json.loads(ok(cli("stat", "--json", url + "sub/c.csv", opts=opts)).stdout)
    assert meta["size"] == len(TREE["sub/c.csv"]), meta
    down = tmp_path / "down"
    ok(cli("cp", "-r", url, str(down), opts=opts))
    assert local_files(down) == TREE
    only = tmp_path / "only"
    ok(cli("cp", url + "**/*.csv", str(only) + "/", opts=opts))
    assert local_files(only) == {k: v for k, v in TREE.items() if k.endswith(".csv")}


def test_memory_urls_are_a_scratch_space_the_lines_of_a_batch_share(tmp_path: Path) -> None:
    """``memory:///`` lives in the command's worker: in one ``run`` batch (``--workers 1``: in
    order) a tree goes up, is copied and listed there, and comes down; the next command finds it
    gone."""
    src = make_tree(tmp_path / "src")
    down = tmp_path / "down"
    batch = "\n".join([
        f"cp -r {src} memory:///t/",
        "cp -r memory:///t/ memory:///u/",
        f"cp -r memory:///u/sub/ {down}/",
        "du memory:///u/",
    ])  # fmt: skip
    result = ok(cli("run", "--workers", "1", "-", stdin=batch.encode()))
    total = sum(len(data) for data in TREE.values())
    assert f"{total} bytes in {len(TREE)} objects: memory:///u/" in result.stdout
    assert local_files(down) == {k[4:]: v for k, v in TREE.items() if k.startswith("sub/")}
    (error,) = failed(cli("cat", "memory:///t/a.csv"))
    assert "not found" in error.lower(), error


ODD_NAMES = {
    "dir with space/a b.txt": b"1",
    "ünïcødé/naïve.csv": b"2",
    "url chars/#hash%41 ?q=1&x=+.txt": b"3",
    'quotes/it\'s "quoted".txt': b"4",
}


@pytest.mark.parametrize("remote", KINDS, indirect=True)
def test_names_with_spaces_unicode_and_url_characters_go_up_and_down_as_they_are(
    remote: Remote, tmp_path: Path
) -> None:
    """Keys are the names as they are, as another client lists them: no percent-encoding left in
    them, nothing read as a URL's query or fragment; and they come back down to the same names."""
    src = make_tree(tmp_path / "src", ODD_NAMES)
    ok(cli("cp", "-r", str(src), remote.url, opts=remote.opts))
    assert remote.keys() == ODD_NAMES
    down = tmp_path / "down"
    ok(cli("cp", "-r", remote.url, str(down), opts=remote.opts))
    assert local_files(down) == ODD_NAMES
    one = "dir with space/a b.txt"
    assert ok(cli("cat", remote.url + one, opts=remote.opts)).stdout == "1"
    ok(cli("cp", remote.url + one, remote.url + "copied/a b.txt", opts=remote.opts))
    assert remote.keys()["copied/a b.txt"] == b"1"
    listed = ok(cli("ls", "-r", remote.url, opts=remote.opts)).stdout
    assert all(name in listed for name in ODD_NAMES), listed


@pytest.mark.parametrize("remote", KINDS, indirect=True)
def test_pipe_and_cat_across_the_thresholds(remote: Remote) -> None:
    """Standard input to an object and an object to standard output, below, at and above the
    8 MiB chunk ``pipe`` reads and streams write, and the multipart thresholds (8 MiB for gets,
    10 MiB for puts); what is stored is what another client reads."""
    sent = {}
    for size in (0, 1, 8 * MiB - 1, 8 * MiB, 8 * MiB + 1, 10 * MiB + 1, 17 * MiB):
        data = sent[f"p{size}"] = os.urandom(size)
        name = f"p{size}"
        done = subprocess.run([*CLI, "pipe", remote.url + name, *remote.opts], input=data,
                              capture_output=True, timeout=180, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        read = subprocess.run([*CLI, "cat", remote.url + name, *remote.opts],
                              capture_output=True, timeout=180, check=False)  # fmt: skip
        assert read.returncode == 0 and read.stdout == data, (size, read.stderr)
    assert remote.keys() == sent


@pytest.mark.parametrize("remote", KINDS, indirect=True)
def test_fsync_downloads_whole_files_and_version_names_the_worker(
    remote: Remote, tmp_path: Path
) -> None:
    """``--fsync`` by the installed command, one object and a tree, small (in batches) and
    bigger than a batch's (in parts): the files are whole (that each is synced first is checked
    in-process, in test_cli). ``--version`` names the package, the protocol and the worker."""
    files = {"small.bin": os.urandom(1000), "big.bin": os.urandom(9 * MiB)}
    for name, data in files.items():
        remote.put(name, data)
    ok(cli("cp", "--fsync", remote.url + "big.bin", str(tmp_path / "one.bin"), opts=remote.opts))
    assert (tmp_path / "one.bin").read_bytes() == files["big.bin"]
    down = tmp_path / "down"
    ok(cli("cp", "-r", "--fsync", remote.url, str(down), opts=remote.opts))
    assert local_files(down) == files
    shown = ok(cli("--version")).stdout
    assert shown.startswith("rustyobjectstore ") and "protocol" in shown and "worker:" in shown
