"""Snowflake stages (``SnowflakeConfig``) on four variants, as RustyObjectStore.jl tests them: a
stage on S3 (moto) or on Azure (Azurite), client-side encrypted or not, behind the fake gateway
of ``sfgateway.py``. What the worker writes to an encrypted stage is decrypted here a second
time, by this file's own code from the format's description, with the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import STAGE_OPTS, config_for, own_pool
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from emulators import MINIO_KEY, MINIO_SECRET
from sfgateway import PASSWORD, USERNAME, AzureBackend, Gateway, S3Backend

import rustyobjectstore as ros
from rustyobjectstore import SnowflakeConfig


def independently_decrypted(gateway: Gateway, key: str) -> bytes:
    """The plaintext of the stage file ``key``, from its stored bytes and metadata alone, by
    Snowflake's description of the format: the content key is AES-ECB-wrapped (PKCS#5) under the
    master key its ``queryId`` names; the content is AES-128-CBC (PKCS#5) or AES-256-GCM."""
    stored, metadata = gateway.backend.read(gateway.stage_file(key))
    if isinstance(gateway.backend, S3Backend):
        matdesc = json.loads(metadata["x-amz-matdesc"])
        wrapped = base64.b64decode(metadata["x-amz-key"])
        iv = base64.b64decode(metadata["x-amz-iv"])
        algorithm = metadata.get("x-amz-cek-alg", "AES/CBC/PKCS5Padding")
        # Written by single puts; an upload in parts starts before its size is known.
        plain_len = metadata.get("x-amz-unencrypted-content-length")
    else:
        plain_len = None
        matdesc = json.loads(metadata["matdesc"])
        data = json.loads(metadata["encryptiondata"])
        assert data["EncryptionMode"] == "FullBlob"
        assert data["WrappedContentKey"]["KeyId"] == "symmKey1"
        wrapped = base64.b64decode(data["WrappedContentKey"]["EncryptedKey"])
        iv = base64.b64decode(data["ContentEncryptionIV"])
        algorithm = {"AES_CBC_128": "AES/CBC/PKCS5Padding", "AES_CBC_256": "AES/CBC/PKCS5Padding",
                     "AES_GCM_256": "AES/GCM/NoPadding"}[
            data["EncryptionAgent"]["EncryptionAlgorithm"]]  # fmt: skip
    assert matdesc["keySize"] == "128"
    master = gateway.keys[matdesc["queryId"]]
    unwrap = Cipher(algorithms.AES(master), modes.ECB()).decryptor()
    unpad = padding.PKCS7(128).unpadder()
    content_key = unpad.update(unwrap.update(wrapped) + unwrap.finalize()) + unpad.finalize()
    if algorithm == "AES/GCM/NoPadding":
        assert len(content_key) == 32 and len(iv) == 12
        plain = AESGCM(content_key).decrypt(iv, stored, b"AES/GCM/NoPadding")
    elif stored:
        assert algorithm == "AES/CBC/PKCS5Padding"
        assert len(content_key) == 16 and len(iv) == 16
        decryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).decryptor()
        unpad = padding.PKCS7(128).unpadder()
        plain = unpad.update(decryptor.update(stored) + decryptor.finalize()) + unpad.finalize()
    else:
        plain = b""
    assert plain_len is None or int(plain_len) == len(plain)
    return plain


SIZES = [0, 1, 15, 16, 17, 1000, 3 * 1024 * 1024 + 5]


def payload(size: int) -> bytes:
    period = bytes((i * 7 + size) % 251 for i in range(251))
    return (period * (size // 251 + 1))[:size]


def test_objects_of_every_size_round_trip_and_land_under_the_stage_prefix(
    stage: tuple[Gateway, SnowflakeConfig],
) -> None:
    gateway, conf = stage
    for size in SIZES:
        data = payload(size)
        key = f"sizes/{size}.bin"
        assert ros.put_object(key, data, conf) == size
        assert ros.get_object(key, conf) == data
        assert ros.head_object(key, conf).size == size
        stored, _ = gateway.backend.read(gateway.stage_file(key))
        if gateway.encrypted:
            assert stored != data or size == 0
            assert independently_decrypted(gateway, key) == data
        else:
            assert stored == data
    assert gateway.backend.keys() == sorted(gateway.stage_file(f"sizes/{s}.bin") for s in SIZES)


MiB = 1024 * 1024
# Thresholds small enough that sizes below, at and above each, and objects of several parts, stay
# a few MiB (S3 takes no part under 5 MiB); the default thresholds are crossed below too.
SMALL_THRESHOLDS = {"multipart_put_threshold": 6 * MiB, "multipart_put_part_size": 5 * MiB,
                    "multipart_get_threshold": 2 * MiB, "multipart_get_part_size": MiB}  # fmt: skip
PUT_SIZES = [6 * MiB - 1, 6 * MiB, 6 * MiB + 1, 10 * MiB + 5]  # the last: three parts
# The first three: CBC ciphertexts of 1 MiB - 16, 1 MiB and 1 MiB + 16, around the size up to
# which an object of unknown plaintext size is read whole.
GET_SIZES = [MiB - 17, MiB - 16, MiB, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 3 * MiB + 5]


def test_every_transfer_crosses_the_multipart_thresholds(
    stage: tuple[Gateway, SnowflakeConfig], tmp_path: Path
) -> None:
    cross_the_thresholds(*stage, tmp_path)


@pytest.mark.parametrize("cloud", ["s3", "azure"])
def test_gcm_stages_cross_the_thresholds_too(gateway_of: Any, cloud: str, tmp_path: Path) -> None:
    gateway = gateway_of(cloud, True)
    cross_the_thresholds(gateway, config_for(gateway, encryption_scheme="AES_256_GCM"), tmp_path)


def cross_the_thresholds(gateway: Gateway, conf: SnowflakeConfig, tmp_path: Path) -> None:
    """Puts, file uploads and write streams below, at and above the multipart put threshold and
    over several parts; gets, ranges (one and several), downloads, read streams and readers
    likewise around the multipart get threshold, and around the 1 MiB below which an object of
    unknown plaintext size is read whole. Every call runs under a deadline: none may wait for
    ever. The reads run on fresh workers, which have learnt no plaintext size yet."""
    with own_pool(n_workers=2, **SMALL_THRESHOLDS), ros.deadline(120):
        for size in PUT_SIZES + GET_SIZES:
            data = payload(size)
            source = tmp_path / "source.bin"
            source.write_bytes(data)
            for how in ("put", "file", "stream"):
                key = f"t/{how}-{size}"
                if how == "put":
                    assert ros.put_object(key, data, conf) == size
                elif how == "file":
                    assert ros.put_object_from_file(key, source, conf) == size
                else:
                    with ros.put_object_stream(key, conf) as writer:
                        writer.write(data[: size // 3])
                        writer.write(data[size // 3 :])
                assert ros.head_object(key, conf).size == size
                if gateway.encrypted:
                    assert independently_decrypted(gateway, key) == data
                else:
                    assert gateway.backend.read(gateway.stage_file(key))[0] == data
    with own_pool(n_workers=2, **SMALL_THRESHOLDS), ros.deadline(120):
        listed = {m.path: m.size for m in ros.list_objects("t/", conf)}
        assert listed == {f"t/{how}-{size}": size for size in PUT_SIZES + GET_SIZES
                          for how in ("put", "file", "stream")}  # fmt: skip
    for how in ("put", "stream"):  # on S3, single puts carry their plaintext size, parts do not
        with own_pool(n_workers=2, **SMALL_THRESHOLDS), ros.deadline(120):
            for size in PUT_SIZES + GET_SIZES:
                read_every_way(f"t/{how}-{size}", payload(size), conf, tmp_path)


def read_every_way(key: str, data: bytes, conf: SnowflakeConfig, tmp_path: Path) -> None:
    size = len(data)
    assert ros.get_object(key, conf) == data
    assert ros.get_object_into(key, bytearray(size + 1), conf) == size
    assert ros.get_object_to_file(key, tmp_path / "back.bin", conf) == size
    assert (tmp_path / "back.bin").read_bytes() == data
    with ros.get_object_stream(key, conf) as stream:
        assert stream.read() == data
    middle = size // 2  # a range across a part's edge, then a read from a reader
    start = max(0, middle - MiB // 2)
    assert ros.get_object_range(key, start, middle + MiB, conf) == data[start : middle + MiB]
    with ros.open_reader(key, conf) as reader:
        reader.seek(middle)
        assert reader.read(MiB + 3) == data[middle : middle + MiB + 3]
    spans = [(0, 1), (15, 33), (start, middle), (size - 17, size), (size - 1, size)]
    assert ros.get_object_ranges(key, spans, conf) == [data[a:b] for a, b in spans]
    assert ros.get_object_range(key, size - 16, None, conf) == data[-16:]


def test_an_object_above_the_default_multipart_threshold_round_trips(
    stage: tuple[Gateway, SnowflakeConfig], tmp_path: Path
) -> None:
    """16 MiB at the pool's default thresholds (10 MiB put, 8 MiB get): on an encrypted stage
    this put once never returned."""
    gateway, conf = stage
    data = payload(16 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    with ros.deadline(120):
        assert ros.put_object("big/put", data, conf) == len(data)
        assert ros.put_object_from_file("big/file", source, conf) == len(data)
        assert ros.get_object("big/put", conf) == data
        assert ros.get_object_to_file("big/file", tmp_path / "back.bin", conf) == len(data)
    assert (tmp_path / "back.bin").read_bytes() == data
    if gateway.encrypted:
        assert independently_decrypted(gateway, "big/file") == data


@pytest.mark.parametrize("cloud", ["s3", "azure"])
def test_a_single_put_above_32_mib_of_ciphertext_goes_up_in_parts(
    gateway_of: Any, cloud: str
) -> None:
    """A put the pool sends whole (its multipart threshold raised) whose ciphertext is below, at
    and above the 32 MiB from which the worker sends it in parts."""
    gateway = gateway_of(cloud, True)
    conf = config_for(gateway)
    with own_pool(n_workers=1, multipart_put_threshold=40 * MiB, arena_size=128 * MiB):
        for size in (32 * MiB - 17, 32 * MiB - 16, 32 * MiB):  # ciphertext 32 MiB - 16, 32, + 16
            data = payload(size)
            assert ros.put_object("single", data, conf) == size
            assert independently_decrypted(gateway, "single") == data
            assert ros.get_object("single", conf) == data


def test_reads_cut_ranges_and_refuse_a_small_buffer(stage: tuple[Gateway, SnowflakeConfig]) -> None:
    _, conf = stage
    data = payload(100_000)
    ros.put_object("ranges.bin", data, conf)
    assert ros.get_object_range("ranges.bin", 10, 20, conf) == data[10:20]
    assert ros.get_object_range("ranges.bin", 99_990, None, conf) == data[99_990:]
    assert ros.get_object_ranges("ranges.bin", [(0, 5), (50_000, 50_100), (99_999, 100_000)],
                                 conf) == [data[:5], data[50_000:50_100], data[99_999:]]  # fmt: skip
    with ros.open_reader("ranges.bin", conf) as reader:
        reader.seek(-7, io.SEEK_END)
        assert reader.read() == data[-7:]
    with pytest.raises(ros.BufferTooSmallError):
        ros.get_object_into("ranges.bin", bytearray(10), conf)
    with pytest.raises(ros.NotFoundError):
        ros.get_object("doesnt_exist.csv", conf)


def test_streams_and_files_round_trip(
    stage: tuple[Gateway, SnowflakeConfig], tmp_path: Path
) -> None:
    gateway, conf = stage
    chunks = [payload(1 << 20), payload(7), payload(3 << 20)]
    with ros.put_object_stream("streamed.bin", conf) as writer:
        for chunk in chunks:
            writer.write(chunk)
    whole = b"".join(chunks)
    assert ros.get_object("streamed.bin", conf) == whole
    with ros.get_object_stream("streamed.bin", conf) as reader:
        assert reader.read() == whole
    if gateway.encrypted:
        assert independently_decrypted(gateway, "streamed.bin") == whole
    source = tmp_path / "source.bin"
    source.write_bytes(whole[:12345])
    ros.put_object_from_file("from_file.bin", source, conf)
    ros.get_object_to_file("from_file.bin", tmp_path / "back.bin", conf)
    assert (tmp_path / "back.bin").read_bytes() == whole[:12345]


def test_listings_name_stage_keys_with_their_plain_sizes(
    stage: tuple[Gateway, SnowflakeConfig],
) -> None:
    _, conf = stage
    for key, size in [("dir/a.csv", 5), ("dir/sub/b.csv", 33), ("top.csv", 16)]:
        ros.put_object(key, payload(size), conf)
    listed = {m.path: m.size for m in ros.list_objects("", conf)}
    assert listed == {"dir/a.csv": 5, "dir/sub/b.csv": 33, "top.csv": 16}
    assert [m.path for m in ros.list_objects("dir/", conf)] == ["dir/a.csv", "dir/sub/b.csv"]
    tree = ros.list_with_delimiter("dir/", conf)
    assert [(m.path, m.size) for m in tree.objects] == [("dir/a.csv", 5)]
    assert tree.common_prefixes == ["dir/sub"]
    # One e_tag form from every call, on Azure too (its listings carry e_tags bare).
    head = ros.head_object("dir/a.csv", conf).e_tag
    assert [m.e_tag for m in tree.objects] == [head]
    assert [m.e_tag for m in ros.list_objects("dir/a", conf)] == [head]


def test_deletes_copies_and_renames(stage: tuple[Gateway, SnowflakeConfig]) -> None:
    gateway, conf = stage
    for i in range(5):
        ros.put_object(f"del/{i}", payload(40 + i), conf)
    ros.delete_object("del/0", conf)
    assert ros.bulk_delete_objects(["del/1", "del/2"], conf) == []
    ros.copy_object("del/3", "copied", conf)
    assert ros.get_object("copied", conf) == payload(43)
    ros.rename_object("del/4", "renamed", conf)
    assert ros.get_object("renamed", conf) == payload(44)
    assert sorted(m.path for m in ros.list_objects("", conf)) == ["copied", "del/3", "renamed"]
    with pytest.raises(ros.NotFoundError):
        ros.head_object("del/0", conf)
    if gateway.encrypted:
        assert independently_decrypted(gateway, "copied") == payload(43)


def test_user_metadata_travels_beside_the_key_material(
    stage: tuple[Gateway, SnowflakeConfig],
) -> None:
    _, conf = stage
    ros.put_object("meta.txt", b"x", conf, attributes={"Content-Type": "text/plain",
                                                       "origin": "test"})  # fmt: skip
    meta = ros.head_object("meta.txt", conf)
    assert meta.attributes == {"Content-Type": "text/plain", "origin": "test"}


def test_conditional_writes_hold_and_what_a_stage_cannot_do_is_refused(
    stage: tuple[Gateway, SnowflakeConfig],
) -> None:
    _, conf = stage
    ros.put_object("once", b"first", conf, mode="create")
    with pytest.raises(ros.AlreadyExistsError):
        ros.put_object("once", b"second", conf, mode="create")
    assert ros.get_object("once", conf) == b"first"
    with pytest.raises(ros.NotSupportedError):
        ros.sign_url("GET", "once", 60, conf)
    with pytest.raises(ros.NotSupportedError, match="tags"):
        ros.put_object("tagged", b"x", conf, tags={"team": "data"})


@pytest.mark.parametrize("cloud", ["s3", "azure"])
def test_gcm_stages_write_aes_256_gcm_that_an_independent_decryptor_reads(
    gateway_of: Any, cloud: str
) -> None:
    gateway = gateway_of(cloud, True)
    conf = config_for(gateway, encryption_scheme="AES_256_GCM")
    for size in (0, 1, 17, 70_000):
        ros.put_object(f"gcm/{size}", payload(size), conf)
        assert independently_decrypted(gateway, f"gcm/{size}") == payload(size)
        assert ros.get_object_range(f"gcm/{size}", 0, 10, conf) == payload(size)[:10]
        assert ros.head_object(f"gcm/{size}", conf).size == size
    # A CBC configuration reads what GCM wrote: the scheme is each object's own.
    assert ros.get_object("gcm/17", config_for(gateway)) == payload(17)


@pytest.mark.parametrize("cloud", ["s3", "azure"])
def test_a_changed_encrypted_object_is_a_data_error(gateway_of: Any, cloud: str) -> None:
    gateway = gateway_of(cloud, True)
    conf = config_for(gateway, encryption_scheme="AES_256_GCM")
    ros.put_object("tampered", b"secret numbers", conf)
    stored, metadata = gateway.backend.read(gateway.stage_file("tampered"))
    changed = bytes([stored[0] ^ 1]) + stored[1:]
    plain = config_for(gateway)  # only to reach the backend: write the bytes back by hand
    if isinstance(gateway.backend, S3Backend):
        gateway.backend.client().put_object(Bucket=gateway.backend.bucket,
                                            Key=gateway.stage_file("tampered"), Body=changed,
                                            Metadata=metadata)  # fmt: skip
    else:
        blob = gateway.backend._service().get_blob_client(
            gateway.backend.container, gateway.stage_file("tampered")
        )
        blob.upload_blob(changed, overwrite=True, metadata=metadata)
    with pytest.raises(ros.DataError, match="authentication"):
        ros.get_object("tampered", plain)


def test_master_keys_are_kept_by_query_id_and_asked_for_on_a_miss(gateway_of: Any) -> None:
    gateway = gateway_of("s3", True)
    writer = config_for(gateway)
    ros.put_object("k1", b"one", writer)
    assert ros.get_object("k1", writer) == b"one"
    assert gateway.calls["get_query"] == 0, "the writer's own key is in its keyring"
    # Another configuration is another store, with an empty keyring: it asks once per key.
    reader = config_for(gateway, keyring_capacity=10)
    assert ros.get_object("k1", reader) == b"one"
    assert ros.get_object("k1", reader) == b"one"
    assert gateway.calls["get_query"] == 1
    # A keyring that keeps nothing asks every time.
    forgetful = config_for(gateway, keyring_ttl_secs=0)
    ros.get_object("k1", forgetful)
    ros.get_object("k1", forgetful)
    assert gateway.calls["get_query"] == 3


def test_stage_info_is_cached_for_its_ttl(gateway_of: Any) -> None:
    gateway = gateway_of("s3", False)
    conf = config_for(gateway, stage_info_cache_ttl_secs=1)
    for i in range(5):
        ros.put_object(f"c{i}", b"x", conf)
    assert gateway.calls["put_query"] == 1
    time.sleep(1.2)
    ros.put_object("later", b"x", conf)
    assert gateway.calls["put_query"] == 2
    assert gateway.calls["login"] == 1


def test_sessions_are_renewed_before_they_end_and_kept_alive(gateway_of: Any) -> None:
    # A token valid for 181 s is within the 180 s margin a second later.
    gateway = gateway_of("s3", False, token_validity=181)
    conf = config_for(gateway, stage_info_cache_ttl_secs=0, heartbeat_secs=1)
    ros.put_object("a", b"x", conf)
    time.sleep(2.5)
    ros.put_object("b", b"y", conf)
    assert gateway.calls["login"] == 1
    assert gateway.calls["renew"] >= 1
    assert gateway.calls["heartbeat"] >= 1
    assert ros.get_object("b", conf) == b"y"


def test_a_refused_renewal_logs_in_again(gateway_of: Any) -> None:
    gateway = gateway_of("s3", False, token_validity=181, master_validity=1)
    conf = config_for(gateway, stage_info_cache_ttl_secs=0)
    ros.put_object("a", b"x", conf)
    time.sleep(1.5)  # the master token has run out: no renewal, a new login
    ros.put_object("b", b"y", conf)
    assert gateway.calls["login"] == 2


def test_an_azure_sas_near_its_expiry_is_asked_for_again(gateway_of: Any) -> None:
    gateway = gateway_of("azure", False)
    assert isinstance(gateway.backend, AzureBackend)
    gateway.backend.sas_validity = timedelta(minutes=4)  # inside the 5-minute margin
    conf = config_for(gateway)
    ros.put_object("a", b"x", conf)
    asked = gateway.calls["put_query"]
    ros.put_object("b", b"y", conf)
    assert gateway.calls["put_query"] > asked
    # A SAS that lasts is kept with the stage's answer.
    gateway.backend.sas_validity = timedelta(hours=1)
    fresh = config_for(gateway, keyring_capacity=1)
    ros.put_object("c", b"z", fresh)
    asked = gateway.calls["put_query"]
    ros.put_object("d", b"w", fresh)
    assert gateway.calls["put_query"] == asked
    assert ros.get_object("b", fresh) == b"y"


def test_user_and_password_log_in_and_a_wrong_password_is_refused(gateway_of: Any) -> None:
    gateway = gateway_of("azure", True)
    conf = config_for(gateway, master_token_path=None, username=USERNAME, password=PASSWORD)
    ros.put_object("pw.txt", b"pw", conf)
    assert ros.get_object("pw.txt", conf) == b"pw"
    wrong = dataclasses.replace(conf, password="not-it")
    with pytest.raises(ros.PermissionDeniedError, match="390100") as caught:
        ros.get_object("pw.txt", wrong)
    assert "not-it" not in str(caught.value) and PASSWORD not in repr(conf)


def test_configuration_errors_are_clear(gateway_of: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    gateway = gateway_of("s3", False)
    missing = config_for(gateway, stage="doesnotexist")
    with pytest.raises(ros.BucketNotFoundError, match="does not exist or not authorized"):
        ros.put_object("x.csv", b"a,b,c", missing)
    absent = tmp_path / "absent"
    no_token = config_for(gateway, master_token_path=str(absent))
    with pytest.raises(ros.ConfigurationError, match="master token file") as caught:
        ros.get_object("x.csv", no_token)
    assert str(absent) in str(caught.value), "a path is no secret: the message names the file"
    not_encrypted = config_for(gateway, encryption_scheme="AES_128_CBC")
    with pytest.raises(ros.ConfigurationError, match="not client-side encrypted"):
        ros.put_object("x.csv", b"x", not_encrypted)
    with pytest.raises(ros.ConfigurationError, match="AES_128_CBC or AES_256_GCM"):
        config_for(gateway, encryption_scheme="ROT13")
    for name in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_DATABASE", "SNOWFLAKE_SCHEMA",
                 "SNOWFLAKE_ENDPOINT", "SNOWFLAKE_HOST"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ros.ConfigurationError, match="SNOWFLAKE_ACCOUNT"):
        ros.get_object("x.csv", SnowflakeConfig("TESTSTAGE"))


def test_environment_fallbacks_fill_unset_fields(
    gateway_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = gateway_of("s3", True)
    fields = gateway.config_fields()
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", fields["account"])
    monkeypatch.setenv("SNOWFLAKE_DATABASE", fields["database"])
    monkeypatch.setenv("SNOWFLAKE_SCHEMA", fields["schema"])
    monkeypatch.setenv("SNOWFLAKE_HOST", "never.invalid")
    monkeypatch.setenv("SNOWFLAKE_ENDPOINT", fields["endpoint"])
    monkeypatch.setenv("MASTER_TOKEN_PATH", fields["master_token_path"])
    conf = SnowflakeConfig(
        "teststage", opts=STAGE_OPTS
    )  # the gateway upper-cases names, as Snowflake
    ros.put_object("env.txt", b"env", conf)
    assert ros.get_object("env.txt", conf) == b"env"


def test_the_readme_example_runs_on_a_stage(
    gateway_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (block,) = [b for b in blocks if 'SnowflakeConfig("MYSTAGE")' in b]
    gateway = gateway_of("azure", True, stages=("MYSTAGE",))
    fields = gateway.config_fields()
    for name in ("account", "database", "schema"):
        monkeypatch.setenv(f"SNOWFLAKE_{name.upper()}", fields[name])
    # The fake is plain http://, which SNOWFLAKE_HOST cannot say (it means https://host).
    monkeypatch.setenv("SNOWFLAKE_ENDPOINT", fields["endpoint"])
    monkeypatch.setenv("MASTER_TOKEN_PATH", fields["master_token_path"])
    exec(compile(block, "README.md", "exec"), {})
    assert gateway.backend.keys() == [gateway.stage_file("exports/2026-12.csv")]


def test_an_unreachable_gateway_is_a_connection_error(gateway_of: Any) -> None:
    gateway = gateway_of("s3", False)
    conf = config_for(gateway, endpoint="http://127.0.0.1:9")
    with pytest.raises(ros.ObjectStoreConnectionError):
        ros.get_object("x", conf)


def test_the_repr_hides_the_password() -> None:
    conf = SnowflakeConfig("a", username="b", password="c-secret", role="d")
    assert "c-secret" not in repr(conf)
    assert "stage='a'" in repr(conf) and "username='b'" in repr(conf)


def test_a_seed_style_config_url_reaches_the_stage(gateway_of: Any) -> None:
    gateway = gateway_of("azure", False)
    fields = gateway.config_fields()
    params = {f"snowflake_{k}": v for k, v in fields.items()}
    params["snowflake_stage"] = gateway.stages[0]
    conf = ros.Config(f"snowflake://{gateway.stages[0]}/", params)
    ros.put_object("seed.txt", b"seed", conf)
    assert ros.get_object("seed.txt", config_for(gateway)) == b"seed"
    with pytest.raises(ros.ConfigurationError, match="unknown option"):
        ros.get_object("seed.txt", ros.Config("snowflake://S/", {"snowflake_colour": "red"}))


def test_async_calls_reach_a_stage(stage: tuple[Gateway, SnowflakeConfig]) -> None:
    import asyncio

    _, conf = stage

    async def main() -> list[bytes]:
        await asyncio.gather(*(ros.put_object_async(f"async/{i}", payload(i), conf)
                               for i in range(20)))  # fmt: skip
        return await asyncio.gather(*(ros.get_object_async(f"async/{i}", conf)
                                      for i in range(20)))  # fmt: skip

    assert asyncio.run(main()) == [payload(i) for i in range(20)]


GiB = 1024 * MiB
# The worker's resident set may hold its arena (every page of it touched), its code and its
# buffers, never the object: 150 MiB is issue 29's bound for a 2 GiB object.
RSS_BOUND = 150 * MiB


def test_a_2_gib_object_crosses_an_encrypted_stage_in_bounded_worker_memory(
    minio_server: Any, minio_bucket: str, tmp_path: Path
) -> None:
    """A 2 GiB object put, got, streamed and downloaded on an encrypted stage (on MinIO), while
    the worker's own report of its resident set is sampled every 20 ms; the peak is printed."""
    from sfgateway import serve

    backend = S3Backend(minio_server.endpoint, minio_bucket, MINIO_KEY, MINIO_SECRET)
    block = os.urandom(MiB)
    data = block * 2048
    digest = hashlib.sha256(data).hexdigest()
    peak = [0]
    with (
        serve(Gateway(backend, True), tmp_path) as gateway,
        own_pool(n_workers=1, arena_size=64 * MiB),
        ros.deadline(600),
    ):
        conf = config_for(gateway)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                rss = ros.current_metrics().workers[0].rss_bytes
                peak[0] = max(peak[0], rss or 0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        target = tmp_path / "big.bin"
        try:
            assert ros.put_object("big", data, conf) == len(data)
            assert hashlib.sha256(ros.get_object("big", conf)).hexdigest() == digest
            streamed = hashlib.sha256()
            with ros.get_object_stream("big", conf) as stream:
                while chunk := stream.read(8 * MiB):
                    streamed.update(chunk)
            assert streamed.hexdigest() == digest
            assert ros.get_object_to_file("big", target, conf) == len(data)
            on_disk = hashlib.sha256()
            with open(target, "rb") as f:
                while chunk := f.read(8 * MiB):
                    on_disk.update(chunk)
            assert on_disk.hexdigest() == digest
        finally:
            done.set()
            sampler.join()
            # 4 GiB on a disk the whole run shares: the session's MinIO would keep the object.
            target.unlink(missing_ok=True)
            with contextlib.suppress(ros.ObjectStoreError):  # the test's own error goes on
                ros.delete_object("big", conf)
    print(f"\npeak worker RSS over a 2 GiB encrypted round trip: {peak[0] / MiB:.0f} MiB")
    assert 0 < peak[0] < RSS_BOUND, f"peak worker RSS {peak[0] / MiB:.0f} MiB"


@contextlib.contextmanager
def moto_requests(moto: Any) -> Iterator[list[tuple[str, str | None]]]:
    """The (method, Range header) of every request the worker sends moto inside the block (not
    the gateway's own), from moto's request recorder."""

    def call(what: str) -> bytes:
        request = urllib.request.Request(f"{moto.endpoint}/moto-api/recorder/{what}",
                                         method="GET" if what.startswith("download") else "POST")  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as answer:
            return bytes(answer.read())

    seen: list[tuple[str, str | None]] = []
    call("reset-recording")
    call("start-recording")
    try:
        yield seen
    finally:
        call("stop-recording")
        for line in call("download-recording").decode().splitlines():
            entry = json.loads(line)
            headers = {k.lower(): v for k, v in entry["headers"].items()}
            if headers.get("user-agent", "").startswith("object_store/"):
                seen.append((entry["method"], headers.get("range")))


def test_a_cbc_range_reads_its_blocks_and_sizes_are_learnt_once(
    gateway_of: Any, moto_server: Any
) -> None:
    """On fresh workers, a range of an object uploaded in parts (no plaintext size beside it)
    reads its blocks from the one before, and the last two blocks once for the size; later
    reads, heads and listings of that version send nothing more for the size. A GCM range
    reads the whole object."""
    gateway = gateway_of("s3", True)
    data = payload(12 * MiB + 5)
    with own_pool(n_workers=1, **SMALL_THRESHOLDS):
        ros.put_object("parts.bin", data, config_for(gateway))
        ros.put_object("gcm.bin", data, config_for(gateway, encryption_scheme="AES_256_GCM"))
    conf = config_for(gateway)
    cipher_size = (len(data) // 16 + 1) * 16
    with own_pool(n_workers=1), moto_requests(moto_server) as first:
        assert (
            ros.get_object_range("parts.bin", 5_000_000, 5_000_100, conf)
            == data[5_000_000:5_000_100]
        )
    assert first == [("GET", "bytes=4999984-5000111"),
                     ("GET", f"bytes={cipher_size - 32}-{cipher_size - 1}")]  # fmt: skip
    with own_pool(n_workers=1):
        ros.get_object_range("parts.bin", 0, 1, conf)
        with moto_requests(moto_server) as later_range:
            assert ros.get_object_range("parts.bin", 17, 40, conf) == data[17:40]
        with moto_requests(moto_server) as head:
            assert ros.head_object("parts.bin", conf).size == len(data)
        with moto_requests(moto_server) as gcm:
            assert ros.get_object_range("gcm.bin", 100, 200, conf) == data[100:200]
        with moto_requests(moto_server) as listing:
            assert [m.size for m in ros.list_objects("", conf)] == [len(data), len(data)]
    assert later_range == [("GET", "bytes=0-47")]
    assert head == [("HEAD", None)]  # the size did not come with it
    assert listing == [("GET", None)]
    assert [method for method, _ in gcm] == ["GET", "GET"]  # a CBC-sized range, then whole
    assert gcm[-1][1] is None
