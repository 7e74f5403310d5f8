"""AWS credential sources object_store does not have, as refreshing providers: a profile's
``credential_process`` and its ``role_arn`` + ``source_profile`` (STS AssumeRole).

Each source is a frozen dataclass, so that two configurations naming the same source share one
provider (``_providers.provider_for`` keys providers by equality). Nothing here puts a credential,
a process's output or STS's answer into a message.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import shlex
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from rustyobjectstore._auth.providers import AWSCredentials
from rustyobjectstore._errors import PermissionDeniedError

PROCESS_TIMEOUT_SECS = 60.0
STS_TIMEOUT_SECS = 30.0


def _expiry(text: object, source: str) -> datetime.datetime | None:
    if text is None:
        return None
    try:
        found = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise PermissionDeniedError(f"{source} gave an Expiration that is not a date") from None
    return found if found.tzinfo else found.replace(tzinfo=datetime.timezone.utc)


@dataclass(frozen=True, repr=False)
class ProcessCredentials:
    """A profile's ``credential_process``: a command printing ``{"Version": 1, "AccessKeyId",
    "SecretAccessKey", "SessionToken", "Expiration"}`` (run again before the expiry)."""

    command: str
    profile: str

    def __repr__(self) -> str:
        # A command line or a source's keys may hold secrets: neither is shown.
        return f"ProcessCredentials(profile={self.profile!r})"

    def __call__(self) -> AWSCredentials:
        source = f"the credential_process of AWS profile {self.profile!r}"
        try:
            done = subprocess.run(
                shlex.split(self.command), capture_output=True, timeout=PROCESS_TIMEOUT_SECS,
                check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            raise PermissionDeniedError(f"{source} could not be run: {type(e).__name__}") from None
        if done.returncode != 0:
            raise PermissionDeniedError(f"{source} exited with status {done.returncode}")
        try:
            found = json.loads(done.stdout)
            if found.get("Version") != 1:
                raise ValueError("Version")
            key, secret = found["AccessKeyId"], found["SecretAccessKey"]
        except (ValueError, KeyError, AttributeError):
            # Its output holds the keys: never repeated.
            raise PermissionDeniedError(
                f"{source} did not print Version 1 credentials JSON"
            ) from None
        return AWSCredentials(
            key, secret, found.get("SessionToken") or None, _expiry(found.get("Expiration"), source)
        )


@dataclass(frozen=True, repr=False)
class AssumedRole:
    """A profile's ``role_arn`` assumed with the keys of its ``source_profile`` (STS AssumeRole,
    signed with Signature Version 4), renewed before the session expires."""

    role_arn: str
    session_name: str
    #: The source profile's keys, or its own refreshing source (a chain of roles).
    source: AWSCredentials | ProcessCredentials | AssumedRole
    region: str
    endpoint: str
    profile: str
    external_id: str | None = None
    duration_secs: int | None = None

    def __repr__(self) -> str:
        # A command line or a source's keys may hold secrets: neither is shown.
        return f"AssumedRole(role_arn={self.role_arn!r}, profile={self.profile!r})"

    def __call__(self) -> AWSCredentials:
        params = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": self.role_arn,
                  "RoleSessionName": self.session_name}  # fmt: skip
        if self.external_id:
            params["ExternalId"] = self.external_id
        if self.duration_secs:
            params["DurationSeconds"] = str(self.duration_secs)
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(self.endpoint, data=body, method="POST")
        keys = self.source if isinstance(self.source, AWSCredentials) else self.source()
        for name, value in sign_v4(keys, "sts", self.region, self.endpoint, body).items():
            request.add_header(name, value)
        where = f"STS AssumeRole of {self.role_arn} for AWS profile {self.profile!r}"
        try:
            with urllib.request.urlopen(request, timeout=STS_TIMEOUT_SECS) as response:
                answer = response.read()
        except urllib.error.HTTPError as e:
            e.close()
            raise PermissionDeniedError(f"{where} was refused (HTTP {e.code})") from None
        except OSError as e:
            raise PermissionDeniedError(f"{where} failed: {type(e).__name__}") from None
        found = {
            element.tag.rsplit("}", 1)[-1]: (element.text or "")
            for element in ET.fromstring(answer).iter()
        }
        if not found.get("AccessKeyId") or not found.get("SecretAccessKey"):
            raise PermissionDeniedError(f"{where} answered without credentials")
        return AWSCredentials(
            found["AccessKeyId"], found["SecretAccessKey"], found.get("SessionToken") or None,
            _expiry(found.get("Expiration"), where),
        )  # fmt: skip


def sign_v4(
    keys: AWSCredentials, service: str, region: str, url: str, body: bytes
) -> dict[str, str]:
    """The headers that sign a form POST of ``body`` to ``url`` (AWS Signature Version 4)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    headers = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "host": parts.netloc,
        "x-amz-date": stamp,
    }
    if keys.session_token:
        headers["x-amz-security-token"] = keys.session_token
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        "POST", parts.path or "/", parts.query,
        "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed,
        hashlib.sha256(body).hexdigest(),
    ])  # fmt: skip
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{keys.secret_access_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={keys.access_key_id}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}"
    )
    del headers["host"]  # urllib sends it
    return headers


AwsSource = ProcessCredentials | AssumedRole
