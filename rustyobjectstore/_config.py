"""Configurations: immutable, hashable and picklable; no repr or str ever shows a secret.

Each store configuration turns into a ``StoreSpec`` (the URL, object_store option names and client
settings of protocol.md's ``register``). The worker validates the option names; an unknown one is a
``ConfigurationError`` naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from rustyobjectstore._auth.aws import aws_options
from rustyobjectstore._auth.azure import azure_connection_string, azure_options
from rustyobjectstore._auth.credentials import url_options
from rustyobjectstore._auth.gcs import gcs_options
from rustyobjectstore._auth.providers import (
    AWSCredentials,
    BearerToken,
    CredentialProvider,
    Provider,
    provider_for,
)
from rustyobjectstore._auth.snowflake import snowflake_options
from rustyobjectstore._redact import hide_query, is_secret_option
from rustyobjectstore._worker.settings import (
    StaticConfig as StaticConfig,  # old pickles name it here
)
from rustyobjectstore._worker.spec import StoreSpec


def _masked(value: object) -> str:
    return "None" if value is None else "'***'"


def _strip_strings(obj: object) -> None:
    """Configuration values pasted with a trailing newline still work (the seed strips them too)."""
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, str) and value != value.strip():
            object.__setattr__(obj, f.name, value.strip())


def _config_error(message: str) -> Exception:
    from rustyobjectstore._errors import ConfigurationError

    return ConfigurationError(message)


@dataclass(frozen=True)
class ClientOptions:
    """HTTP client settings passed to object_store; ``None`` keeps object_store's default. Every
    store configuration takes one as ``opts``:
    ``AWSConfig("us-east-1", "mybucket", opts=ClientOptions(request_timeout_secs=10))``."""

    request_timeout_secs: float | None = None  # object_store: 30 s
    connect_timeout_secs: float | None = None  # 5 s
    max_retries: int | None = None  # 10
    retry_timeout_secs: float | None = None  # 180 s
    initial_backoff_ms: int | None = None  # 100 ms
    max_backoff_ms: int | None = None  # 15 s
    backoff_exp_base: float | None = None  # 2

    def client_settings(self) -> dict[str, Any]:
        """The timeouts that are set, as the worker's ``register`` frame names them."""
        pairs = {
            "timeout_secs": self.request_timeout_secs,
            "connect_timeout_secs": self.connect_timeout_secs,
        }
        return {k: float(v) for k, v in pairs.items() if v is not None}

    def retry_settings(self) -> dict[str, Any]:
        """The retry settings that are set, as the worker's ``register`` frame names them."""
        pairs: dict[str, Any] = {
            "max_retries": self.max_retries,
            "retry_timeout_secs": self.retry_timeout_secs,
            "initial_backoff_ms": self.initial_backoff_ms,
            "max_backoff_ms": self.max_backoff_ms,
            "backoff_exp_base": self.backoff_exp_base,
        }
        floats = {"retry_timeout_secs", "backoff_exp_base"}
        return {k: (float(v) if k in floats else int(v)) for k, v in pairs.items() if v is not None}


def _spec(
    url: str,
    options: Mapping[str, str | None],
    opts: ClientOptions,
    provider: Provider | None = None,
) -> StoreSpec:
    kept = {k: v for k, v in options.items() if v is not None}
    return StoreSpec(
        url=url,
        options=tuple(sorted(kept.items())),
        client=tuple(sorted(opts.client_settings().items())),
        retry=tuple(sorted(opts.retry_settings().items())),
        provider=provider,
    )


def _aws_provider(call: CredentialProvider | None) -> Provider | None:
    return None if call is None else provider_for(call, AWSCredentials)


class _StoreConfig:
    """Shared behaviour of the store configurations: stripped values and a repr without secrets."""

    _secret_fields: ClassVar[tuple[str, ...]] = ()
    #: The fields that carry credentials: none may go with ``anonymous=True``.
    _credential_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        _strip_strings(self)
        if getattr(self, "credential_provider", None) is not None:
            if not callable(self.credential_provider):  # type: ignore[attr-defined]
                raise _config_error("credential_provider must be a callable")
            for name in self._credential_fields:
                if name != "credential_provider" and getattr(self, name) is not None:
                    raise _config_error(
                        f"{type(self).__name__} takes credentials or a credential_provider, not "
                        f"both, but {name} is set"
                    )
        if getattr(self, "anonymous", False):
            for name in self._credential_fields:
                if getattr(self, name) is not None:
                    raise _config_error(
                        f"{type(self).__name__}(anonymous=True) takes no credentials, but {name} "
                        "is set"
                    )

    def __getstate__(self) -> dict[str, Any]:
        # The spec holds what this machine's credential chain found; another machine (a Dask
        # worker, a spawned child) resolves its own.
        return {k: v for k, v in self.__dict__.items() if k != "_spec"}

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={_masked(getattr(self, f.name)) if f.name in self._secret_fields else repr(getattr(self, f.name))}"
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        )
        return f"{type(self).__name__}({shown})"

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # IPython and Hypothesis print dataclasses field by field unless told otherwise.
        printer.text(repr(self))

    def spec(self) -> StoreSpec:
        """What the worker needs, built once per configuration object (it is immutable)."""
        try:
            cached: StoreSpec = self.__dict__["_spec"]
        except KeyError:
            cached = self._build_spec()
            object.__setattr__(self, "_spec", cached)
        return cached

    def _build_spec(self) -> StoreSpec:
        raise NotImplementedError

    def _forget_spec(self) -> StoreSpec | None:
        """Drops the cached spec, so that the next use resolves the credential chain again."""
        return self.__dict__.pop("_spec", None)  # type: ignore[no-any-return]


def _endpoint(host: str | None) -> dict[str, str | None]:
    if host is None:
        return {}
    return {
        "endpoint": host.rstrip("/"),
        "allow_http": "true" if host.startswith("http://") else None,
    }


def _path_segments(host: str) -> tuple[str, list[str]]:
    """``host`` split into its origin (``http://127.0.0.1:10000``) and its path's segments."""
    parts = urlsplit(host.strip())
    if not parts.scheme or not parts.netloc or parts.query or parts.fragment:
        raise _config_error(f"host must be a URL like http://127.0.0.1:10000, got {host!r}")
    origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return origin, [segment for segment in parts.path.split("/") if segment]


def _azure_host(host: str, account: str, container: str) -> str:
    """The account URL object_store wants, from any form the seed takes: an emulator's base URL
    (``http://127.0.0.1:10000``), with the account (``.../devstoreaccount1``, today's form) or
    with the container too; an account's own URL (``https://myaccount.blob.core.windows.net``)
    is kept."""
    origin, segments = _path_segments(host)
    if not segments:
        hostname = urlsplit(origin).hostname or ""
        # The account leads the host name of Azure's URLs; an emulator's holds it in the path.
        return origin if hostname.split(".")[0] == account.lower() else f"{origin}/{account}"
    if segments[0] != account or segments[1:] not in ([], [container]):
        raise _config_error(
            f"AzureConfig host {host!r} names another account or container than "
            f"storage_account_name={account!r} and container_name={container!r}"
        )
    return f"{origin}/{account}"


def _s3_host(host: str, bucket: str) -> str:
    """``host`` without a trailing bucket (``http://127.0.0.1:9000/mybucket``, a form the seed
    takes): object_store adds the bucket itself. Any other path (a gateway's prefix) is kept."""
    origin, segments = _path_segments(host)
    if segments[-1:] == [bucket]:
        segments = segments[:-1]
    return "/".join([origin, *segments])


@dataclass(frozen=True, repr=False)
class AzureConfig(_StoreConfig):
    """An Azure Blob container. Without a key or SAS token, the credentials come from the
    environment's chain (README, "Credentials"); ``anonymous=True`` sends unsigned requests to a
    public container. ``host`` is another endpoint (Azurite's, with the account in its path):
    ``AzureConfig("myaccount", "mycontainer", storage_account_key=key)``."""

    storage_account_name: str
    container_name: str
    storage_account_key: str | None = None
    storage_sas_token: str | None = None
    host: str | None = None
    opts: ClientOptions = field(default_factory=ClientOptions)
    anonymous: bool = False
    #: A callable returning a ``BearerToken`` for the storage scope, called again before it expires.
    credential_provider: CredentialProvider | None = None

    _secret_fields = ("storage_account_key", "storage_sas_token")
    _credential_fields = (*_secret_fields, "credential_provider")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.storage_account_key is not None and self.storage_sas_token is not None:
            # Which one would sign is object_store's private choice: say so instead.
            raise _config_error(
                "AzureConfig takes a storage_account_key or a storage_sas_token, not both"
            )

    @classmethod
    def from_connection_string(
        cls, connection_string: str, container_name: str, **fields: Any
    ) -> AzureConfig:
        """The container ``container_name`` of the account a storage connection string names
        (``AccountName=...;AccountKey=...``, or ``UseDevelopmentStorage=true`` for Azurite)."""
        found = azure_connection_string(connection_string)
        return cls(container_name=container_name, **found, **fields)  # type: ignore[arg-type]

    def _build_spec(self) -> StoreSpec:
        options: dict[str, str | None] = {
            "account_name": self.storage_account_name,
            "account_key": self.storage_account_key,
            "sas_token": self.storage_sas_token,
            "skip_signature": "true" if self.anonymous else None,
        }
        if self.host is not None:
            host = _azure_host(self.host, self.storage_account_name, self.container_name)
            options.update(_endpoint(host))
        url = f"az://{self.container_name}"
        if self.credential_provider is not None:
            provider = provider_for(self.credential_provider, BearerToken)
            return _spec(url, options, self.opts, provider)
        return _spec(url, azure_options(options, where=url), self.opts)


@dataclass(frozen=True, repr=False)
class AWSConfig(_StoreConfig):
    """An S3 bucket (or one of an S3-compatible server at ``host``). Without keys, the
    credentials come from AWS's default chain: the environment, ``profile`` (or ``AWS_PROFILE``)
    in the shared files, web identity, container credentials, instance metadata (README,
    "Credentials"); ``anonymous=True`` sends unsigned requests to a public bucket:
    ``AWSConfig("us-east-1", "mybucket", host="http://127.0.0.1:9000", profile="minio")``."""

    region: str
    bucket_name: str
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    host: str | None = None
    opts: ClientOptions = field(default_factory=ClientOptions)
    unsigned_payload: bool = False
    """Sign requests without hashing their bodies (``UNSIGNED-PAYLOAD``, as boto3 does over
    HTTPS): less CPU on both ends for big puts; TLS then carries the integrity check alone."""
    anonymous: bool = False
    #: A profile of the shared files (``~/.aws/credentials``, ``~/.aws/config``).
    profile: str | None = None
    #: Take the credentials from the instance metadata service (IMDSv2) and nowhere else.
    use_instance_metadata: bool = False
    #: A callable returning ``AWSCredentials``, called again before they expire.
    credential_provider: CredentialProvider | None = None

    _secret_fields = ("secret_access_key", "session_token")
    _credential_fields = ("access_key_id", "secret_access_key", "session_token", "profile",
                          "credential_provider")  # fmt: skip

    def _build_spec(self) -> StoreSpec:
        options, source = aws_options(
            {
                "region": self.region,
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
                "session_token": self.session_token,
                "skip_signature": "true" if self.anonymous else None,
                "unsigned_payload": "true" if self.unsigned_payload else None,
                **_endpoint(None if self.host is None else _s3_host(self.host, self.bucket_name)),
            },
            where=f"s3://{self.bucket_name}",
            profile=self.profile,
            instance_metadata=self.use_instance_metadata,
            provided=self.credential_provider is not None,
        )
        if "endpoint" not in options and "." not in self.bucket_name:
            # AWS itself, as the seed addresses it: bucket.s3.region.amazonaws.com (a bucket name
            # with dots would not match the certificate's wildcard, so it stays in the path).
            options["virtual_hosted_style_request"] = "true"
        provider = _aws_provider(self.credential_provider or source)
        return _spec(f"s3://{self.bucket_name}", options, self.opts, provider)


@dataclass(frozen=True, repr=False)
class GCSConfig(_StoreConfig):
    """A Google Cloud Storage bucket. Without a service-account key, the credentials come from
    ``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application-default file or the metadata server
    (README, "Credentials"); ``anonymous=True`` sends unsigned requests to a public bucket.
    ``service_account_key`` is a service-account JSON key's text, and ``host`` another endpoint
    (an emulator's): ``GCSConfig("mybucket", service_account_key=Path("sa.json").read_text())``."""

    bucket_name: str
    service_account_key: str | None = None
    host: str | None = None
    opts: ClientOptions = field(default_factory=ClientOptions)
    anonymous: bool = False
    #: A callable returning a ``BearerToken`` (an OAuth2 access token), called again before it
    #: expires.
    credential_provider: CredentialProvider | None = None

    _secret_fields = ("service_account_key",)
    _credential_fields = (*_secret_fields, "credential_provider")

    def _build_spec(self) -> StoreSpec:
        options: dict[str, str | None] = {
            "service_account_key": self.service_account_key,
            "skip_signature": "true" if self.anonymous else None,
        }
        if self.host is not None:
            options["base_url"] = self.host.rstrip("/")
            if self.host.startswith("http://"):
                options["allow_http"] = "true"
        url = f"gs://{self.bucket_name}"
        if self.credential_provider is not None:
            provider = provider_for(self.credential_provider, BearerToken)
            return _spec(url, options, self.opts, provider)
        return _spec(url, gcs_options(options, where=url), self.opts)


@dataclass(frozen=True, repr=False)
class SnowflakeConfig(_StoreConfig):
    """A Snowflake stage, reached through Snowflake's REST API: the worker logs in (with the
    master token file, or ``username`` and ``password``), asks where the stage lives (S3 or
    Azure) and for its temporary credentials, and reads and writes the stage's files there,
    encrypted on the client as Snowflake's own clients do when the stage is client-side
    encrypted. Unset fields come from ``SNOWFLAKE_ACCOUNT``, ``SNOWFLAKE_DATABASE``,
    ``SNOWFLAKE_SCHEMA``, ``SNOWFLAKE_ENDPOINT`` (or ``SNOWFLAKE_HOST``), ``SNOWFLAKE_WAREHOUSE``,
    ``SNOWFLAKE_USERNAME``, ``SNOWFLAKE_PASSWORD``, ``SNOWFLAKE_ROLE`` and ``MASTER_TOKEN_PATH``
    (default ``/snowflake/session/token``):
    ``SnowflakeConfig("MYDB.PUBLIC.MYSTAGE", account="myaccount", database="MYDB",
    schema="PUBLIC", endpoint="https://myaccount.snowflakecomputing.com")``."""

    stage: str
    #: The scheme new files are encrypted with, AES_128_CBC (the stage's default) or
    #: AES_256_GCM; setting it requires the stage to be client-side encrypted.
    encryption_scheme: str | None = None
    account: str | None = None
    database: str | None = None
    schema: str | None = None
    endpoint: str | None = None
    warehouse: str | None = None
    username: str | None = None
    password: str | None = None
    role: str | None = None
    master_token_path: str | None = None
    #: How many master keys (by query id) reads keep; default 100,000.
    keyring_capacity: int | None = None
    #: How long a master key is kept, in seconds (default 600; 0 keeps none).
    keyring_ttl_secs: int | None = None
    #: How long the stage's location and credentials are kept, in seconds (default 2,400).
    stage_info_cache_ttl_secs: int | None = None
    #: Seconds between the heartbeats that keep the session alive (default 300).
    heartbeat_secs: int | None = None
    opts: ClientOptions = field(default_factory=ClientOptions)

    _secret_fields = ("password",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.stage:
            raise _config_error("SnowflakeConfig needs a stage")
        if self.encryption_scheme not in (None, "AES_128_CBC", "AES_256_GCM"):
            raise _config_error(
                "encryption_scheme must be AES_128_CBC or AES_256_GCM, got "
                f"{self.encryption_scheme!r}"
            )
        for name in ("keyring_capacity", "keyring_ttl_secs", "stage_info_cache_ttl_secs",
                     "heartbeat_secs"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise _config_error(f"{name} must be a non-negative int, got {value!r}")

    def _build_spec(self) -> StoreSpec:
        fields = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("stage", "opts")
        }
        options = snowflake_options(self.stage, fields)
        return _spec(f"snowflake://{self.stage}/", options, self.opts)


@dataclass(frozen=True, repr=False, init=False)
class Config(_StoreConfig):
    """Any object_store URL with its options: ``Config("memory://")``,
    ``Config("file:///data")``, ``Config("s3://bucket", {"region": "us-east-1"})``."""

    url: str
    params: tuple[tuple[str, str], ...]
    opts: ClientOptions

    def __init__(
        self, url: str, params: Mapping[str, str] | None = None, opts: ClientOptions | None = None
    ) -> None:
        items = tuple(sorted((str(k).strip(), str(v).strip()) for k, v in (params or {}).items()))
        object.__setattr__(self, "url", url.strip())
        object.__setattr__(self, "params", items)
        object.__setattr__(self, "opts", opts or ClientOptions())

    def __repr__(self) -> str:
        shown = {k: ("***" if is_secret_option(k) else v) for k, v in self.params}
        return f"Config(url={hide_query(self.url)!r}, params={shown!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Config, (self.url, dict(self.params), self.opts))

    def _build_spec(self) -> StoreSpec:
        options, source = url_options(self.url, dict(self.params))
        return _spec(self.url, options, self.opts, _aws_provider(source))


StoreConfig = AzureConfig | AWSConfig | GCSConfig | SnowflakeConfig | Config
