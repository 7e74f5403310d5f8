"""Credentials the way cloud jobs have them: each cloud's default chain, in its own SDK's order.

A configuration that carries no credentials of its own is completed here, in Python, before its
store is registered, so the worker only ever sees explicit object_store options: values from the
environment and the shared files (which object_store cannot read, or reads only through
``from_env``), and, where a chain ends in a metadata service that object_store queries itself, a
quick probe of that service, once per process, so that a machine with no credentials anywhere gets
a ``NoCredentialsError`` listing what was tried within about two seconds instead of a stall.

Explicit values always win; ``skip_signature`` (``anonymous=True``) turns the chain off. Files are
read, never written. Nothing here ever puts a value into an error message.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from rustyobjectstore._auth.aws_profiles import AssumedRole, AwsSource, ProcessCredentials
from rustyobjectstore._auth.providers import AWSCredentials
from rustyobjectstore._auth.schemes import AZURE, GCS, S3, cloud_of
from rustyobjectstore._errors import ConfigurationError, NoCredentialsError, NotSupportedError

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


Options = dict[str, str]


def _get(options: Mapping[str, str], prefix: str, *names: str) -> str | None:
    """An option under any of its object_store spellings (``region`` or ``aws_region``)."""
    for name in names:
        for key in (name, f"{prefix}_{name}"):
            value = options.get(key)
            if value is not None:
                return value
    return None


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def _set_endpoint(out: Options, key: str, endpoint: str) -> None:
    out[key] = endpoint.rstrip("/")
    if endpoint.startswith("http://"):
        out.setdefault("allow_http", "true")


def _no_credentials(cloud: str, where: str, tried: list[str], how: str) -> NoCredentialsError:
    noun = "container" if cloud == "Azure" else "bucket"
    return NoCredentialsError(
        f"no {cloud} credentials for {where}; tried, in order: {'; '.join(tried)}. {how}; or "
        f"pass anonymous=True to send unsigned requests (a public {noun})"
    )


# Metadata services: probed once per process with short timeouts, so that a machine off the cloud
# fails fast. A success is kept for the life of the process, a failure for a minute.
PROBE_TIMEOUT_SECS = 1.0
_FAILED_PROBE_TTL_SECS = 60.0
_probes: dict[tuple[str, str], tuple[float, str | None]] = {}
_probes_lock = threading.Lock()
# Link-local metadata addresses are never reached through an HTTP proxy.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _probe(method: str, url: str, headers: Mapping[str, str]) -> str | None:
    """None when ``url`` answers 200; otherwise why not, in words that hold no secret."""
    now = time.monotonic()
    with _probes_lock:
        seen = _probes.get((method, url))
    if seen is not None and (seen[1] is None or now - seen[0] < _FAILED_PROBE_TTL_SECS):
        return seen[1]
    request = urllib.request.Request(url, method=method, headers=dict(headers))
    why: str | None
    try:
        with _direct.open(request, timeout=PROBE_TIMEOUT_SECS):
            why = None
    except urllib.error.HTTPError as e:
        why = f"it answered HTTP {e.code}"
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            why = f"no answer within {PROBE_TIMEOUT_SECS:g} s"
        else:
            why = f"cannot reach it: {type(reason).__name__}"
    with _probes_lock:
        _probes[(method, url)] = (now, why)
    return why


def forget_probes() -> None:
    """Probe the metadata services again on next use (a test, or a machine that gained a role)."""
    with _probes_lock:
        _probes.clear()


# ---------------------------------------------------------------------------------------------
# AWS: explicit keys; then, as botocore orders them, the environment, web identity, the shared
# files' profile, container credentials (ECS, EKS pod identity) and instance metadata (IMDSv2).

_AWS_CREDENTIALS = ("access_key_id", "secret_access_key", "web_identity_token_file",
                    "container_credentials_relative_uri", "container_credentials_full_uri")  # fmt: skip
_AWS_METADATA = "http://169.254.169.254"
# What a profile may hold that this version cannot follow yet.
_AWS_UNSUPPORTED = ("credential_source", "sso_session", "sso_start_url")


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError) as e:
        # The parser's own message quotes the offending line, which may hold a key.
        raise ConfigurationError(f"cannot read {path}: {type(e).__name__}") from None
    return parser


class AwsProfile:
    """One profile of the shared files: ``~/.aws/config``'s ``[profile NAME]`` (``[default]``)
    under ``~/.aws/credentials``' ``[NAME]``, which wins."""

    def __init__(self, explicit: str | None) -> None:
        self.name = explicit or _env("AWS_PROFILE", "AWS_DEFAULT_PROFILE") or "default"
        self.credentials_file = Path(
            _env("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
        ).expanduser()
        self.config_file = Path(_env("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
        self.values: dict[str, str] = {}
        found = False
        config = _ini(self.config_file)
        for section in ("default",) if self.name == "default" else ():
            if config.has_section(section):
                found = True
                self.values.update(config[section])
        if config.has_section(f"profile {self.name}"):
            found = True
            self.values.update(config[f"profile {self.name}"])
        credentials = _ini(self.credentials_file)
        if credentials.has_section(self.name):
            found = True
            self.values.update(credentials[self.name])
        if not found and self.name != "default":
            raise ConfigurationError(
                f"AWS profile {self.name!r} is in neither {self.credentials_file} nor "
                f"{self.config_file}"
            )

    def describe(self) -> str:
        return f"profile {self.name!r} in {self.credentials_file} and {self.config_file}"

    def credentials(self, via: tuple[str, ...] = ()) -> Options | AwsSource | None:
        """What the profile signs with, in botocore's order: a role assumed with a source
        profile's credentials, web identity, static keys, a ``credential_process``. ``via``: the
        profiles that named this one their ``source_profile``."""
        v = self.values
        if v.get("role_arn") and v.get("source_profile"):
            return self._assumed_role(via)
        if v.get("web_identity_token_file") and v.get("role_arn"):
            found = {"web_identity_token_file": v["web_identity_token_file"],
                     "role_arn": v["role_arn"]}  # fmt: skip
            if v.get("role_session_name"):
                found["role_session_name"] = v["role_session_name"]
            return found
        for name in _AWS_UNSUPPORTED:
            if name in v:
                raise NotSupportedError(
                    f"AWS profile {self.name!r} uses {name}, which this version cannot follow "
                    f"yet: export its keys (aws configure export-credentials --profile "
                    f"{self.name} --format env), pass access_key_id and secret_access_key, or "
                    "pass credential_provider=boto3_credential_provider()"
                )
        keys = self._static_keys()
        if keys is not None:
            return keys
        if v.get("credential_process"):
            return ProcessCredentials(v["credential_process"], self.name)
        return None

    def _static_keys(self) -> Options | None:
        v = self.values
        if "aws_access_key_id" not in v and "aws_secret_access_key" not in v:
            return None
        for name in ("aws_access_key_id", "aws_secret_access_key"):
            if not v.get(name):
                raise ConfigurationError(f"AWS profile {self.name!r} has no {name}")
        keys = {
            "access_key_id": v["aws_access_key_id"],
            "secret_access_key": v["aws_secret_access_key"],
        }
        if v.get("aws_session_token"):
            keys["session_token"] = v["aws_session_token"]
        return keys

    def _assumed_role(self, via: tuple[str, ...]) -> AssumedRole:
        v = self.values
        name = v["source_profile"]
        found: Options | AwsSource | None
        if name == self.name:
            # A profile may name itself: its own keys assume its role (as botocore does).
            found = self._static_keys()
        elif name in via:
            raise ConfigurationError(
                f"AWS profiles name each other as source_profile in a loop: "
                f"{' -> '.join((*via, self.name, name))}"
            )
        else:
            found = AwsProfile(name).credentials((*via, self.name))
        if found is None:
            raise ConfigurationError(
                f"source_profile {name!r} of AWS profile {self.name!r} has no credentials"
            )
        source: AWSCredentials | AwsSource
        if isinstance(found, (ProcessCredentials, AssumedRole)):
            source = found
        elif "access_key_id" in found:
            source = AWSCredentials(
                found["access_key_id"], found["secret_access_key"], found.get("session_token")
            )
        else:
            raise NotSupportedError(
                f"source_profile {name!r} of AWS profile {self.name!r} uses web identity, which "
                "this version cannot chain into AssumeRole yet"
            )
        region = v.get("region") or _env("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = (
            _env("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL")
            or v.get("endpoint_url")
            or f"https://sts.{region}.amazonaws.com"
        )
        duration = v.get("duration_seconds")
        if duration is not None and not duration.isdigit():
            raise ConfigurationError(
                f"AWS profile {self.name!r} has a duration_seconds that is not a whole number"
            )
        return AssumedRole(
            role_arn=v["role_arn"],
            session_name=v.get("role_session_name") or "rustyobjectstore",
            source=source,
            region=region,
            endpoint=endpoint.rstrip("/") + "/",
            profile=self.name,
            external_id=v.get("external_id") or None,
            duration_secs=None if duration is None else int(duration),
        )


def aws_region(profile: str | None = None) -> str:
    """The region AWS's chain names (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's
    ``region``), else ``us-east-1``: for callers that must fill ``AWSConfig.region``."""
    return (
        _env("AWS_REGION", "AWS_DEFAULT_REGION")
        or AwsProfile(profile).values.get("region")
        or "us-east-1"
    )


def _aws_environment() -> Options | None:
    key, secret = _env("AWS_ACCESS_KEY_ID"), _env("AWS_SECRET_ACCESS_KEY")
    if key is None and secret is None:
        return None
    if key is None or secret is None:
        missing = "AWS_ACCESS_KEY_ID" if key is None else "AWS_SECRET_ACCESS_KEY"
        raise ConfigurationError(f"the environment has one AWS key but not {missing}")
    keys = {"access_key_id": key, "secret_access_key": secret}
    token = _env("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    if token:
        keys["session_token"] = token
    return keys


def _aws_web_identity() -> Options | None:
    token_file, role = _env("AWS_WEB_IDENTITY_TOKEN_FILE"), _env("AWS_ROLE_ARN")
    if token_file is None or role is None:
        return None
    found = {"web_identity_token_file": token_file, "role_arn": role}
    session = _env("AWS_ROLE_SESSION_NAME")
    if session:
        found["role_session_name"] = session
    return found


def _aws_container() -> Options | None:
    relative = _env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return {"container_credentials_relative_uri": relative}
    full = _env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if full is None:
        return None
    token_file = _env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file is None:
        raise NotSupportedError(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI is set without "
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (object_store reads the token from that file)"
        )
    return {
        "container_credentials_full_uri": full,
        "container_authorization_token_file": token_file,
    }


def _imds(out: Options) -> str | None:
    endpoint = _get(out, "aws", "metadata_endpoint")
    if endpoint is None:
        endpoint = _env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        if endpoint is not None:
            out["metadata_endpoint"] = endpoint.rstrip("/")
    endpoint = (endpoint or _AWS_METADATA).rstrip("/")
    why = _probe("PUT", f"{endpoint}/latest/api/token",
                 {"X-aws-ec2-metadata-token-ttl-seconds": "60"})  # fmt: skip
    if why is not None and _is_true(_get(out, "aws", "imdsv1_fallback")):
        why = _probe("GET", f"{endpoint}/latest/meta-data/iam/security-credentials/", {})
    return None if why is None else f"instance metadata at {endpoint}: {why}"


def aws_options(
    options: Mapping[str, str | None],
    *,
    where: str,
    profile: str | None = None,
    instance_metadata: bool = False,
    provided: bool = False,
) -> tuple[Options, AwsSource | None]:
    """``options`` completed by the AWS chain: region, endpoint and credentials (not the
    credentials when a credential provider ``provided`` them), and the refreshing source of a
    profile whose credentials object_store cannot get itself (``credential_process``, an
    assumed role)."""
    out: Options = {k: v for k, v in options.items() if v is not None}
    for name in ("profile", "aws_profile"):
        given = out.pop(name, None)
        if given is not None:
            if profile is not None and given != profile:
                raise ConfigurationError("the AWS profile is given twice")
            profile = given
    if _is_true(_get(out, "aws", "skip_signature")):
        if profile is not None:
            raise ConfigurationError("an anonymous configuration takes no AWS profile")
        return out, None
    loaded: list[AwsProfile] = []

    def shared() -> AwsProfile:
        # Read only when something is missing: explicit settings never touch the files.
        if not loaded:
            loaded.append(AwsProfile(profile))
        return loaded[0]

    if _get(out, "aws", "region", "default_region") is None:
        region = _env("AWS_REGION", "AWS_DEFAULT_REGION")
        if region is None and not instance_metadata:
            region = shared().values.get("region")
        if region:
            out["region"] = region
    if _get(out, "aws", "endpoint", "endpoint_url", "endpoint_url_s3") is None:
        endpoint = _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        if endpoint is None and not instance_metadata:
            endpoint = shared().values.get("endpoint_url")
        if endpoint:
            _set_endpoint(out, "endpoint", endpoint)
    sts = _env("AWS_ENDPOINT_URL_STS")
    if sts and _get(out, "aws", "endpoint_url_sts") is None:
        out["endpoint_url_sts"] = sts
    if provided or _get(out, "aws", *_AWS_CREDENTIALS) is not None:
        return out, None
    tried: list[str] = []
    sources: list[tuple[Callable[[], str], Callable[[], Options | AwsSource | None]]] = []
    if not instance_metadata:
        if profile is None:
            sources += [
                (lambda: "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
                 _aws_environment),
                (lambda: "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)",
                 _aws_web_identity),
            ]  # fmt: skip
        sources += [
            (lambda: shared().describe(), lambda: shared().credentials()),
            (lambda: "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI)",
             _aws_container),
        ]  # fmt: skip
    for described, source in sources:
        found = source()
        if isinstance(found, (ProcessCredentials, AssumedRole)):
            return out, found
        if found is not None:
            return {**out, **found}, None
        tried.append(described())
    if _is_true(_env("AWS_EC2_METADATA_DISABLED")):
        tried.append("instance metadata (turned off by AWS_EC2_METADATA_DISABLED)")
    else:
        why = _imds(out)
        if why is None:
            return out, None
        tried.append(why)
    raise _no_credentials(
        "AWS", where, tried,
        "Pass access_key_id and secret_access_key, set them in the environment or name a profile",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Azure: explicit credentials; then the storage tools' variables (a connection string, an account
# key, a SAS), then DefaultAzureCredential's order: a client secret, workload identity, managed
# identity, the Azure CLI.

_AZURE_CREDENTIALS = (
    "storage_account_key", "account_key", "access_key", "storage_sas_key", "storage_sas_token",
    "sas_key", "sas_token", "storage_token", "bearer_token", "token", "storage_client_secret",
    "client_secret", "federated_token_file", "use_azure_cli", "msi_endpoint", "identity_endpoint",
    "storage_use_emulator", "use_emulator", "credential_type", "fabric_token_service_url",
)  # fmt: skip
_AZURE_METADATA = "http://169.254.169.254/metadata/identity/oauth2/token"


def _azure_connection(out: Options, account: str | None, tried: list[str]) -> bool:
    text = _env("AZURE_STORAGE_CONNECTION_STRING")
    if text is None:
        tried.append("AZURE_STORAGE_CONNECTION_STRING")
        return False
    fields = azure_connection_string(text)
    if account is not None and fields["storage_account_name"] != account:
        tried.append("AZURE_STORAGE_CONNECTION_STRING (it names another account)")
        return False
    out.setdefault("account_name", fields["storage_account_name"] or "")
    host = fields["host"]
    if host and _get(out, "azure", "endpoint", "storage_endpoint") is None:
        _set_endpoint(out, "endpoint", host)
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
    if _is_true(_get(out, "azure", "skip_signature")):
        return out
    if _get(out, "azure", *_AZURE_CREDENTIALS) is not None:
        return out
    tried: list[str] = []
    account = _get(out, "azure", "storage_account_name", "account_name")
    if _azure_connection(out, account, tried):
        return out
    if _get(out, "azure", "storage_account_name", "account_name") is None:
        name = _env("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT")
        if name:
            out["account_name"] = name
    for variables, option in ((("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY"), "account_key"),
                              (("AZURE_STORAGE_SAS_TOKEN",), "sas_token")):  # fmt: skip
        value = _env(*variables)
        if value:
            out[option] = value
            return out
        tried.append(" or ".join(variables))
    client, tenant = _env("AZURE_CLIENT_ID"), _env("AZURE_TENANT_ID")
    authority = _env("AZURE_AUTHORITY_HOST")
    identity = {"client_id": client or "", "tenant_id": tenant or ""}
    if authority:
        identity["authority_host"] = authority.rstrip("/")
    for variable, option, described in (
        ("AZURE_CLIENT_SECRET", "client_secret", "a client secret (AZURE_CLIENT_ID, "
         "AZURE_TENANT_ID, AZURE_CLIENT_SECRET)"),
        ("AZURE_FEDERATED_TOKEN_FILE", "federated_token_file", "workload identity "
         "(AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)"),
    ):  # fmt: skip
        value = _env(variable)
        if client and tenant and value:
            return {**out, **identity, option: value}
        tried.append(described)
    endpoint = _env("IDENTITY_ENDPOINT", "MSI_ENDPOINT")
    headers = {"Metadata": "true"}
    secret_header = _env("IDENTITY_HEADER")
    if secret_header:
        headers["X-IDENTITY-HEADER"] = secret_header
    probe_url = (
        f"{endpoint or _AZURE_METADATA}?api-version=2019-08-01&resource=https://storage.azure.com"
    )
    why = _probe("GET", probe_url, headers)
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
    raise _no_credentials(
        "Azure", where, tried, "Pass storage_account_key or storage_sas_token, or set "
        "AZURE_STORAGE_CONNECTION_STRING",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# GCS: explicit credentials; then GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default
# file, the metadata server.

_GCS_CREDENTIALS = ("service_account", "service_account_path", "service_account_key",
                    "application_credentials", "bearer_token")  # fmt: skip
_GCS_KINDS = ("service_account", "authorized_user")


def _gcs_file(path: Path, source: str) -> Options:
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("type")
    except (OSError, ValueError, AttributeError) as e:
        raise ConfigurationError(f"cannot read {source} {path}: {type(e).__name__}") from None
    if kind not in _GCS_KINDS:
        raise NotSupportedError(
            f"{source} {path} holds {kind!r} credentials; object_store reads "
            f"{' and '.join(_GCS_KINDS)} files only"
        )
    if kind == "service_account":
        # object_store's service-account path and its application-default path send the same
        # signed token; only the first honours an emulator's key (disable_oauth, gcs_base_url).
        return {"service_account_path": str(path)}
    return {"application_credentials": str(path)}


def gcs_options(options: Mapping[str, str | None], *, where: str) -> Options:
    """``options`` completed by the GCS chain."""
    out: Options = {k: v for k, v in options.items() if v is not None}
    if _is_true(_get(out, "google", "skip_signature")):
        return out
    if _get(out, "google", *_GCS_CREDENTIALS) is not None:
        return out
    tried = ["GOOGLE_APPLICATION_CREDENTIALS"]
    named = _env("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return {**out, **_gcs_file(Path(named), "GOOGLE_APPLICATION_CREDENTIALS")}
    gcloud = Path(_env("CLOUDSDK_CONFIG") or "~/.config/gcloud").expanduser()
    default = gcloud / "application_default_credentials.json"
    if default.is_file():
        return {**out, **_gcs_file(default, "gcloud's application-default credentials")}
    tried.append(f"gcloud's application-default credentials ({default})")
    host = _env("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GCE_METADATA_IP") or "169.254.169.254"
    why = _probe("GET", f"http://{host}/computeMetadata/v1/instance/service-accounts/default/token",
                 {"Metadata-Flavor": "Google"})  # fmt: skip
    if why is None:
        return out
    tried.append(f"the metadata server at {host}: {why}")
    raise _no_credentials(
        "GCS", where, tried,
        "Pass service_account_key or set GOOGLE_APPLICATION_CREDENTIALS",
    )  # fmt: skip


# A SnowflakeConfig field's environment fallbacks, as RustyObjectStore.jl reads them.
_SNOWFLAKE_ENV = {
    "account": ("SNOWFLAKE_ACCOUNT",),
    "database": ("SNOWFLAKE_DATABASE",),
    "schema": ("SNOWFLAKE_SCHEMA",),
    "endpoint": ("SNOWFLAKE_ENDPOINT",),
    "warehouse": ("SNOWFLAKE_WAREHOUSE",),
    "username": ("SNOWFLAKE_USERNAME",),
    "password": ("SNOWFLAKE_PASSWORD",),
    "role": ("SNOWFLAKE_ROLE",),
    "master_token_path": ("MASTER_TOKEN_PATH",),
}


def snowflake_options(stage: str, fields: Mapping[str, object]) -> Options:
    """A SnowflakeConfig's fields as the worker's ``snowflake_*`` options, unset ones from the
    environment; the account, database, schema and endpoint must be found somewhere."""
    out: Options = {"snowflake_stage": stage}
    for name, value in fields.items():
        if value is None:
            value = _env(*_SNOWFLAKE_ENV.get(name, ()))
            if value is None and name == "endpoint":
                host = _env("SNOWFLAKE_HOST")
                value = None if host is None else f"https://{host}"
        if value is not None:
            out[f"snowflake_{name}"] = str(value)
    missing = [
        name for name in ("account", "database", "schema", "endpoint")
        if f"snowflake_{name}" not in out
    ]  # fmt: skip
    if missing:
        names = ", ".join(missing)
        env = ", ".join(f"SNOWFLAKE_{name.upper()}" for name in missing)
        raise ConfigurationError(
            f"SnowflakeConfig for stage {stage!r} needs {names}: pass them, or set {env}"
        )
    return out


_ANONYMOUS = ("anon", "anonymous")


def url_options(url: str, options: Mapping[str, str]) -> tuple[Options, AwsSource | None]:
    """A ``Config``'s options completed by the chain of the cloud its URL names (and, as from
    ``aws_options``, an AWS profile's refreshing source); ``anon`` or ``anonymous`` (``true``)
    there is object_store's ``skip_signature``."""
    out = dict(options)
    for name in _ANONYMOUS:
        if name in out:
            if _is_true(out.pop(name)):
                out["skip_signature"] = "true"
    scheme, _, rest = url.partition("://")
    bucket = f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}"
    cloud = cloud_of(url)
    if cloud == S3:
        return aws_options(out, where=bucket)
    if cloud == AZURE:
        return azure_options(out, where=bucket), None
    if cloud == GCS:
        return gcs_options(out, where=bucket), None
    return out, None
