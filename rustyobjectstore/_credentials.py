"""Credentials given in the forms other tools hand them out: today, Azure storage connection strings.

Nothing here ever puts a value into an error message: a connection string holds the account key.
"""

from __future__ import annotations

from rustyobjectstore._errors import ConfigurationError

# Azurite's well-known development account (published in Azure's own documentation).
_DEV_ACCOUNT = "devstoreaccount1"
_DEV_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_DEV_BLOB_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"


def azure_connection_string(text: str) -> dict[str, str | None]:
    """The ``AzureConfig`` fields a storage connection string names: ``storage_account_name``,
    ``storage_account_key``, ``storage_sas_token`` and ``host`` (the account's blob URL).
    ``UseDevelopmentStorage=true`` is Azurite on its default port."""
    parts: dict[str, str] = {}
    for item in text.strip().strip(";").split(";"):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(
                "a connection string is ';'-separated Name=value pairs; one part has no '='"
            )
        parts[name.strip().lower()] = value.strip()
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return {
            "storage_account_name": _DEV_ACCOUNT,
            "storage_account_key": _DEV_KEY,
            "storage_sas_token": None,
            "host": parts.get("developmentstorageproxyuri") or _DEV_BLOB_ENDPOINT,
        }
    account = parts.get("accountname")
    if not account:
        raise ConfigurationError("the connection string names no AccountName")
    host = parts.get("blobendpoint")
    suffix = parts.get("endpointsuffix")
    if host is None and suffix and suffix != "core.windows.net":
        scheme = parts.get("defaultendpointsprotocol", "https")
        host = f"{scheme}://{account}.blob.{suffix}"
    return {
        "storage_account_name": account,
        "storage_account_key": parts.get("accountkey") or None,
        "storage_sas_token": parts.get("sharedaccesssignature") or None,
        "host": host.rstrip("/") if host else None,
    }
