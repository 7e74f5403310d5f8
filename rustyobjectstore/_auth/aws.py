"""AWS's default chain: explicit keys; then, as botocore orders them, the environment, web identity,
the shared files' profile, container credentials (ECS, EKS pod identity) and instance metadata
(IMDSv2)."""

from __future__ import annotations

import configparser
from collections.abc import Callable, Mapping
from pathlib import Path

from rustyobjectstore._auth.aws_profiles import AssumedRole, AwsSource, ProcessCredentials
from rustyobjectstore._auth.chain import (
    Options,
    from_env,
    get_option,
    is_true,
    no_credentials,
    probe,
    set_endpoint,
)
from rustyobjectstore._auth.providers import AWSCredentials
from rustyobjectstore._errors import ConfigurationError, NotSupportedError

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
        self.name = explicit or from_env("AWS_PROFILE", "AWS_DEFAULT_PROFILE") or "default"
        self.credentials_file = Path(
            from_env("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
        ).expanduser()
        self.config_file = Path(from_env("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
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
        region = v.get("region") or from_env("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = (
            from_env("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL")
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
        from_env("AWS_REGION", "AWS_DEFAULT_REGION")
        or AwsProfile(profile).values.get("region")
        or "us-east-1"
    )


def _aws_environment() -> Options | None:
    key, secret = from_env("AWS_ACCESS_KEY_ID"), from_env("AWS_SECRET_ACCESS_KEY")
    if key is None and secret is None:
        return None
    if key is None or secret is None:
        missing = "AWS_ACCESS_KEY_ID" if key is None else "AWS_SECRET_ACCESS_KEY"
        raise ConfigurationError(f"the environment has one AWS key but not {missing}")
    keys = {"access_key_id": key, "secret_access_key": secret}
    token = from_env("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    if token:
        keys["session_token"] = token
    return keys


def _aws_web_identity() -> Options | None:
    token_file, role = from_env("AWS_WEB_IDENTITY_TOKEN_FILE"), from_env("AWS_ROLE_ARN")
    if token_file is None or role is None:
        return None
    found = {"web_identity_token_file": token_file, "role_arn": role}
    session = from_env("AWS_ROLE_SESSION_NAME")
    if session:
        found["role_session_name"] = session
    return found


def _aws_container() -> Options | None:
    relative = from_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return {"container_credentials_relative_uri": relative}
    full = from_env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if full is None:
        return None
    token_file = from_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
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
    endpoint = get_option(out, "aws", "metadata_endpoint")
    if endpoint is None:
        endpoint = from_env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        if endpoint is not None:
            out["metadata_endpoint"] = endpoint.rstrip("/")
    endpoint = (endpoint or _AWS_METADATA).rstrip("/")
    why = probe("PUT", f"{endpoint}/latest/api/token",
                 {"X-aws-ec2-metadata-token-ttl-seconds": "60"})  # fmt: skip
    if why is not None and is_true(get_option(out, "aws", "imdsv1_fallback")):
        why = probe("GET", f"{endpoint}/latest/meta-data/iam/security-credentials/", {})
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
    anonymous = is_true(get_option(out, "aws", "skip_signature"))
    if anonymous and profile is not None:
        raise ConfigurationError("an anonymous configuration takes no AWS profile")
    loaded: list[AwsProfile] = []

    def shared() -> AwsProfile:
        # Read only when something is missing: explicit settings never touch the files.
        if not loaded:
            loaded.append(AwsProfile(profile))
        return loaded[0]

    if get_option(out, "aws", "region", "default_region") is None:
        region = from_env("AWS_REGION", "AWS_DEFAULT_REGION")
        if region is None and not instance_metadata:
            region = shared().values.get("region")
        if region:
            out["region"] = region
    if get_option(out, "aws", "endpoint", "endpoint_url", "endpoint_url_s3") is None:
        endpoint = from_env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        if endpoint is None and not instance_metadata:
            endpoint = shared().values.get("endpoint_url")
        if endpoint:
            set_endpoint(out, "endpoint", endpoint)
    if anonymous:
        # Where to send unsigned requests comes from the same places as for signed ones.
        return out, None
    sts = from_env("AWS_ENDPOINT_URL_STS")
    if sts and get_option(out, "aws", "endpoint_url_sts") is None:
        out["endpoint_url_sts"] = sts
    if provided or get_option(out, "aws", *_AWS_CREDENTIALS) is not None:
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
    if is_true(from_env("AWS_EC2_METADATA_DISABLED")):
        tried.append("instance metadata (turned off by AWS_EC2_METADATA_DISABLED)")
    else:
        why = _imds(out)
        if why is None:
            return out, None
        tried.append(why)
    raise no_credentials(
        "AWS", where, tried,
        "Pass access_key_id and secret_access_key, set them in the environment or name a profile",
    )  # fmt: skip
