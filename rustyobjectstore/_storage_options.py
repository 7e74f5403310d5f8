"""fsspec ``storage_options`` turned into store configurations, one per bucket or container.

Each kind takes the library's own field names (``AWSConfig``'s, ``AzureConfig``'s, ...) and the
spellings of s3fs, gcsfs and adlfs, so that moving from one of them is a one-line change. An
unknown option, or one given twice under two spellings, is a ``ConfigurationError`` naming it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from rustyobjectstore._auth.aws import aws_region
from rustyobjectstore._auth.azure import azure_connection_string
from rustyobjectstore._auth.schemes import AZURE, GCS, S3
from rustyobjectstore._config import (
    AWSConfig,
    AzureConfig,
    ClientOptions,
    Config,
    GCSConfig,
    StoreConfig,
)
from rustyobjectstore._errors import ConfigurationError, NoCredentialsError

StoreOf = Callable[[str], StoreConfig]
"""The configuration of one bucket (container) by its name."""

# Another tool's name for one of our fields.
_S3_ALIASES = {
    "key": "access_key_id",
    "secret": "secret_access_key",
    "token": "session_token",
    "endpoint_url": "host",
    "region_name": "region",
}
_S3_CLIENT_KWARGS = {"endpoint_url", "region_name"}
_S3_FIELDS = {"region", "access_key_id", "secret_access_key", "session_token", "host",
              "unsigned_payload", "opts", "anonymous", "profile", "use_instance_metadata"}  # fmt: skip
_AZURE_ALIASES = {
    "account_name": "storage_account_name",
    "account_key": "storage_account_key",
    "sas_token": "storage_sas_token",
}
_AZURE_FIELDS = {"storage_account_name", "storage_account_key", "storage_sas_token", "host",
                 "opts", "anonymous"}  # fmt: skip
_GCS_ALIASES = {"endpoint_url": "host"}
_GCS_FIELDS = {"service_account_key", "host", "opts", "anonymous"}


def _unknown(kind: str, name: str, known: set[str]) -> ConfigurationError:
    return ConfigurationError(
        f"unknown storage option {name!r} for {kind}:// (known: {', '.join(sorted(known))})"
    )


def _fields(
    kind: str, options: Mapping[str, Any], aliases: Mapping[str, str], fields: set[str],
    extra: set[str],
) -> dict[str, Any]:  # fmt: skip
    """Our field names for ``options``; the names in ``extra`` are left to the caller."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name in extra:
            continue
        field = aliases.get(name, name)
        if field not in fields:
            raise _unknown(kind, name, fields | set(aliases) | extra)
        if field in out:
            raise ConfigurationError(f"storage option {field!r} for {kind}:// is given twice")
        out[field] = value
    return out


def _anonymous(kind: str, options: Mapping[str, Any], fields: dict[str, Any]) -> None:
    """s3fs's, gcsfs's and adlfs's ``anon`` is the configurations' ``anonymous``."""
    anon = options.get("anon", False)
    if not isinstance(anon, bool):
        raise ConfigurationError(f"storage option 'anon' must be True or False, got {anon!r}")
    if anon:
        if "anonymous" in fields:
            raise ConfigurationError(f"storage option 'anonymous' for {kind}:// is given twice")
        fields["anonymous"] = True


def _s3(options: Mapping[str, Any]) -> StoreOf:
    fields = _fields(S3, options, _S3_ALIASES, _S3_FIELDS, {"anon", "client_kwargs"})
    client = options.get("client_kwargs") or {}
    if not isinstance(client, Mapping):
        raise ConfigurationError("storage option 'client_kwargs' must be a mapping")
    for name, value in client.items():
        if name not in _S3_CLIENT_KWARGS:
            raise _unknown("s3 client_kwargs", name, _S3_CLIENT_KWARGS)
        field = _S3_ALIASES[name]
        if field in fields:
            raise ConfigurationError(f"storage option {field!r} for s3:// is given twice")
        fields[field] = value
    _anonymous(S3, options, fields)
    if "region" not in fields:
        fields["region"] = aws_region(fields.get("profile"))
    return _checked(functools.partial(_one_bucket, AWSConfig, "bucket_name", fields))


def _azure(options: Mapping[str, Any]) -> StoreOf:
    extra = {"anon", "connection_string", "account_host"}
    fields = _fields(AZURE, options, _AZURE_ALIASES, _AZURE_FIELDS, extra)
    text = options.get("connection_string")
    if text is not None:
        given = [name for name in fields if name != "opts"]
        if given:
            raise ConfigurationError(
                f"storage option 'connection_string' for az:// cannot go with {given[0]!r}"
            )
        fields.update(azure_connection_string(str(text)))
    host = options.get("account_host")
    if host is not None:
        if fields.get("host") is not None:
            raise ConfigurationError("storage option 'host' for az:// is given twice")
        fields["host"] = f"https://{host}"
    if "storage_account_name" not in fields:
        raise ConfigurationError("az:// needs 'account_name' or 'connection_string'")
    _anonymous(AZURE, options, fields)
    return _checked(functools.partial(_one_bucket, AzureConfig, "container_name", fields))


def _gcs(options: Mapping[str, Any]) -> StoreOf:
    fields = _fields(GCS, options, _GCS_ALIASES, _GCS_FIELDS, {"anon", "token", "project"})
    token = options.get("token")
    if token is not None and token != "anon":
        if "service_account_key" in fields:
            raise ConfigurationError(
                "storage option 'service_account_key' for gs:// is given twice"
            )
        fields["service_account_key"] = _service_account(token)
    _anonymous(GCS, {**options, "anon": options.get("anon", False) or token == "anon"}, fields)
    return _checked(functools.partial(_one_bucket, GCSConfig, "bucket_name", fields))


def _service_account(token: object) -> str:
    """gcsfs's ``token``: a service-account key as a dict, or the path of its JSON file."""
    if isinstance(token, Mapping):
        return json.dumps(dict(token))
    if isinstance(token, (str, os.PathLike)) and os.path.isfile(token):
        with open(token, encoding="utf-8") as f:
            return f.read()
    raise ConfigurationError(
        "storage option 'token' for gs:// must be 'anon', a service-account key (a dict) or the "
        "path of its JSON file; other credential sources are not supported yet"
    )


def _one_bucket(
    make: Callable[..., StoreConfig], field: str, fields: dict[str, Any], bucket: str
) -> StoreConfig:
    """The configuration of ``bucket`` (a container, for Azure) with the options' fields."""
    return make(**{field: bucket}, **fields)


def _checked(store_of: StoreOf) -> StoreOf:
    """Builds one configuration now, so that a bad value fails when the filesystem is made."""
    conf = store_of("bucket")
    opts = getattr(conf, "opts", None)
    if not isinstance(opts, ClientOptions):
        raise ConfigurationError(f"storage option 'opts' must be a ClientOptions, got {opts!r}")
    try:
        conf.spec()
    except NoCredentialsError:
        pass  # the first call says so: a filesystem is made before its credentials are needed
    return functools.lru_cache(maxsize=256)(store_of)


def _local(url: str) -> Callable[[Mapping[str, Any]], StoreOf]:
    def make(options: Mapping[str, Any]) -> StoreOf:
        for name, value in options.items():
            # LocalFileSystem's auto_mkdir: our file store always makes the parents.
            if name != "auto_mkdir" or url != "file:///":
                raise _unknown(
                    url.split(":")[0], name, {"auto_mkdir"} if url == "file:///" else set()
                )
            if not isinstance(value, bool):
                raise ConfigurationError("storage option 'auto_mkdir' must be True or False")
        conf = Config(url)
        return lambda _bucket: conf

    return make


STORES: dict[str, Callable[[Mapping[str, Any]], StoreOf]] = {
    S3: _s3,
    AZURE: _azure,
    GCS: _gcs,
    "file": _local("file:///"),
    "memory": _local("memory://"),
}
