"""The command line on the clouds' servers (MinIO, moto, Azurite), checked by another client
(boto3, the Azure SDK), not by this library: copies within a store and between two clouds,
``cat``, ``stat`` with attributes, ``sync`` between stores, a write the server refuses, missing
sources, ``--quiet``, ``abfs://`` and Azure's endpoint from the environment; and every command's
``--help`` with its example."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from cli_remote import (
    CLI,
    CLI_HEARING_CTRL_C,
    CLOUDS,
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
    AZURITE_KEY,
    MINIO_KEY,
    MINIO_SECRET,
    RunningServer,
    add_proxy,
    s3_client,
    slow_down,
    start_toxiproxy,
)

MiB = 1024 * 1024
COMMANDS = ["cp", "mv", "rm", "ls", "du", "cat", "pipe", "stat", "presign", "sync", "run"]


def test_every_command_has_help_with_an_example() -> None:
    for command in COMMANDS:
        shown = ok(cli(command, "--help"))
        assert shown.stdout.startswith(f"usage: rustyobjectstore {command}"), shown.stdout
        assert "example:" in shown.stdout and f"rustyobjectstore {command} " in shown.stdout


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)
def test_copies_within_a_cloud_store_and_cat_as_another_client_sees_them(
    remote: Remote, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    ok(cli("cp", "-r", str(src), remote.url + "src/", opts=remote.opts))
    ok(cli("cp", remote.url + "src/b.txt", remote.url + "one.txt", opts=remote.opts))
    ok(cli("cp", "-r", remote.url + "src/sub/", remote.url + "copy/", opts=remote.opts))
    seen = seen_by_another_client(remote)
    assert {k[4:]: v for k, v in seen.items() if k.startswith("src/")} == TREE
    assert seen["one.txt"] == TREE["b.txt"]
    sub = {k[4:]: v for k, v in TREE.items() if k.startswith("sub/")}
    assert {k[5:]: v for k, v in seen.items() if k.startswith("copy/")} == sub
    assert (
        ok(cli("cat", remote.url + "copy/c.csv", opts=remote.opts)).stdout.encode()
        == (TREE["sub/c.csv"])
    )


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)
def test_a_missing_source_fails_clearly_and_writes_nothing(remote: Remote, tmp_path: Path) -> None:
    missing = remote.url + "no-such-key"
    for argv in (("cat", missing), ("stat", missing), ("cp", missing, str(tmp_path / "out"))):
        (error,) = failed(cli(*argv, opts=remote.opts))
        assert "no-such-key" in error and "not found" in error.lower(), error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)
def test_stat_shows_the_attributes_an_upload_gave(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"t.csv": b"1,2\n"})
    ok(cli("cp", "--cache-control", "max-age=60", "--metadata", "owner=etl",
           str(src / "t.csv"), remote.url + "t.csv", opts=remote.opts))  # fmt: skip
    meta = json.loads(ok(cli("stat", "--json", remote.url + "t.csv", opts=remote.opts)).stdout)
    attributes = meta["attributes"]
    assert attributes["Content-Type"] == "text/csv", meta
    assert attributes["Cache-Control"] == "max-age=60" and attributes["owner"] == "etl", meta
    shown = ok(cli("stat", remote.url + "t.csv", opts=remote.opts)).stdout.splitlines()
    assert "attribute owner: etl" in shown and "attribute Cache-Control: max-age=60" in shown


@pytest.mark.parametrize("remote", CLOUDS, indirect=True)
def test_quiet_prints_nothing_but_the_result_is_whole(remote: Remote, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    done = ok(cli("cp", "-r", "--quiet", str(src), remote.url, opts=remote.opts))
    assert done.stdout == "" and done.stderr == ""
    assert seen_by_another_client(remote) == TREE
    (error,) = failed(cli("cp", "--quiet", remote.url + "absent", str(tmp_path / "x"),
                          opts=remote.opts))  # fmt: skip
    assert "absent" in error  # failures are still told


def _two_clouds_env(minio: RunningServer, azurite: RunningServer, container: str) -> dict[str, str]:
    """Each cloud's credentials and endpoint from its own variables: one ``-o`` set cannot name
    two endpoints, and these do not collide."""
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={dict(azure_config(azurite, container).spec().options)['endpoint']};"
    )
    return {**os.environ, "AWS_ENDPOINT_URL": minio.endpoint, "AWS_ACCESS_KEY_ID": MINIO_KEY,
            "AWS_SECRET_ACCESS_KEY": MINIO_SECRET, "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true", "AZURE_STORAGE_CONNECTION_STRING": connection,
            "AZURE_ALLOW_HTTP": "true"}  # fmt: skip


def test_a_tree_streams_between_two_clouds_and_syncs_back(
    minio_server: RunningServer, minio_bucket: str, azurite_server: RunningServer,
    azure_container: str, tmp_path: Path,
) -> None:  # fmt: skip
    """MinIO to Azurite and back, with the endpoints from the environment (Azure's from its
    connection string), checked by boto3 and the Azure SDK."""
    env = _two_clouds_env(minio_server, azurite_server, azure_container)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *argv], env=env, capture_output=True, text=True,
                              timeout=180, check=False)  # fmt: skip

    s3 = Remote(f"s3://{minio_bucket}/t/", (), minio_config(minio_server, minio_bucket), "t/")
    az = Remote(f"az://{azure_container}/t/", (), azure_config(azurite_server, azure_container),
                "t/")  # fmt: skip
    ok(run("cp", "-r", str(make_tree(tmp_path / "src")), s3.url))
    ok(run("cp", "-r", s3.url, az.url))
    assert seen_by_another_client(az) == TREE
    ok(run("cp", "-r", az.url, s3.url + "back/"))
    assert {k[5:]: v for k, v in seen_by_another_client(s3).items() if k.startswith("back/")} == (
        TREE
    )
    # sync between the two: only what differs goes (MinIO's t/ is older than Azure's copy of it,
    # but for the object changed since), and --delete removes what Azure alone has
    s3.put("b.txt", b"changed on MinIO")
    az.put("extra", b"only on Azure")
    synced = ok(run("sync", "--delete", "--exclude", "back/*", s3.url, az.url)).stdout.splitlines()
    assert len(synced) == 2, synced  # the copy and the delete
    assert any("b.txt" in line for line in synced) and any("extra" in line for line in synced)
    assert seen_by_another_client(az) == {**TREE, "b.txt": b"changed on MinIO"}


def test_a_write_the_server_refuses_is_listed_and_leaves_nothing(
    azurite_server: RunningServer, azure_container: str, tmp_path: Path
) -> None:
    """A SAS that may read and list but not write: each upload is refused by Azurite (403),
    listed once, and the exit status is 1; nothing is written, as the SDK with the key sees."""
    sas = generate_container_sas(
        AZURITE_ACCOUNT, azure_container, account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )  # fmt: skip
    endpoint = dict(azure_config(azurite_server, azure_container).spec().options)["endpoint"]
    opts = ("-o", f"endpoint={endpoint}", "-o", f"account_name={AZURITE_ACCOUNT}",
            "-o", f"sas_token={sas}", "-o", "allow_http=true")  # fmt: skip
    src = make_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c"})
    errors = failed(cli("cp", "-r", str(src), f"az://{azure_container}/ro/", opts=opts))
    assert len(errors) == 2 and all("permission" in e.lower() or "403" in e for e in errors), errors
    with azure_container_client(endpoint, azure_container) as container:
        assert list(container.list_blobs()) == []
    # what it may do, it does: the listing is empty, not an error
    assert ok(cli("ls", "-r", f"az://{azure_container}/", opts=opts)).stdout == ""


def test_abfs_urls_reach_the_same_container(
    azurite_server: RunningServer, azure_container: str, tmp_path: Path
) -> None:
    conf = azure_config(azurite_server, azure_container)
    opts = tuple(arg for name, value in conf.spec().options for arg in ("-o", f"{name}={value}"))
    src = make_tree(tmp_path / "src")
    ok(cli("cp", "-r", str(src), f"abfs://{azure_container}/lake/", opts=opts))
    remote = Remote(f"az://{azure_container}/lake/", opts, conf, "lake/")
    assert seen_by_another_client(remote) == TREE
    listed = ok(cli("ls", "-r", f"abfs://{azure_container}/lake/", opts=opts)).stdout
    assert len(listed.splitlines()) == len(TREE)
    down = tmp_path / "down"
    ok(cli("cp", "-r", f"abfs://{azure_container}/lake/", str(down), opts=opts))
    assert local_files(down) == TREE


def test_an_interrupted_upload_leaves_no_object_and_no_upload(
    minio_server: RunningServer, minio_bucket: str, tmp_path: Path
) -> None:
    """Ctrl-C while a multipart upload's parts are on their way to MinIO (behind toxiproxy, each
    answer 300 ms late): exit status 130, no object, and no multipart upload left behind, as boto3
    sees MinIO directly."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40 * MiB))
    client = s3_client(minio_server.endpoint)
    with start_toxiproxy() as toxiproxy, contextlib.closing(client):
        slow = add_proxy(toxiproxy.endpoint, "minio", minio_server.endpoint)
        slow_down(toxiproxy.endpoint, "minio", 300)
        opts = ("-o", f"endpoint={slow}", "-o", f"access_key_id={MINIO_KEY}",
                "-o", f"secret_access_key={MINIO_SECRET}", "-o", "region=us-east-1",
                "-o", "allow_http=true")  # fmt: skip
        process = subprocess.Popen(
            [*CLI_HEARING_CTRL_C, "cp", str(big), f"s3://{minio_bucket}/big.bin", *opts],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not client.list_multipart_uploads(
            Bucket=minio_bucket
        ).get("Uploads"):
            time.sleep(0.05)
        assert client.list_multipart_uploads(Bucket=minio_bucket).get("Uploads")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert client.list_objects_v2(Bucket=minio_bucket).get("KeyCount") == 0
        assert not client.list_multipart_uploads(Bucket=minio_bucket).get("Uploads")
