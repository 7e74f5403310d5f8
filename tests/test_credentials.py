"""Credentials from each cloud's default chain, against servers that check them.

MinIO checks every signature (moto does not), so an AWS source is shown to work by a round trip
there that fails with the wrong secret. What cannot run on one machine (instance metadata,
container endpoints, Azure AD, GCE metadata, a service account's token endpoint) is the loopback
``CredentialServer``, which records what it was sent.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import ssl
import stat
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import boto3
import pytest
from conftest import SilentServer, azure_config, own_pool
from credserver import (
    CONTAINER_TOKEN,
    AwsKeys,
    CredentialServer,
    azure_ad_token,
    jwt_parts,
    service_account,
)
from emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    MINIO_KEY,
    MINIO_SECRET,
    RunningServer,
    _http,
)

import rustyobjectstore as ros
from rustyobjectstore._auth import chain as _chain
from rustyobjectstore._cli import main as cli_main
from rustyobjectstore._config import StoreConfig

FAST = ros.ClientOptions(max_retries=1, initial_backoff_ms=1, max_backoff_ms=5)


@pytest.fixture(autouse=True)
def fresh_probes() -> Iterator[None]:
    _chain.forget_probes()
    yield
    _chain.forget_probes()


@pytest.fixture
def cred_server() -> Iterator[CredentialServer]:
    server = CredentialServer.start()
    yield server
    server.stop()


def minio_conf(minio: RunningServer, bucket: str, **fields: object) -> ros.AWSConfig:
    settings: dict[str, object] = {"host": minio.endpoint, "opts": FAST, **fields}
    return ros.AWSConfig("us-east-1", bucket, **settings)  # type: ignore[arg-type]


def round_trip(conf: StoreConfig, *, delete: bool = True) -> None:
    key = f"cred/{uuid.uuid4().hex}"
    ros.put_object(key, b"signed by the chain", conf)
    assert ros.get_object(key, conf) == b"signed by the chain"
    if delete:
        ros.delete_object(key, conf)


def minio_session_keys(minio: RunningServer) -> AwsKeys:
    """Temporary credentials from MinIO's own STS (AssumeRole), which MinIO then checks."""
    sts = boto3.client(
        "sts", endpoint_url=minio.endpoint, region_name="us-east-1",
        aws_access_key_id=MINIO_KEY, aws_secret_access_key=MINIO_SECRET,
    )  # fmt: skip
    try:
        found = sts.assume_role(
            RoleArn="arn:minio:iam:::role/test", RoleSessionName="test", DurationSeconds=900
        )["Credentials"]
    finally:
        sts.close()
    return AwsKeys(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"])


# --- AWS: the environment and the shared files -------------------------------------------------


def test_environment_keys_sign_requests(
    minio_server: RunningServer, minio_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MINIO_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MINIO_SECRET)
    round_trip(minio_conf(minio_server, minio_bucket))
    # The endpoint from the environment too, as the AWS CLI reads it.
    monkeypatch.setenv("AWS_ENDPOINT_URL", minio_server.endpoint)
    round_trip(ros.Config(f"s3://{minio_bucket}"))

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(ros.PermissionDeniedError) as caught:
        ros.get_object("k", minio_conf(minio_server, minio_bucket))
    assert "wrong-secret" not in str(caught.value)
    # Explicit keys win over the environment's.
    round_trip(minio_conf(minio_server, minio_bucket, access_key_id=MINIO_KEY,
                          secret_access_key=MINIO_SECRET))  # fmt: skip


def test_half_a_key_pair_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDONLY")
    with pytest.raises(ros.ConfigurationError, match="not AWS_SECRET_ACCESS_KEY"):
        ros.AWSConfig("us-east-1", "b").spec()


def write_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials: str,
                   config: str) -> None:  # fmt: skip
    (tmp_path / "credentials").write_text(credentials)
    (tmp_path / "config").write_text(config)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))


def test_a_profile_of_the_shared_files_signs_requests(
    minio_server: RunningServer, minio_bucket: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    write_profiles(
        tmp_path, monkeypatch,
        f"[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n\n"
        f"[dev]\naws_access_key_id = {MINIO_KEY}\naws_secret_access_key = {MINIO_SECRET}\n",
        f"[profile dev]\nregion = eu-west-3\nendpoint_url = {minio_server.endpoint}\n",
    )  # fmt: skip
    # The environment's keys do not override an explicitly named profile.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    round_trip(minio_conf(minio_server, minio_bucket, profile="dev"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # AWS_PROFILE names it for a Config; its region and endpoint come from the config file.
    monkeypatch.setenv("AWS_PROFILE", "dev")
    conf = ros.Config(f"s3://{minio_bucket}")
    options = dict(conf.spec().options)
    assert options["region"] == "eu-west-3"
    assert options["endpoint"] == minio_server.endpoint
    round_trip(conf)
    # Without a name, [default] is used: its keys are wrong, and MinIO says so.
    monkeypatch.delenv("AWS_PROFILE")
    with pytest.raises(ros.PermissionDeniedError):
        ros.get_object("k", minio_conf(minio_server, minio_bucket))


def test_profile_errors_are_clear_and_hold_no_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_profiles(
        tmp_path, monkeypatch,
        "[half]\naws_access_key_id = AKID\n\n[broken\naws_secret_access_key = CANARY-SECRET\n",
        "[profile proc]\ncredential_process = /bin/echo\n",
    )  # fmt: skip
    with pytest.raises(ros.ConfigurationError, match=r"cannot read .*credentials") as caught:
        ros.AWSConfig("us-east-1", "b", profile="half").spec()
    assert "CANARY" not in str(caught.value)
    write_profiles(
        tmp_path, monkeypatch, "[half]\naws_access_key_id = AKID\n",
        "[profile sso]\nsso_start_url = https://CANARY-SECRET.example\n"
        "[profile a]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = b\n"
        "[profile b]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\n",
    )  # fmt: skip
    with pytest.raises(ros.ConfigurationError, match="'half' has no aws_secret_access_key"):
        ros.AWSConfig("us-east-1", "b", profile="half").spec()
    with pytest.raises(ros.NotSupportedError, match="sso_start_url") as unsupported:
        ros.AWSConfig("us-east-1", "b", profile="sso").spec()
    assert "CANARY" not in str(unsupported.value)
    with pytest.raises(ros.ConfigurationError, match="in a loop: a -> b -> a"):
        ros.AWSConfig("us-east-1", "b", profile="a").spec()
    with pytest.raises(ros.ConfigurationError, match="profile 'nope' is in neither"):
        ros.AWSConfig("us-east-1", "b", profile="nope").spec()
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(ros.ConfigurationError, match="profile 'nope' is in neither"):
        ros.Config("s3://b").spec()


# --- AWS: what a cloud machine or container hands out (loopback) ------------------------------


def test_instance_metadata_credentials_sign_requests_and_are_refreshed(
    minio_server: RunningServer, minio_bucket: str, cred_server: CredentialServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    first, second = minio_session_keys(minio_server), minio_session_keys(minio_server)
    cred_server.aws_keys = [first, second]
    # Credentials that expire within object_store's five-minute margin are fetched again.
    cred_server.lifetime_secs = 120
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", cred_server.endpoint)
    conf = minio_conf(minio_server, minio_bucket)
    for _ in range(3):
        round_trip(conf)
        time.sleep(0.15)  # object_store waits 100 ms before fetching a token again
    assert cred_server.served >= 2  # the second keys were fetched, and they worked too
    tokens = list(cred_server.requests("/latest/api/token"))
    assert tokens and all(
        t.method == "PUT" and "x-aws-ec2-metadata-token-ttl-seconds" in t.headers for t in tokens
    )
    fetched = list(cred_server.requests("/latest/meta-data/iam/security-credentials/"))
    assert any(s.path.endswith("/test-role") for s in fetched)
    assert all(
        s.headers.get("x-aws-ec2-metadata-token") in cred_server.imds_tokens for s in fetched
    )

    # Wrong keys from the metadata service: MinIO refuses them, so they were what signed.
    cred_server.aws_keys = [AwsKeys(first.access_key_id, "wrong", first.session_token)]
    cred_server.served = 0
    with pytest.raises(ros.PermissionDeniedError):
        ros.get_object("k", minio_conf(minio_server, minio_bucket, opts=ros.ClientOptions(
            max_retries=0)))  # fmt: skip


def test_use_instance_metadata_skips_the_environment(
    minio_server: RunningServer, minio_bucket: str, cred_server: CredentialServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    cred_server.aws_keys = [minio_session_keys(minio_server)]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", cred_server.endpoint)
    round_trip(minio_conf(minio_server, minio_bucket, use_instance_metadata=True))
    assert cred_server.served >= 1


def test_ecs_container_credentials_are_passed_to_object_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # object_store asks 169.254.170.2 itself (not a loopback address: no round trip here).
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-7")
    options = dict(ros.AWSConfig("us-east-1", "b").spec().options)
    assert options["container_credentials_relative_uri"] == "/v2/credentials/task-7"
    assert "access_key_id" not in options


def test_eks_pod_identity_credentials_sign_requests(
    minio_server: RunningServer, minio_bucket: str, cred_server: CredentialServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    cred_server.aws_keys = [minio_session_keys(minio_server)]
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text(CONTAINER_TOKEN)
    monkeypatch.setenv(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{cred_server.endpoint}/v1/credentials"
    )
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
    round_trip(minio_conf(minio_server, minio_bucket))
    seen = list(cred_server.requests("/v1/credentials"))
    assert seen and all(s.headers["authorization"] == CONTAINER_TOKEN for s in seen)


def test_web_identity_is_exchanged_at_sts_and_signs_requests(
    moto_sts: tuple[RunningServer, Path], moto_server: RunningServer, s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    sts, ca = moto_sts
    token_file = tmp_path / "web-identity-token"
    token_file.write_text("the-oidc-token")
    session = f"job-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa")
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", session)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.endpoint)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # read by the worker's TLS roots
    conf = ros.AWSConfig("us-east-1", s3_bucket, host=moto_server.endpoint, opts=FAST)
    options = dict(conf.spec().options)
    assert options["web_identity_token_file"] == str(token_file)
    assert options["endpoint_url_sts"] == sts.endpoint
    with own_pool(n_workers=1):  # a worker started with this environment
        round_trip(conf)
    # moto's STS holds the session the worker's AssumeRoleWithWebIdentity opened.
    state = json.loads(_http("GET", f"{sts.endpoint}/moto-api/data.json",
                             context=ssl.create_default_context(cafile=str(ca))).body)  # fmt: skip
    assert session in json.dumps(state["sts"])

    # The same from a profile of the shared files.
    for name in ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME"):
        monkeypatch.delenv(name)
    from_profile = f"job-{uuid.uuid4().hex[:8]}"
    write_profiles(tmp_path, monkeypatch, "",
                   f"[profile irsa]\nweb_identity_token_file = {token_file}\n"
                   f"role_arn = arn:aws:iam::123456789012:role/irsa\n"
                   f"role_session_name = {from_profile}\n")  # fmt: skip
    conf = ros.AWSConfig("us-east-1", s3_bucket, host=moto_server.endpoint, opts=FAST,
                         profile="irsa")  # fmt: skip
    with own_pool(n_workers=1):
        round_trip(conf)
    state = json.loads(_http("GET", f"{sts.endpoint}/moto-api/data.json",
                             context=ssl.create_default_context(cafile=str(ca))).body)  # fmt: skip
    assert from_profile in json.dumps(state["sts"])

    # An STS that is not there fails the call with a connection error, never an unsigned request.
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://127.0.0.1:9")
    conf = ros.AWSConfig("us-east-1", s3_bucket, host=moto_server.endpoint,
                         opts=ros.ClientOptions(max_retries=0), profile="irsa")  # fmt: skip
    with own_pool(n_workers=1), pytest.raises(ros.ObjectStoreError) as caught:
        ros.get_object("k", conf)
    assert "unsigned" not in str(caught.value)
    assert "the-oidc-token" not in str(caught.value)


# --- No credentials anywhere: fast and clear -------------------------------------------------


def test_no_aws_credentials_fails_fast_and_lists_what_was_tried(
    silent_server: SilentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for endpoint in (None, silent_server.endpoint):  # the real address, and one that never answers
        if endpoint:
            monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)
        _chain.forget_probes()
        started = time.monotonic()
        with pytest.raises(ros.NoCredentialsError) as caught:
            ros.get_object("k", ros.AWSConfig("us-east-1", "private-bucket"))
        assert time.monotonic() - started < 3
        message = str(caught.value)
        for source in ("AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "profile 'default'",
                       "container credentials", "instance metadata", "anonymous=True",
                       "s3://private-bucket"):  # fmt: skip
            assert source in message, (source, message)
        assert isinstance(caught.value, ros.PermissionDeniedError)
    # The probe is made once: a second call answers at once.
    started = time.monotonic()
    with pytest.raises(ros.NoCredentialsError):
        ros.Config("s3://other", {"region": "us-east-1"}).spec()
    assert time.monotonic() - started < 0.5


def test_metadata_turned_off_fails_without_a_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ros.NoCredentialsError, match="turned off by AWS_EC2_METADATA_DISABLED"):
        ros.AWSConfig("us-east-1", "b").spec()


def test_no_azure_or_gcs_credentials_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))  # no az here
    started = time.monotonic()
    with pytest.raises(ros.NoCredentialsError) as azure:
        ros.get_object("k", ros.AzureConfig("account", "container"))
    for source in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN", "client secret",
                   "workload identity", "managed identity", "Azure CLI"):  # fmt: skip
        assert source in str(azure.value)
    with pytest.raises(ros.NoCredentialsError) as gcs:
        ros.get_object("k", ros.GCSConfig("bucket"))
    for source in ("GOOGLE_APPLICATION_CREDENTIALS", "application-default", "metadata server"):
        assert source in str(gcs.value)
    assert time.monotonic() - started < 3


def test_an_anonymous_configuration_finds_its_endpoint_and_region_as_a_signed_one_does(
    minio_server: RunningServer, minio_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", minio_server.endpoint)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    for conf, region in ((ros.Config(f"s3://{minio_bucket}", {"anon": "true"}), "eu-west-3"),
                         (ros.AWSConfig("us-east-1", minio_bucket, anonymous=True), "us-east-1")):  # fmt: skip
        options = dict(conf.spec().options)
        assert options["skip_signature"] == "true" and options["region"] == region
        # MinIO's own refusal: the request went where the variable says, not to AWS.
        with pytest.raises(ros.PermissionDeniedError, match="sent unsigned"):
            ros.get_object("k", conf)


def test_anonymous_is_explicit(minio_server: RunningServer, minio_bucket: str) -> None:
    anonymous = minio_conf(minio_server, minio_bucket, anonymous=True)
    assert dict(anonymous.spec().options)["skip_signature"] == "true"
    # Sent unsigned, which a private bucket refuses (public reads: test_errors.py).
    with pytest.raises(ros.PermissionDeniedError, match="sent unsigned"):
        ros.get_object("k", anonymous)
    assert dict(ros.Config("s3://b", {"anon": "true"}).spec().options)["skip_signature"] == "true"
    for conf, field in (
        (lambda: ros.AWSConfig("r", "b", "id", "secret", anonymous=True), "access_key_id"),
        (lambda: ros.AWSConfig("r", "b", profile="p", anonymous=True), "profile"),
        (lambda: ros.AzureConfig("a", "c", "key", anonymous=True), "storage_account_key"),
        (lambda: ros.GCSConfig("b", "{}", anonymous=True), "service_account_key"),
    ):
        with pytest.raises(ros.ConfigurationError, match=f"takes no credentials, but {field}"):
            conf()


# --- Azure -----------------------------------------------------------------------------------


def azurite_connection_string(azurite: RunningServer, **parts: str) -> str:
    fields = {"DefaultEndpointsProtocol": "http", "AccountName": AZURITE_ACCOUNT,
              "AccountKey": AZURITE_KEY, "BlobEndpoint": azurite.endpoint, **parts}  # fmt: skip
    return ";".join(f"{k}={v}" for k, v in fields.items() if v)


def account_sas(key: str, permissions: str = "rwdlac") -> str:
    """An account SAS (version 2019-02-02) for the blob service, signed as Azure documents."""
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    fields = {"sv": "2019-02-02", "ss": "b", "srt": "sco", "sp": permissions,
              "se": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "spr": "https,http"}  # fmt: skip
    to_sign = "\n".join([AZURITE_ACCOUNT, fields["sp"], fields["ss"], fields["srt"], "",
                         fields["se"], "", fields["spr"], fields["sv"], ""])  # fmt: skip
    digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    fields["sig"] = base64.b64encode(digest).decode()
    return urlencode(fields)


def test_azure_connection_string_from_the_environment_and_from_code(
    azurite_server: RunningServer, azure_container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = azurite_connection_string(azurite_server)
    round_trip(ros.AzureConfig.from_connection_string(text, azure_container, opts=FAST))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", text)
    round_trip(ros.Config(f"az://{azure_container}"))  # account and endpoint come from it too
    round_trip(azure_config(azurite_server, azure_container, storage_account_key=None))
    wrong = azurite_connection_string(
        azurite_server, AccountKey=base64.b64encode(b"x" * 64).decode()
    )
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", wrong)
    with pytest.raises(ros.PermissionDeniedError):
        ros.get_object("k", ros.Config(f"az://{azure_container}"))


def test_azure_key_and_sas_from_the_environment(
    azurite_server: RunningServer, azure_container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A configuration resolves its chain once, when first used: each step takes a new one.
    def keyless() -> ros.AzureConfig:
        return azure_config(azurite_server, azure_container, storage_account_key=None)

    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)
    round_trip(keyless())
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", account_sas(AZURITE_KEY))
    round_trip(keyless(), delete=False)  # Azurite answers a batch delete under a SAS with a 500
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", account_sas(AZURITE_KEY, permissions="r"))
    with pytest.raises(ros.PermissionDeniedError):  # a read-only SAS cannot write: it was used
        ros.put_object("k", b"x", keyless())


def test_azure_client_secret_signs_requests(
    azurite_https: RunningServer, oauth_container: str, authority: CredentialServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AZURE_CLIENT_ID", "the-client")
    monkeypatch.setenv("AZURE_TENANT_ID", "the-tenant")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "the-client-secret")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", authority.endpoint)
    with own_pool(n_workers=1):
        round_trip(azure_config(azurite_https, oauth_container, storage_account_key=None))
    (sent,) = authority.requests("/the-tenant/oauth2/v2.0/token")  # one token serves all
    form = {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
    assert form["client_id"] == "the-client"
    assert form["client_secret"] == "the-client-secret"
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://storage.azure.com/.default"

    # Azurite checks the token: one for another audience is refused; the secret never shows.
    head, _, tail = authority.bearer_token.split(".")
    other = base64.urlsafe_b64encode(b'{"aud": "https://vault.azure.net"}').decode().rstrip("=")
    authority.bearer_token = f"{head}.{other}.{tail}"
    conf = azure_config(azurite_https, oauth_container, storage_account_key=None, opts=FAST)
    with own_pool(n_workers=1), pytest.raises(ros.PermissionDeniedError) as caught:
        ros.get_object("k", conf)
    assert "the-client-secret" not in str(caught.value)


def test_azure_workload_identity_sends_the_federated_token(
    azurite_https: RunningServer, oauth_container: str, authority: CredentialServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("the-federated-token")
    monkeypatch.setenv("AZURE_CLIENT_ID", "the-client")
    monkeypatch.setenv("AZURE_TENANT_ID", "the-tenant")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", authority.endpoint)
    conf = azure_config(azurite_https, oauth_container, storage_account_key=None)
    assert dict(conf.spec().options)["federated_token_file"] == str(token_file)
    with own_pool(n_workers=1):
        round_trip(conf)
    (sent,) = authority.requests("/the-tenant/oauth2/v2.0/token")
    form = {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
    assert form["client_id"] == "the-client"
    assert form["client_assertion"] == "the-federated-token"
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert form["scope"] == "https://storage.azure.com/.default"


def test_azure_managed_identity_and_cli(
    azurite_https: RunningServer, oauth_container: str, authority: CredentialServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    def keyless() -> ros.AzureConfig:
        return azure_config(azurite_https, oauth_container, storage_account_key=None)

    monkeypatch.setenv("MSI_ENDPOINT", f"{authority.endpoint}/metadata/identity/oauth2/token")
    with own_pool(n_workers=1):
        round_trip(keyless())
    fetched = list(authority.requests("/metadata/identity/oauth2/token"))
    assert len(fetched) >= 2  # the probe, then object_store's own request
    assert all(s.headers["metadata"] == "true" for s in fetched)
    assert all(s.query["resource"] == ["https://storage.azure.com"] for s in fetched)

    # Without managed identity, the Azure CLI: a stand-in az on PATH records how it was run.
    monkeypatch.setenv("MSI_ENDPOINT", f"{authority.endpoint}/nothing-here")
    _chain.forget_probes()
    record = tmp_path / "az-args"
    az = tmp_path / "bin" / "az"
    az.parent.mkdir()
    expires = (datetime.datetime.now() + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%d %H:%M:%S.%f"
    )
    answer = {"accessToken": azure_ad_token(), "expiresOn": expires, "tokenType": "Bearer",
              "subscription": "s", "tenant": "t"}  # fmt: skip
    az.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"print(json.dumps({answer!r}))\n"
    )
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{az.parent}{os.pathsep}{os.environ['PATH']}")
    conf = keyless()
    assert dict(conf.spec().options)["use_azure_cli"] == "true"
    # object_store runs az itself, in the worker: PATH is set before the workers start.
    with own_pool(n_workers=1):
        round_trip(conf)
    assert json.loads(record.read_text())[:2] == ["account", "get-access-token"]
    assert "https://storage.azure.com/.default" in json.loads(record.read_text())


# --- GCS -------------------------------------------------------------------------------------


def test_gcs_service_account_file_signs_requests(
    cred_server: CredentialServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key, account = service_account(f"{cred_server.endpoint}/token")
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(account))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    # object_store signs a JWT with the account's key and sends it as the bearer token; the
    # recording server stands where the bucket would be (fake-gcs-server checks no token).
    # A service-account file is object_store's service_account_path.
    conf = ros.GCSConfig("bucket", host=cred_server.endpoint, opts=ros.ClientOptions(max_retries=0))
    assert dict(conf.spec().options)["service_account_path"] == str(path)
    with pytest.raises(ros.NotFoundError):
        ros.get_object("k", conf)
    (sent,) = (s for s in cred_server.seen if "authorization" in s.headers)
    scheme, _, token = sent.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    header, claims, signed, signature = jwt_parts(token)
    assert header["alg"] == "RS256" and header["kid"] == "kid"
    assert claims["iss"] == "sa@p.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    key.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())

    # Without the variable, gcloud's application-default file, here holding the same account.
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    default = gcloud / "application_default_credentials.json"
    default.write_text(json.dumps(account))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
    cred_server.seen.clear()
    conf = ros.GCSConfig("bucket", host=cred_server.endpoint, opts=ros.ClientOptions(max_retries=0))
    assert dict(conf.spec().options)["service_account_path"] == str(default)
    with pytest.raises(ros.NotFoundError):
        ros.get_object("k", conf)
    (sent,) = (s for s in cred_server.seen if "authorization" in s.headers)
    _, claims, signed, signature = jwt_parts(sent.headers["authorization"].partition(" ")[2])
    assert claims["iss"] == "sa@p.iam.gserviceaccount.com"
    key.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())

    default.write_text(json.dumps({"type": "external_account"}))
    with pytest.raises(ros.NotSupportedError, match="'external_account' credentials"):
        ros.GCSConfig("bucket").spec()


def test_gcs_metadata_server(
    cred_server: CredentialServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # object_store reads GCE_METADATA_HOST itself, in the worker: set before the workers start.
    monkeypatch.setenv("GCE_METADATA_HOST", cred_server.endpoint.removeprefix("http://"))
    conf = ros.GCSConfig("bucket", host=cred_server.endpoint, opts=ros.ClientOptions(max_retries=0))
    with own_pool(n_workers=1), pytest.raises(ros.NotFoundError):
        ros.get_object("k", conf)
    fetched = list(
        cred_server.requests("/computeMetadata/v1/instance/service-accounts/default/token")
    )
    assert len(fetched) >= 2  # the probe, then object_store's own request
    assert all(s.headers["metadata-flavor"] == "Google" for s in fetched)
    (sent,) = (s for s in cred_server.seen if "authorization" in s.headers)
    assert sent.headers["authorization"] == f"Bearer {cred_server.bearer_token}"


# --- The command line and secrets -------------------------------------------------------------


def test_cli_lists_with_environment_and_profile_credentials(
    minio_server: RunningServer, minio_bucket: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    conf = ros.AWSConfig(
        "us-east-1", minio_bucket, MINIO_KEY, MINIO_SECRET, host=minio_server.endpoint
    )
    ros.put_object("dir/object", b"listed", conf)
    endpoint = ["-o", f"endpoint={minio_server.endpoint}", "-o", "allow_http=true"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MINIO_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MINIO_SECRET)
    assert cli_main(["ls", f"s3://{minio_bucket}/dir/", *endpoint]) == 0
    assert "object" in capsys.readouterr().out
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    write_profiles(tmp_path, monkeypatch,
                   f"[ci]\naws_access_key_id = {MINIO_KEY}\naws_secret_access_key = {MINIO_SECRET}\n",
                   "")  # fmt: skip
    assert cli_main(["ls", f"s3://{minio_bucket}/dir/", "--profile", "ci", *endpoint]) == 0
    assert "object" in capsys.readouterr().out
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert cli_main(["ls", f"s3://{minio_bucket}/dir/", *endpoint]) == 1
    err = capsys.readouterr().err
    assert "no AWS credentials" in err and "anonymous=True" in err
    # --anonymous: unsigned, which MinIO refuses for a private bucket, saying so.
    assert cli_main(["ls", f"s3://{minio_bucket}/dir/", "--anonymous", *endpoint]) == 1
    assert "unsigned" in capsys.readouterr().err


def test_secrets_from_the_chain_never_show(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    canary = "CANARY" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", canary)
    monkeypatch.setenv("AWS_SESSION_TOKEN", canary)
    conf = ros.AWSConfig("us-east-1", "b", host="http://127.0.0.1:9")
    assert canary not in repr(conf) + repr(conf.spec())
    with pytest.raises(ros.ObjectStoreError) as caught:
        ros.get_object("k", ros.AWSConfig("us-east-1", "b", host="http://127.0.0.1:9",
                                          opts=ros.ClientOptions(max_retries=0)))  # fmt: skip
    assert canary not in str(caught.value)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       f"AccountName=a;AccountKey={base64.b64encode(canary.encode()).decode()}")  # fmt: skip
    azure = ros.Config("az://c")
    assert base64.b64encode(canary.encode()).decode() not in repr(azure) + repr(azure.spec())
    # The pickled configuration carries no value the chain found: the other side looks again.
    import pickle

    assert canary.encode() not in pickle.dumps(conf)
