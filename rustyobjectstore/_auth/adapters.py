"""Credential providers from the SDKs users already have (boto3, azure-identity, google-auth), each
importing its SDK only when called, so that none of them is a dependency."""

from __future__ import annotations

import datetime
import inspect
import threading
from typing import Any

from rustyobjectstore._auth.providers import AWSCredentials, BearerToken, CredentialProvider
from rustyobjectstore._errors import PermissionDeniedError


def boto3_credential_provider(session: Any = None) -> CredentialProvider:
    """Credentials from a boto3 ``Session`` (the default one if None): whatever botocore
    resolves, SSO, ``credential_process`` and assume-role chains included, refreshed as botocore
    refreshes them. ``AWSConfig(..., credential_provider=boto3_credential_provider())``."""
    if session is None:
        import boto3

        session = boto3.Session()

    def provide() -> AWSCredentials:
        found = session.get_credentials()
        if found is None:
            raise PermissionDeniedError("the boto3 session found no credentials")
        frozen = found.get_frozen_credentials()
        # botocore's refreshable credentials know when they expire, though not publicly.
        expiry = getattr(found, "_expiry_time", None)
        return AWSCredentials(frozen.access_key, frozen.secret_key, frozen.token or None, expiry)

    return provide


AZURE_STORAGE_SCOPE = "https://storage.azure.com/.default"


def azure_credential_provider(credential: Any) -> CredentialProvider:
    """Bearer tokens from an azure-identity ``TokenCredential`` (``DefaultAzureCredential()``,
    ``ManagedIdentityCredential()``, ...; the ``azure.identity.aio`` ones too) for the storage
    scope. ``AzureConfig(..., credential_provider=azure_credential_provider(cred))``."""

    def token(found: Any) -> BearerToken:
        expires = datetime.datetime.fromtimestamp(found.expires_on, datetime.timezone.utc)
        return BearerToken(found.token, expires)

    if inspect.iscoroutinefunction(credential.get_token):

        async def provide_async() -> BearerToken:
            return token(await credential.get_token(AZURE_STORAGE_SCOPE))

        return provide_async

    def provide() -> BearerToken:
        return token(credential.get_token(AZURE_STORAGE_SCOPE))

    return provide


def google_credential_provider(credentials: Any = None) -> CredentialProvider:
    """Bearer tokens from google-auth ``Credentials`` (``google.auth.default()``'s if None),
    refreshed when they are no longer valid. ``GCSConfig(..., credential_provider=...)``."""
    import google.auth
    import google.auth.transport.requests

    if credentials is None:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
        )
    lock = threading.Lock()

    def provide() -> BearerToken:
        with lock:
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())
            expiry = credentials.expiry  # naive UTC in google-auth
            if expiry is not None and expiry.tzinfo is None:
                expiry = expiry.replace(tzinfo=datetime.timezone.utc)
            return BearerToken(credentials.token, expiry)

    return provide
