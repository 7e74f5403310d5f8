"""Bad input gets a clear, typed error that says what to do, and sends nothing it should not."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from conftest import azure_config, gcs_config, s3_config
from emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    MINIO_KEY,
    MINIO_SECRET,
    RunningServer,
    s3_client,
    start_minio,
)
from faultserver import FaultServer, Status

import rustyobjectstore as ros

MEMORY = ros.Config("memory:///bad-input")


@pytest.mark.parametrize(
    "call",
    [
        lambda: ros.get_object(MEMORY, "key"),  # type: ignore[arg-type]
        lambda: ros.put_object(MEMORY, b"x", "key"),  # type: ignore[arg-type]
        lambda: ros.head_object("key", None),  # type: ignore[arg-type]
        lambda: list(ros.list_objects(MEMORY, "prefix")),  # type: ignore[arg-type]
        lambda: ros.put_object_stream(MEMORY, "key"),  # type: ignore[arg-type]
        lambda: ros.get_object_stream(MEMORY, "key"),  # type: ignore[arg-type]
    ],
)
def test_a_configuration_in_the_wrong_place_is_a_type_error(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError, match=r"expected a store configuration .* the key comes first"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: ros.get_object(b"key", MEMORY),  # type: ignore[arg-type]
        lambda: ros.copy_object("a", 7, MEMORY),  # type: ignore[arg-type]
        lambda: ros.bulk_delete_objects(["a", None], MEMORY),  # type: ignore[list-item]
        lambda: ros.delete_object(Path("k"), MEMORY),  # type: ignore[arg-type]
    ],
)
def test_a_key_that_is_not_a_str_is_a_type_error(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError, match="an object key must be a str, got"):
        call()


@pytest.mark.parametrize("url", ["file:data", "file://./data", "file:./data", "file://data/x"])
def test_a_relative_file_url_says_an_absolute_path_is_needed(url: str) -> None:
    with pytest.raises(ros.ParseURLError, match="needs an absolute path"):
        ros.get_object("k", ros.Config(url))


def test_an_absolute_file_url_in_either_form_works(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"local")
    assert ros.get_object("k", ros.Config(f"file:{tmp_path}")) == b"local"
    assert ros.get_object("k", ros.Config(tmp_path.as_uri())) == b"local"


def test_an_http_endpoint_without_allow_http_says_to_set_it() -> None:
    with FaultServer() as server:
        options = {"region": "us-east-1", "access_key_id": "a", "secret_access_key": "s"}
        conf = ros.Config("s3://bucket", {**options, "endpoint": server.endpoint})
        with pytest.raises(ros.ConfigurationError, match='allow_http option is "true"'):
            ros.get_object("k", conf)
        assert server.requests == []  # refused before anything was sent


def test_an_unsigned_request_that_is_refused_says_it_was_unsigned() -> None:
    with FaultServer(default=Status(403)) as server:
        anonymous = ros.AWSConfig("us-east-1", "bucket", host=server.endpoint, anonymous=True)
        with pytest.raises(ros.PermissionDeniedError, match="sent unsigned"):
            ros.get_object("k", anonymous)
        signed = ros.AWSConfig("us-east-1", "bucket", "a", "s", host=server.endpoint)
        with pytest.raises(ros.PermissionDeniedError) as caught:
            ros.get_object("k", signed)
        assert "unsigned" not in str(caught.value)


def test_azurite_refusing_an_anonymous_read_says_it_was_unsigned(
    azurite_server: RunningServer, azure_container: str
) -> None:
    anonymous = azure_config(
        azurite_server, azure_container, storage_account_key=None, anonymous=True
    )
    with pytest.raises(ros.PermissionDeniedError, match="sent unsigned"):
        ros.get_object("k", anonymous)


def test_a_missing_bucket_is_named(moto_server: RunningServer) -> None:
    with pytest.raises(
        ros.BucketNotFoundError, match='bucket "no-such-bucket-here" does not exist'
    ):
        ros.put_object("k", b"x", s3_config(moto_server, "no-such-bucket-here"))


def test_a_missing_container_is_named(azurite_server: RunningServer) -> None:
    conf = azure_config(azurite_server, "no-such-container-here")
    with pytest.raises(ros.BucketNotFoundError, match='container "no-such-container-here"'):
        ros.get_object("k", conf)
    with pytest.raises(ros.NotFoundError):  # and it is still a NotFoundError, a FileNotFoundError
        ros.get_object("k", conf)


@pytest.mark.parametrize(
    ("url", "typo", "store", "meant"),
    [
        ("s3://bucket", "aws_regoin", "S3", "aws_region"),
        ("az://container", "azure_storage_acount_name", "Azure", "azure_storage_account_name"),
        ("gs://bucket", "google_servce_account", "GCS", "google_service_account"),
        ("https://account.blob.core.windows.net/container", "acount_key", "Azure", "account_key"),
        ("s3://bucket", "aws_acess_key_idd", "S3", None),  # two typos: no guess
    ],
)
def test_a_misspelt_option_is_named_before_any_credential_is_looked_for(
    url: str,
    typo: str,
    store: str,
    meant: str | None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """On a machine without credentials the chain would end in ``NoCredentialsError``; the
    misspelt option is what the user needs to hear, with the name one typo away that the store
    takes, and nothing is looked up first."""
    from rustyobjectstore._auth import credentials

    def no_chain(*args: object, **kwargs: object) -> object:
        raise AssertionError("a credential chain ran before the options were checked")

    for chain in ("aws_options", "azure_options", "gcs_options"):
        monkeypatch.setattr(credentials, chain, no_chain)
    monkeypatch.setenv("HOME", str(tmp_path))
    conf = ros.Config(url, {typo: "x", "anon": "false"})
    with pytest.raises(ros.ConfigurationError, match=f'unknown option "{typo}" for {store} stores'):
        ros.get_object("k", conf)
    with pytest.raises(ros.ConfigurationError) as caught:
        ros.get_object("k", conf)
    guess = f'did you mean "{meant}"?'
    assert str(caught.value).endswith(guess) if meant else "did you mean" not in str(caught.value)


def test_every_spelling_a_cloud_takes_passes_the_check() -> None:
    """object_store's own names and aliases, with or without the cloud's prefix, and the options
    this library takes itself (``anon``, ``profile``), are let through to the chain."""
    from rustyobjectstore._auth.credentials import _refuse_unknown_options

    for url, names in [
        ("s3://b", ["region", "aws_region", "aws_default_region", "endpoint", "aws_endpoint_url",
                    "access_key_id", "aws_secret_access_key", "token", "skip_signature",
                    "allow_http", "aws_allow_http", "timeout", "anon", "profile", "aws_profile"]),
        ("az://c", ["account_name", "azure_storage_account_name", "account_key", "sas_token",
                    "use_emulator", "azure_storage_use_emulator", "endpoint", "anonymous"]),
        ("gs://b", ["google_service_account", "service_account_key", "bucket", "anon"]),
    ]:  # fmt: skip
        _refuse_unknown_options(url, dict.fromkeys(names, "x"))


@pytest.mark.parametrize("key", ["s3://bucket/data/x.csv", "gs://bucket/x", "file:///tmp/x"])
def test_a_url_given_as_a_key_is_told_what_a_key_is(key: str) -> None:
    """A key is the path within the configuration's store: a key refused (an empty segment) or
    not found that is a URL says so."""
    conf = ros.Config(f"memory:///{uuid.uuid4().hex}")
    refused = (ros.InvalidPathError, ros.NotFoundError)
    with pytest.raises(refused, match="is a URL: a key is the path within") as caught:
        ros.get_object(key, conf)
    assert caught.value.path == key
    with pytest.raises(ros.NotFoundError) as plain:
        ros.get_object("data/x.csv", conf)
    assert "is a URL" not in str(plain.value)


@pytest.mark.parametrize("cloud", ["s3", "azure", "gcs"])
def test_a_key_that_starts_with_the_bucket_is_told_what_a_key_is(
    cloud: str, request: pytest.FixtureRequest
) -> None:
    """``get_object("bucket/x.csv", Config("s3://bucket"))`` reads ``bucket/x.csv`` within the
    bucket: when that is not found, the message says that a key is the path within the bucket,
    on every cloud; a key that is merely missing says nothing of the kind."""
    if cloud == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        conf: ros.AWSConfig | ros.AzureConfig | ros.GCSConfig = s3_config(
            request.getfixturevalue("moto_server"), bucket
        )
    elif cloud == "azure":
        bucket = request.getfixturevalue("azure_container")
        conf = azure_config(request.getfixturevalue("azurite_server"), bucket)
    else:
        bucket = request.getfixturevalue("gcs_bucket")
        conf = gcs_config(request.getfixturevalue("gcs_server"), bucket)
    with pytest.raises(ros.NotFoundError, match="starts with the bucket's name") as caught:
        ros.get_object(f"{bucket}/data/x.csv", conf)
    assert "get_object('data/x.csv', conf)" in str(caught.value)
    with pytest.raises(ros.NotFoundError) as plain:
        ros.head_object("data/missing.csv", conf)
    assert "bucket's name" not in str(plain.value)


def test_a_request_signed_for_another_region_says_the_buckets_region(tmp_path: Path) -> None:
    """A bucket in eu-west-1 reached with a us-east-1 configuration (on a MinIO that has a
    region, as AWS refuses it): a ``ConfigurationError`` that names the region to set."""
    with start_minio(tmp_path / "data", region="eu-west-1") as minio:
        client = s3_client(minio.endpoint, region="eu-west-1")
        client.create_bucket(
            Bucket="regional", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )

        def conf(region: str) -> ros.AWSConfig:
            return ros.AWSConfig(region, "regional", MINIO_KEY, MINIO_SECRET, host=minio.endpoint)

        with pytest.raises(
            ros.ConfigurationError, match=re.escape('set its region (aws_region) to "eu-west-1"')
        ):
            ros.put_object("k", b"x", conf("us-east-1"))
        with pytest.raises(ros.ConfigurationError, match="bucket is in region eu-west-1"):
            ros.get_object("k", conf("us-west-2"))
        ros.put_object("k", b"x", conf("eu-west-1"))
        assert ros.get_object("k", conf("eu-west-1")) == b"x"


def test_an_expired_session_token_says_so() -> None:
    """S3 answers a session token past its end with 400 ExpiredToken: a refusal of the
    credentials that says what to do (a provider's are asked for again)."""
    with FaultServer(default=Status(400, s3_code="ExpiredToken")) as server:
        conf = ros.AWSConfig("us-east-1", "bucket", "a", "s", session_token="t",
                             host=server.endpoint)  # fmt: skip
        with pytest.raises(ros.PermissionDeniedError, match="session token has expired") as caught:
            ros.get_object("k", conf)
        assert caught.value.status_code == 400


def test_an_expired_sas_token_says_when_it_ended(
    azurite_server: RunningServer, azure_container: str
) -> None:
    """Azurite refuses a SAS past its expiry without saying why; the error says when it ended.
    A SAS still valid reads, and its refusals say nothing of an expiry."""

    def sas(expiry: datetime) -> str:
        return generate_container_sas(
            AZURITE_ACCOUNT, azure_container, account_key=AZURITE_KEY, expiry=expiry,
            permission=ContainerSasPermissions(read=True, write=True),
            start=datetime.now(timezone.utc) - timedelta(hours=1),
        )  # fmt: skip

    def conf(token: str) -> ros.AzureConfig:
        return azure_config(azurite_server, azure_container, storage_account_key=None,
                            storage_sas_token=token)  # fmt: skip

    ended = datetime.now(timezone.utc) - timedelta(minutes=5)
    with pytest.raises(ros.PermissionDeniedError, match="SAS token expired at 20") as caught:
        ros.put_object("k", b"x", conf(sas(ended)))
    assert "give it a new one" in str(caught.value)
    valid = conf(sas(datetime.now(timezone.utc) + timedelta(hours=1)))
    ros.put_object("k", b"x", valid)
    assert ros.get_object("k", valid) == b"x"
    read_only = generate_container_sas(
        AZURITE_ACCOUNT, azure_container, account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )  # fmt: skip
    with pytest.raises(ros.PermissionDeniedError) as refused:
        ros.put_object("k", b"y", conf(read_only))
    assert "expired" not in str(refused.value)


@pytest.mark.parametrize("url", ["data/dir", "./data", "/tmp/store"])
def test_a_path_given_as_a_store_url_says_what_a_store_url_is(url: str) -> None:
    with pytest.raises(ros.ParseURLError, match=r"file:///absolute/dir .*as_uri\(\)"):
        ros.put_object("k", b"x", ros.Config(url))


@pytest.mark.parametrize("url", ["s3://", "gs://", "az:///prefix"])
def test_a_cloud_url_without_a_bucket_says_so_before_any_credential_lookup(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rustyobjectstore._auth import credentials

    def no_chain(*args: object, **kwargs: object) -> None:
        raise AssertionError("a credential chain ran")

    for chain in ("aws_options", "azure_options", "gcs_options"):
        monkeypatch.setattr(credentials, chain, no_chain)
    with pytest.raises(ros.ParseURLError, match="names no bucket"):
        ros.get_object("k", ros.Config(url))
