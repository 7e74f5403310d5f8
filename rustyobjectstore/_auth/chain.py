"""What every cloud's default chain shares: options under any of their spellings, the environment,
the error that lists what was tried, and the metadata-service probes (once per process, with short
timeouts, so that a machine off the cloud fails fast)."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

from rustyobjectstore._errors import NoCredentialsError

Options = dict[str, str]


def get_option(options: Mapping[str, str], prefix: str, *names: str) -> str | None:
    """An option under any of its object_store spellings (``region`` or ``aws_region``)."""
    for name in names:
        for key in (name, f"{prefix}_{name}"):
            value = options.get(key)
            if value is not None:
                return value
    return None


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def from_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def settled(out: Options, prefix: str, credentials: tuple[str, ...]) -> bool:
    """The chain has nothing to add: the configuration is anonymous (``skip_signature``) or
    brings credentials of its own."""
    return (
        is_true(get_option(out, prefix, "skip_signature"))
        or get_option(out, prefix, *credentials) is not None
    )


def set_endpoint(out: Options, key: str, endpoint: str) -> None:
    out[key] = endpoint.rstrip("/")
    if endpoint.startswith("http://"):
        out.setdefault("allow_http", "true")


def no_credentials(cloud: str, where: str, tried: list[str], how: str) -> NoCredentialsError:
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


def probe(method: str, url: str, headers: Mapping[str, str]) -> str | None:
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
