"""What RustyObjectStore.jl users rely on and find here the same way (issue 16's rows)."""

from __future__ import annotations

import time
import uuid

import pytest
from conftest import own_pool
from credserver import CredentialServer

import rustyobjectstore as ros


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
    monkeypatch: pytest.MonkeyPatch, ttl: int, tti: int
) -> None:
    """Zero made every cached store expire at once; as in the seed it keeps stores for good. A
    rebuilt GCS store fetches a new token from the metadata server, which counts them."""
    server = CredentialServer.start()
    try:
        # object_store reads GCE_METADATA_HOST itself, in the worker: set before it starts.
        monkeypatch.setenv("GCE_METADATA_HOST", server.endpoint.removeprefix("http://"))
        token_path = "/computeMetadata/v1/instance/service-accounts/default/token"

        def fetches() -> int:
            # The worker's, not this process's probe of the metadata server (urllib).
            seen = server.requests(token_path)
            return sum(not s.headers.get("user-agent", "").startswith("Python") for s in seen)

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
    finally:
        server.stop()
