"""Azure's default chain: explicit credentials; then the storage tools' variables (a connection
string, an account key, a SAS), then DefaultAzureCredential's order: a client secret, workload
identity, managed identity, the Azure CLI. Also connection strings, as the storage tools write them."""

from __future__ import annotations

import shutil
from collections.abc import Mapping

from rustyobjectstore._auth.chain import (
    Options,
    from_env,
    get_option,
    no_credentials,
    probe,
    set_endpoint,
    settled,
)
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


_AZURE_CREDENTIALS = (
    "storage_account_key", "account_key", "access_key", "storage_sas_key", "storage_sas_token",
    "sas_key", "sas_token", "storage_token", "bearer_token", "token", "storage_client_secret",
    "client_secret", "federated_token_file", "use_azure_cli", "msi_endpoint", "identity_endpoint",
    "storage_use_emulator", "use_emulator", "credential_type", "fabric_token_service_url",
)  # fmt: skip


_AZURE_METADATA = "http://169.254.169.254/metadata/identity/oauth2/token"


def _azure_connection(out: Options, account: str | None, tried: list[str]) -> bool:
    text = from_env("AZURE_STORAGE_CONNECTION_STRING")
    if text is None:
        tried.append("AZURE_STORAGE_CONNECTION_STRING")
        return False
    fields = azure_connection_string(text)
    if account is not None and fields["storage_account_name"] != account:
        tried.append("AZURE_STORAGE_CONNECTION_STRING (it names another account)")
        return False
    out.setdefault("account_name", fields["storage_account_name"] or "")
    host = fields["host"]
    if host and get_option(out, "azure", "endpoint", "storage_endpoint") is None:
        set_endpoint(out, "endpoint", host)
    for field, option in (("storage_account_key", "account_key"),
                          ("storage_sas_token", "sas_token")):  # fmt: skip
        if fields[field]:
            out[option] = fields[field] or ""
            return True
    tried.append("AZURE_STORAGE_CONNECTION_STRING (it holds no key or SAS)")
    return False


def azure_options(options: Mapping[str, str | None], *, where: str) -> Options:
    """``options`` completed by the Azure chain: account, endpoint and credentials."""
    out: Options = {k: v for k, v in options.items() if v is not None}
    if settled(out, "azure", _AZURE_CREDENTIALS):
        return out
    tried: list[str] = []
    account = get_option(out, "azure", "storage_account_name", "account_name")
    if _azure_connection(out, account, tried):
        return out
    if get_option(out, "azure", "storage_account_name", "account_name") is None:
        name = from_env("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT")
        if name:
            out["account_name"] = name
    for variables, option in ((("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY"), "account_key"),
                              (("AZURE_STORAGE_SAS_TOKEN",), "sas_token")):  # fmt: skip
        value = from_env(*variables)
        if value:
            out[option] = value
            return out
        tried.append(" or ".join(variables))
    client, tenant = from_env("AZURE_CLIENT_ID"), from_env("AZURE_TENANT_ID")
    authority = from_env("AZURE_AUTHORITY_HOST")
    identity = {"client_id": client or "", "tenant_id": tenant or ""}
    if authority:
        identity["authority_host"] = authority.rstrip("/")
    for variable, option, described in (
        ("AZURE_CLIENT_SECRET", "client_secret", "a client secret (AZURE_CLIENT_ID, "
         "AZURE_TENANT_ID, AZURE_CLIENT_SECRET)"),
        ("AZURE_FEDERATED_TOKEN_FILE", "federated_token_file", "workload identity "
         "(AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)"),
    ):  # fmt: skip
        value = from_env(variable)
        if client and tenant and value:
            return {**out, **identity, option: value}
        tried.append(described)
    endpoint = from_env("IDENTITY_ENDPOINT", "MSI_ENDPOINT")
    headers = {"Metadata": "true"}
    secret_header = from_env("IDENTITY_HEADER")
    if secret_header:
        headers["X-IDENTITY-HEADER"] = secret_header
    probe_url = (
        f"{endpoint or _AZURE_METADATA}?api-version=2019-08-01&resource=https://storage.azure.com"
    )
    why = probe("GET", probe_url, headers)
    if why is None:
        if endpoint:
            out["msi_endpoint"] = endpoint
        if client:
            out["client_id"] = client  # a user-assigned identity
        return out
    tried.append(f"managed identity at {endpoint or _AZURE_METADATA}: {why}")
    if shutil.which("az"):
        return {**out, "use_azure_cli": "true"}
    tried.append("the Azure CLI (no az on PATH)")
    raise no_credentials(
        "Azure", where, tried, "Pass storage_account_key or storage_sas_token, or set "
        "AZURE_STORAGE_CONNECTION_STRING",
    )  # fmt: skip
