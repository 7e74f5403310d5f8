"""Refreshing credential providers: called before expiry, pushed to every worker, retried once.

MinIO checks every signature, so a call that succeeds there was signed with what the provider
handed out, and one signed with a wrong secret fails.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import own_pool
from credserver import AwsKeys, CredentialServer, service_account
from emulators import RunningServer
from test_credentials import minio_session_keys

import rustyobjectstore as ros
from rustyobjectstore._auth.providers import MIN_REFRESH_SECS, provider_for
from rustyobjectstore._worker import lifetime

FAST = ros.ClientOptions(max_retries=1, initial_backoff_ms=1, max_backoff_ms=5)


def utc_in(seconds: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)


class Rotating:
    """A provider handing out the keys of ``keys`` in turn, each valid for ``lifetime`` seconds."""

    def __init__(self, keys: list[AwsKeys], lifetime: float) -> None:
        self.keys, self.lifetime = keys, lifetime
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> ros.AWSCredentials:
        with self.lock:
            keys = self.keys[min(self.calls, len(self.keys) - 1)]
            self.calls += 1
        return ros.AWSCredentials(
            keys.access_key_id, keys.secret_access_key, keys.session_token, utc_in(self.lifetime)
        )


def on_minio(minio: RunningServer, bucket: str, provider: object, **opts: object) -> ros.AWSConfig:
    return ros.AWSConfig(
        "us-east-1", bucket, host=minio.endpoint,
        opts=ros.ClientOptions(**{"max_retries": 1, "initial_backoff_ms": 1, **opts}),  # type: ignore[arg-type]
        credential_provider=provider,  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_idle_provider_runs_nothing_in_the_background(
    minio_server: RunningServer, minio_bucket: str
) -> None:
    """Refreshing ahead of expiry is for calls in flight: once they are done, no timer thread and
    no fetch runs, even for a provider whose credentials are already expired when handed out (it
    would otherwise be asked again in a loop, for as long as the process lives)."""
    keys = minio_session_keys(minio_server)
    calls: list[float] = []

    def expired() -> ros.AWSCredentials:
        calls.append(time.monotonic())
        return ros.AWSCredentials(
            keys.access_key_id, keys.secret_access_key, keys.session_token, utc_in(-1)
        )

    conf = on_minio(minio_server, minio_bucket, expired)
    ros.put_object("providers/idle", b"x", conf)
    assert ros.get_object("providers/idle", conf) == b"x"
    made = len(calls)
    time.sleep(2 * MIN_REFRESH_SECS + 0.5)
    assert len(calls) == made
    assert provider_for(expired, ros.AWSCredentials)._timer is None  # its timer ran, and stopped


@pytest.fixture
def session_keys(minio_server: RunningServer) -> list[AwsKeys]:
    return [minio_session_keys(minio_server) for _ in range(3)]


def test_credentials_expiring_during_calls_in_flight_are_refreshed_and_none_fails(
    minio_server: RunningServer, minio_bucket: str, session_keys: list[AwsKeys]
) -> None:
    provider = Rotating(session_keys, lifetime=1.5)  # refreshed every ~0.75 s
    conf = on_minio(minio_server, minio_bucket, provider)
    payload = os.urandom(64 * 1024)
    stop = time.monotonic() + 4

    def worker(n: int) -> int:
        done = 0
        while time.monotonic() < stop:
            key = f"providers/{n}/{done}"
            ros.put_object(key, payload, conf)
            assert ros.get_object(key, conf) == payload
            done += 1
        return done

    def stream() -> int:
        # A write stream open across several refreshes: its parts are signed as they go.
        written = 0
        with ros.put_object_stream("providers/stream", conf) as out:
            while time.monotonic() < stop:
                written += out.write(os.urandom(1024 * 1024))
                time.sleep(0.1)
        return written

    with ThreadPoolExecutor(5) as pool:
        streamed = pool.submit(stream)
        runs = list(pool.map(worker, range(4)))
    assert ros.head_object("providers/stream", conf).size == streamed.result() > 20 * 1024 * 1024
    assert all(runs)
    assert provider.calls >= 4  # fetched again ahead of each expiry, not once
    # Every worker of the pool was given them.
    pool_ = lifetime.current_pool()
    holders = [c for _, c in pool_.slots() if c is not None and c._held]
    assert len(holders) == pool_.settings.n_workers


def test_pushed_credentials_are_what_signs(
    minio_server: RunningServer, minio_bucket: str, session_keys: list[AwsKeys]
) -> None:
    good = session_keys[0]
    bad = AwsKeys(good.access_key_id, "not-the-secret", good.session_token)
    provider = Rotating([good, bad], lifetime=1.0)
    conf = on_minio(minio_server, minio_bucket, provider, max_retries=0)
    ros.put_object("providers/signed", b"x", conf)
    time.sleep(1.2)  # expired: the next call fetches the wrong keys, and MinIO refuses them
    with pytest.raises(ros.PermissionDeniedError) as caught:
        ros.get_object("providers/signed", conf)
    assert "not-the-secret" not in str(caught.value)
    assert provider.calls >= 3  # the refusal asked for fresh credentials once more


def test_a_refusal_fetches_fresh_credentials_and_tries_once_more(
    minio_server: RunningServer, minio_bucket: str, session_keys: list[AwsKeys]
) -> None:
    good = session_keys[0]
    revoked = AwsKeys(good.access_key_id, "revoked", good.session_token)
    provider = Rotating([revoked, good], lifetime=3600)  # not near expiry: only the refusal
    conf = on_minio(minio_server, minio_bucket, provider, max_retries=0)
    ros.put_object("providers/retried", b"after one refusal", conf)
    assert provider.calls == 2
    assert ros.get_object("providers/retried", conf) == b"after one refusal"
    assert provider.calls == 2  # the fresh ones are kept


def test_a_worker_spawned_later_gets_the_credentials(
    minio_server: RunningServer, minio_bucket: str, session_keys: list[AwsKeys]
) -> None:
    provider = Rotating(session_keys[:1], lifetime=3600)
    conf = on_minio(minio_server, minio_bucket, provider)
    with own_pool(n_workers=1):
        ros.put_object("providers/respawn", b"kept", conf)
        ((_, conn),) = lifetime.current_pool().slots()
        assert conn is not None
        os.kill(conn.pid, signal.SIGKILL)
        assert ros.get_object("providers/respawn", conf) == b"kept"  # read again on a fresh worker
        ((_, fresh),) = lifetime.current_pool().slots()
        assert fresh is not None and fresh is not conn and fresh._held
    assert provider.calls == 1


def test_async_providers_serve_the_sync_and_async_api(
    minio_server: RunningServer, minio_bucket: str, session_keys: list[AwsKeys]
) -> None:
    calls = 0

    async def provide() -> ros.AWSCredentials:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        keys = session_keys[0]
        return ros.AWSCredentials(keys.access_key_id, keys.secret_access_key, keys.session_token)

    conf = on_minio(minio_server, minio_bucket, provide)
    ros.put_object("providers/async", b"both", conf)

    async def read() -> bytes:
        return await ros.get_object_async("providers/async", conf)

    assert asyncio.run(read()) == b"both"
    assert calls == 1  # no expiry: fetched once


@pytest.mark.parametrize("call", ["get", "list", "reader", "refused"])
def test_a_slow_sync_provider_never_blocks_the_event_loop(
    call: str, minio_server: RunningServer, minio_bucket: str, session_keys: list[AwsKeys]
) -> None:
    """A sync provider may take seconds (an HTTP call): the async API calls it on a thread, and
    the loop's other tasks run meanwhile, for a call's first credentials and for a refusal's."""
    good = session_keys[0]
    keys = [AwsKeys(good.access_key_id, "revoked", good.session_token), good]
    rotating = Rotating(keys if call == "refused" else [good], lifetime=3600)
    SLOW = 0.6

    def slow() -> ros.AWSCredentials:
        time.sleep(SLOW)
        return rotating()

    conf = on_minio(minio_server, minio_bucket, slow, max_retries=0)
    ros.put_object("providers/slow", b"patient", on_minio(minio_server, minio_bucket, rotating))
    rotating.calls = 0

    async def the_call() -> object:
        if call == "list":
            return [m.path async for m in ros.list_objects_async("providers/slow", conf)]
        if call == "reader":
            async with await ros.open_reader_async("providers/slow", conf) as reader:
                return await reader.read()
        return await ros.get_object_async("providers/slow", conf)

    async def main() -> tuple[object, float]:
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        try:
            got = await the_call()
        finally:
            ticking.cancel()
        return got, max(gaps)

    got, longest = asyncio.run(main())
    assert got == (["providers/slow"] if call == "list" else b"patient")
    assert rotating.calls == (2 if call == "refused" else 1)
    assert longest < SLOW / 2  # the loop ran while the provider slept


def test_provider_errors_are_clear_and_hold_no_secret(
    minio_server: RunningServer, minio_bucket: str
) -> None:
    def failing() -> ros.AWSCredentials:
        raise RuntimeError("token endpoint said CANARY-SECRET")

    with pytest.raises(
        ros.PermissionDeniedError, match=r"credential provider failed \(RuntimeError\)"
    ) as caught:
        ros.get_object("k", on_minio(minio_server, minio_bucket, failing))
    assert "CANARY" not in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)

    def wrong_kind() -> ros.BearerToken:
        return ros.BearerToken("t")

    with pytest.raises(ros.ConfigurationError, match="returned BearerToken, not AWSCredentials"):
        ros.get_object("k", on_minio(minio_server, minio_bucket, wrong_kind))
    with pytest.raises(ros.ConfigurationError, match="not both, but access_key_id is set"):
        ros.AWSConfig("r", "b", "id", "secret", credential_provider=wrong_kind)
    assert "secret_access_key='***'" in repr(ros.AWSCredentials("AKID", "CANARY"))
    assert "CANARY" not in repr(ros.AWSCredentials("AKID", "CANARY")) + repr(
        ros.BearerToken("CANARY")
    )


# --- Adapters for the SDKs users already have --------------------------------------------------


def test_boto3_sessions_refreshable_credentials(
    minio_server: RunningServer, minio_bucket: str, session_keys: list[AwsKeys]
) -> None:
    import boto3
    import botocore.credentials
    import botocore.session

    fetched = 0

    def refresh() -> dict[str, str]:
        nonlocal fetched
        keys = session_keys[min(fetched, 2)]
        fetched += 1
        return {"access_key": keys.access_key_id, "secret_key": keys.secret_access_key,
                "token": keys.session_token, "expiry_time": utc_in(3600).isoformat()}  # fmt: skip

    core = botocore.session.Session()
    core._credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
        refresh(), refresh, "test"
    )
    provider = ros.boto3_credential_provider(boto3.Session(botocore_session=core))
    handed = provider()
    assert isinstance(handed, ros.AWSCredentials) and handed.expires_at is not None
    assert handed.expires_at > utc_in(3000)
    conf = on_minio(minio_server, minio_bucket, provider)
    ros.put_object("providers/boto3", b"botocore resolved it", conf)
    assert ros.get_object("providers/boto3", conf) == b"botocore resolved it"


@pytest.fixture
def cred_server() -> Iterator[CredentialServer]:
    server = CredentialServer.start()
    yield server
    server.stop()


def test_google_auth_credentials(cred_server: CredentialServer, tmp_path: Path) -> None:
    from google.oauth2 import service_account as google_service_account

    _, info = service_account(f"{cred_server.endpoint}/token")
    credentials = google_service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
    )
    conf = ros.GCSConfig("bucket", host=cred_server.endpoint, opts=ros.ClientOptions(max_retries=0),
                         credential_provider=ros.google_credential_provider(credentials))  # fmt: skip
    with pytest.raises(ros.NotFoundError):  # the recording server has no objects
        ros.get_object("k", conf)
    (exchange,) = cred_server.requests("/token")
    assert b"jwt-bearer" in exchange.body
    (sent,) = (s for s in cred_server.seen if "authorization" in s.headers)
    assert sent.headers["authorization"] == f"Bearer {cred_server.bearer_token}"


def test_azure_identity_token_credentials(
    azurite_https: RunningServer, oauth_container: str, authority: CredentialServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from azure.identity import ManagedIdentityCredential

    # App Service's managed identity endpoint.
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{authority.endpoint}/metadata/identity/oauth2/token")
    monkeypatch.setenv("IDENTITY_HEADER", "app-service-secret")
    provider = ros.azure_credential_provider(ManagedIdentityCredential())
    handed = provider()
    assert isinstance(handed, ros.BearerToken) and handed.token == authority.bearer_token
    assert handed.expires_at is not None and handed.expires_at > utc_in(3000)
    (asked,) = authority.requests("/metadata/identity/oauth2/token")
    assert asked.headers["x-identity-header"] == "app-service-secret"
    assert asked.query["resource"] == ["https://storage.azure.com"]
    # Azurite (over HTTPS, --oauth basic) checks the pushed token's audience and issuer.
    conf = ros.AzureConfig("devstoreaccount1", oauth_container, host=azurite_https.endpoint,
                           credential_provider=provider)  # fmt: skip
    with own_pool(n_workers=1):
        ros.put_object("k", b"signed by azure-identity", conf)
        assert ros.get_object("k", conf) == b"signed by azure-identity"
    refused = ros.AzureConfig("devstoreaccount1", oauth_container, host=azurite_https.endpoint,
                              credential_provider=lambda: ros.BearerToken("not-a-jwt"),
                              opts=ros.ClientOptions(max_retries=0))  # fmt: skip
    with own_pool(n_workers=1), pytest.raises(ros.PermissionDeniedError) as caught:
        ros.get_object("k", refused)
    assert "not-a-jwt" not in str(caught.value)
