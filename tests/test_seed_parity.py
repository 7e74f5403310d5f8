"""What RustyObjectStore.jl users rely on and find here the same way (issue 16's rows)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from conftest import azure_config, own_pool, s3_config
from credserver import CredentialServer
from emulators import AZURITE_ACCOUNT, MINIO_KEY, MINIO_SECRET, RunningServer

import rustyobjectstore as ros

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


@pytest.fixture
def metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[CredentialServer, Callable[[], int]]]:
    """A GCE metadata server for the workers' GCS stores, and the count of the token fetches the
    workers made there (a rebuilt store fetches a new one), not this process's probes (urllib)."""
    server = CredentialServer.start()
    # object_store reads GCE_METADATA_HOST itself, in the worker: set before it starts.
    monkeypatch.setenv("GCE_METADATA_HOST", server.endpoint.removeprefix("http://"))

    def fetches() -> int:
        seen = server.requests(TOKEN_PATH)
        return sum(not s.headers.get("user-agent", "").startswith("Python") for s in seen)

    try:
        yield server, fetches
    finally:
        server.stop()


def test_max_entries_per_chunk_is_a_module_function() -> None:
    limit = ros.max_entries_per_chunk()
    assert limit == ros.ListStream.max_entries_per_chunk() == 1000
    conf = ros.Config("memory://")
    prefix = f"chunks-{uuid.uuid4().hex}/"
    for i in range(limit + 1):
        ros.put_object(f"{prefix}{i:05}", b"x", conf)
    chunks = list(ros.list_objects_stream(prefix, conf))
    assert [len(c) for c in chunks] == [limit, 1]


def test_a_key_and_a_sas_token_together_are_refused() -> None:
    with pytest.raises(ros.ConfigurationError, match="storage_account_key or a storage_sas_token"):
        ros.AzureConfig("account", "container", storage_account_key="k", storage_sas_token="s")


@pytest.mark.parametrize(("ttl", "tti"), [(0, 0), (0, 300), (1800, 0)])
def test_a_zero_cache_ttl_or_tti_means_no_limit(
    metadata: tuple[CredentialServer, Callable[[], int]], ttl: int, tti: int
) -> None:
    """Zero made every cached store expire at once; as in the seed it keeps stores for good."""
    server, fetches = metadata

    def token_fetches_for_two_calls(**settings: int) -> int:
        before = fetches()
        with own_pool(n_workers=1, **settings):
            conf = ros.GCSConfig("bucket", host=server.endpoint,
                                 opts=ros.ClientOptions(max_retries=0))  # fmt: skip
            for _ in range(2):
                with pytest.raises(ros.NotFoundError):  # the server holds no objects
                    ros.get_object("k", conf)
                time.sleep(1.1)
        return fetches() - before

    assert token_fetches_for_two_calls(cache_ttl_secs=ttl, cache_tti_secs=tti) == 1
    assert token_fetches_for_two_calls(cache_ttl_secs=1, cache_tti_secs=tti or 1) == 2


def test_safe_message_keeps_the_service_code_and_message_and_drops_every_url(
    minio_server: RunningServer, minio_bucket: str, azurite_server: RunningServer
) -> None:
    wrong = ros.AWSConfig("us-east-1", minio_bucket, access_key_id=MINIO_KEY,
                          secret_access_key="wrong", host=minio_server.endpoint)  # fmt: skip
    with pytest.raises(ros.PermissionDeniedError) as refused:
        ros.get_object("some/key", wrong)
    assert minio_server.endpoint in str(refused.value)  # what safe_message is for
    assert ros.safe_message(refused.value) == (
        "get 'some/key': The request signature we calculated does not match the signature you "
        "provided. Check your key and signing method. (code: SignatureDoesNotMatch, reason: "
        "permission, HTTP 403)"
    )

    missing = azure_config(azurite_server, f"missing-{uuid.uuid4().hex}")
    with pytest.raises(ros.BucketNotFoundError) as not_there:
        ros.get_object("k", missing)
    # Azure's message ends at its line: the request id and time that follow are left out.
    assert ros.safe_message(not_there.value) == (
        "get 'k': The specified container does not exist. (code: ContainerNotFound, reason: "
        "bucket_not_found, HTTP 404)"
    )

    nowhere = ros.AWSConfig("us-east-1", "b", access_key_id="k", secret_access_key="s",
                            host="http://127.0.0.1:9", opts=ros.ClientOptions(max_retries=0))  # fmt: skip
    with pytest.raises(ros.ObjectStoreConnectionError) as unreachable:
        ros.get_object("k", nowhere)
    safe = ros.safe_message(unreachable.value)
    assert safe is not None and "://" not in safe and "127.0.0.1:9" not in safe
    assert safe.startswith("get 'k': ") and safe.endswith("(reason: connection)")
    assert "Connection refused" in safe

    assert ros.safe_message(ValueError("not ours")) is None
    assert ros.safe_message(ros.NotFoundError("plain", op="head", path="x")) == (
        "head 'x': plain (reason: not_found)"
    )


def test_invalidate_config_resolves_the_chain_again(
    minio_server: RunningServer, minio_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MINIO_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "an-old-secret")
    conf = ros.AWSConfig("us-east-1", minio_bucket, host=minio_server.endpoint,
                         opts=ros.ClientOptions(max_retries=0))  # fmt: skip
    with pytest.raises(ros.PermissionDeniedError):
        ros.put_object("rotated", b"x", conf)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MINIO_SECRET)  # the keys are rotated
    with pytest.raises(ros.PermissionDeniedError):  # the chain was resolved at first use
        ros.put_object("rotated", b"x", conf)
    ros.invalidate_config(conf)
    ros.put_object("rotated", b"x", conf)
    assert ros.get_object("rotated", conf) == b"x"
    ros.invalidate_config(ros.AWSConfig("us-east-1", "never-used"))  # nothing built: nothing to do
    with pytest.raises(TypeError, match="store configuration or None"):
        ros.invalidate_config("s3://bucket")  # type: ignore[arg-type]


def test_invalidate_config_has_workers_build_the_store_anew(
    metadata: tuple[CredentialServer, Callable[[], int]],
) -> None:
    """A rebuilt GCS store fetches a new token; memory stores keep their objects."""
    server, fetches = metadata
    with own_pool(n_workers=1):
        conf = ros.GCSConfig("bucket", host=server.endpoint,
                             opts=ros.ClientOptions(max_retries=0))  # fmt: skip
        memory = ros.Config("memory://")
        ros.put_object("kept", b"in memory", memory)

        def call() -> None:
            with pytest.raises(ros.NotFoundError):  # the server holds no objects
                ros.get_object("k", conf)

        call()
        call()
        assert fetches() == 1
        ros.invalidate_config(conf)
        call()
        assert fetches() == 2
        ros.invalidate_config()
        call()
        assert fetches() == 3
        assert ros.get_object("kept", memory) == b"in memory"


def test_azure_host_takes_the_seeds_forms(
    azurite_server: RunningServer, azure_container: str
) -> None:
    """The seed passes Azurite's base URL; today's form names the account too; with the
    container as well, as some seed tests do. All three reach the same container."""
    origin = azurite_server.endpoint.removesuffix(f"/{AZURITE_ACCOUNT}")
    forms = [
        origin,
        f"{origin}/",
        azurite_server.endpoint,
        f"{azurite_server.endpoint}/{azure_container}",
    ]
    for i, host in enumerate(forms):
        conf = azure_config(azurite_server, azure_container, host=host)
        assert dict(conf.spec().options)["endpoint"] == azurite_server.endpoint
        ros.put_object(f"form-{i}", host.encode(), conf)
    reader = azure_config(azurite_server, azure_container)
    assert [ros.get_object(f"form-{i}", reader) for i in range(len(forms))] == [
        h.encode() for h in forms
    ]
    # An account's own URL is kept: the account leads its host name.
    real = ros.AzureConfig("myaccount", "c", storage_account_key="k",
                           host="https://myaccount.blob.core.windows.net")  # fmt: skip
    assert dict(real.spec().options)["endpoint"] == "https://myaccount.blob.core.windows.net"
    for wrong in [
        f"{origin}/otheraccount",
        f"{azurite_server.endpoint}/other-container",
        "127.0.0.1:10000",
    ]:
        with pytest.raises(ros.ConfigurationError, match="host"):
            azure_config(azurite_server, azure_container, host=wrong).spec()


def test_aws_host_takes_the_seeds_forms(moto_server: RunningServer, s3_bucket: str) -> None:
    """A host with the bucket in its path (MinIO-style URLs the seed strips) reaches the
    bucket; without a host, AWS is addressed virtual-hosted, as the seed does."""
    for host in [moto_server.endpoint, f"{moto_server.endpoint}/{s3_bucket}"]:
        conf = s3_config(moto_server, s3_bucket, host=host)
        assert dict(conf.spec().options)["endpoint"] == moto_server.endpoint
        ros.put_object("k", host.encode(), conf)
        assert ros.get_object("k", conf) == host.encode()
    on_aws = dict(ros.AWSConfig("us-east-1", "mybucket", "AKID", "secret").spec().options)
    assert on_aws["virtual_hosted_style_request"] == "true" and "endpoint" not in on_aws
    dotted = dict(ros.AWSConfig("us-east-1", "my.bucket", "AKID", "secret").spec().options)
    assert "virtual_hosted_style_request" not in dotted  # the certificate's wildcard: one label
    assert "virtual_hosted_style_request" not in dict(conf.spec().options)
