"""Bad input gets a clear, typed error that names the problem and shows no secret."""

from __future__ import annotations

import socket
import uuid

import pytest
from conftest import SilentServer, azure_config, s3_at, s3_config
from emulators import AZURITE_KEY, RunningServer, s3_client

import rustyobjectstore as ros

CANARY = "CANARY-secret-value-0123456789"


def test_a_bad_url_is_a_parse_url_error() -> None:
    for url in ["nope://bucket", "not a url", "memory://host-is-not-allowed"]:
        with pytest.raises(ros.ParseURLError) as caught:
            ros.get_object("k", ros.Config(url))
        assert isinstance(caught.value, ValueError)
        assert ros.is_parse_url(caught.value)


def test_an_unknown_option_is_named(moto_server: RunningServer) -> None:
    conf = ros.Config("s3://bucket", {"region": "us-east-1", "regoin": "typo", "anon": "true"})
    with pytest.raises(ros.ConfigurationError, match="regoin"):
        ros.get_object("k", conf)
    with pytest.raises(ros.ConfigurationError, match="colour"):
        ros.put_object("k", b"", ros.Config("memory://", {"colour": "blue"}))


def test_a_missing_local_root_is_a_configuration_error(tmp_path: object) -> None:
    with pytest.raises(ros.ConfigurationError, match="not an existing directory"):
        ros.get_object("k", ros.Config("file:///no/such/dir/anywhere"))


@pytest.mark.parametrize(
    "key", ["../escape", "a/../../b", "/abs/path", "a//b", "bad\x00nul", "tab\there", ""]
)
def test_keys_that_could_escape_a_local_root_are_rejected(key: str, tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path)) / "root"
    root.mkdir()
    conf = ros.Config(root.as_uri())
    with pytest.raises(ros.InvalidPathError) as caught:
        ros.put_object(key, b"x", conf)
    assert isinstance(caught.value, ValueError)
    assert list(root.parent.iterdir()) == [root]
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("key", ["C:", "dir/C:/x", "dir/abC:", "dir/hello|", "A#B:"])
def test_keys_a_local_store_cannot_hold_are_rejected_before_any_file(
    key: str, tmp_path: object
) -> None:
    from pathlib import Path

    root = Path(str(tmp_path)) / "root"
    root.mkdir()
    with pytest.raises(ros.InvalidPathError, match=r"drive letter|cannot end in"):
        ros.put_object(key, b"x", ros.Config(root.as_uri()))
    assert list(root.iterdir()) == []
    elsewhere = ros.Config("memory:///drive-letters")
    assert ros.put_object(key, b"x", elsewhere) == 1  # a key like any other there
    assert ros.get_object(key, elsewhere) == b"x"


def test_a_wrong_azure_key_is_a_permission_error_without_the_key(
    azurite_server: RunningServer, azure_container: str
) -> None:
    wrong = AZURITE_KEY[:-8] + "AAAAAAA="
    conf = azure_config(azurite_server, azure_container, storage_account_key=wrong)
    with pytest.raises(PermissionError) as caught:
        ros.put_object("k", b"x", conf)
    error = caught.value
    assert isinstance(error, ros.PermissionDeniedError)
    assert ros.status_code(error) == 403
    assert wrong not in str(error) and wrong not in repr(error)
    assert wrong not in repr(conf) and wrong not in str(conf)


def test_a_bad_sas_token_is_a_permission_error_without_the_token(
    azurite_server: RunningServer, azure_container: str
) -> None:
    token = f"sv=2021-08-06&ss=b&srt=sco&sp=rwdl&se=2099-01-01T00:00:00Z&sig={CANARY}"
    conf = azure_config(
        azurite_server, azure_container, storage_account_key=None, storage_sas_token=token
    )
    with pytest.raises(ros.PermissionDeniedError) as caught:
        ros.get_object("k", conf)
    text = f"{caught.value} {caught.value!r} {caught.value.message}"
    assert CANARY not in text
    assert CANARY not in repr(conf)


def test_secrets_never_show_in_reprs() -> None:
    configs: list[object] = [
        ros.AWSConfig(
            "us-east-1", "b", access_key_id="AKIA", secret_access_key=CANARY, session_token=CANARY
        ),
        ros.AzureConfig("acct", "c", storage_account_key=CANARY),
        ros.AzureConfig("acct", "c", storage_sas_token=CANARY),
        ros.GCSConfig("b", service_account_key=CANARY),
        ros.Config("s3://b", {"secret_access_key": CANARY, "region": "r"}),
        ros.Config(f"https://host/path?sig={CANARY}"),
    ]
    for conf in configs:
        assert CANARY not in repr(conf)
        assert CANARY not in str(conf)


def test_configurations_are_hashable_picklable_and_stripped() -> None:
    import pickle

    a = ros.AzureConfig(" acct\n", "c\n", storage_account_key="key\n", host="http://h:1/acct/ ")
    assert a.storage_account_name == "acct" and a.storage_account_key == "key"
    assert a.host == "http://h:1/acct/"
    assert pickle.loads(pickle.dumps(a)) == a
    assert hash(a) == hash(
        ros.AzureConfig("acct", "c", storage_account_key="key", host="http://h:1/acct/")
    )
    c = ros.Config("s3://b", {"region": "x "})
    assert pickle.loads(pickle.dumps(c)) == c
    assert {c: 1}[ros.Config("s3://b", {"region": "x"})] == 1
    with pytest.raises(AttributeError):
        a.container_name = "other"  # type: ignore[misc]


def test_errors_pickle_with_their_fields() -> None:
    import pickle

    error = ros.NotFoundError("gone", op="get", path="a/b", status=404)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ros.NotFoundError
    assert (copy.op, copy.path, copy.status_code, copy.message) == ("get", "a/b", 404, "gone")


def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on `port` now.
    conf = s3_at(f"http://127.0.0.1:{port}", max_retries=0, connect_timeout_secs=2)
    with pytest.raises(ConnectionError) as caught:
        ros.get_object("k", conf)
    assert ros.is_connection(caught.value)
    assert isinstance(caught.value, ros.ObjectStoreConnectionError)


def test_a_silent_server_is_a_timeout_error(silent_server: SilentServer) -> None:
    conf = s3_at(silent_server.endpoint, max_retries=0, request_timeout_secs=0.5)
    with pytest.raises(TimeoutError) as caught:
        ros.get_object("k", conf)
    assert ros.is_timeout(caught.value)


def test_anonymous_s3_reads_a_public_bucket_and_is_refused_a_private_one(
    moto_server: RunningServer, s3_bucket: str
) -> None:
    import json

    signed = s3_config(moto_server, s3_bucket)
    ros.put_object("public/obj", b"data", signed)
    anonymous = s3_config(
        moto_server, s3_bucket, access_key_id=None, secret_access_key=None, anonymous=True
    )
    assert dict(anonymous.spec().options)["skip_signature"] == "true"
    with pytest.raises(ros.PermissionDeniedError):
        ros.get_object("public/obj", anonymous)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{s3_bucket}/public/*",
            }
        ],
    }
    s3_client(moto_server.endpoint, "testing", "testing").put_bucket_policy(
        Bucket=s3_bucket, Policy=json.dumps(policy)
    )
    assert ros.get_object("public/obj", anonymous) == b"data"


def test_anonymous_azure_reads_a_public_container(azurite_server: RunningServer) -> None:
    from emulators import azure_request

    name = f"public-{uuid.uuid4().hex}"
    created = azure_request(
        "PUT", f"{azurite_server.endpoint}/{name}?restype=container",
        headers={"x-ms-blob-public-access": "blob"},
    )  # fmt: skip
    assert created.status == 201
    ros.put_object("open/data", b"for everyone", azure_config(azurite_server, name))
    anonymous = azure_config(azurite_server, name, storage_account_key=None, anonymous=True)
    assert dict(anonymous.spec().options)["skip_signature"] == "true"
    assert ros.get_object("open/data", anonymous) == b"for everyone"
    with pytest.raises(ros.PermissionDeniedError):
        ros.put_object("open/new", b"x", anonymous)


def test_anonymous_azure_write_is_refused(
    azurite_server: RunningServer, azure_container: str
) -> None:
    anonymous = azure_config(
        azurite_server, azure_container, storage_account_key=None, anonymous=True
    )
    with pytest.raises(ros.PermissionDeniedError) as caught:
        ros.put_object("k", b"x", anonymous)
    assert ros.status_code(caught.value) in (401, 403)


def test_seed_helpers_on_other_exceptions() -> None:
    plain = RuntimeError("x")
    assert ros.status_code(plain) is None
    assert not any(
        f(plain)
        for f in (
            ros.is_connection,
            ros.is_timeout,
            ros.is_early_eof,
            ros.is_parse_url,
            ros.is_unknown,
        )
    )
    assert ros.is_unknown(ros.UnknownError("?"))
    assert ros.is_early_eof(ros.EarlyEOFError("cut"))
