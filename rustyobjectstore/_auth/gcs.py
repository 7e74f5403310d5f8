"""Google Cloud Storage's default chain: explicit credentials; then GOOGLE_APPLICATION_CREDENTIALS,
gcloud's application-default file, the metadata server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from rustyobjectstore._auth.chain import (
    Options,
    from_env,
    no_credentials,
    probe,
    settled,
)
from rustyobjectstore._errors import ConfigurationError, NotSupportedError

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
    if settled(out, "google", _GCS_CREDENTIALS):
        return out
    tried = ["GOOGLE_APPLICATION_CREDENTIALS"]
    named = from_env("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return {**out, **_gcs_file(Path(named), "GOOGLE_APPLICATION_CREDENTIALS")}
    gcloud = Path(from_env("CLOUDSDK_CONFIG") or "~/.config/gcloud").expanduser()
    default = gcloud / "application_default_credentials.json"
    if default.is_file():
        return {**out, **_gcs_file(default, "gcloud's application-default credentials")}
    tried.append(f"gcloud's application-default credentials ({default})")
    host = (
        from_env("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GCE_METADATA_IP") or "169.254.169.254"
    )
    why = probe("GET", f"http://{host}/computeMetadata/v1/instance/service-accounts/default/token",
                 {"Metadata-Flavor": "Google"})  # fmt: skip
    if why is None:
        return out
    tried.append(f"the metadata server at {host}: {why}")
    raise no_credentials(
        "GCS", where, tried,
        "Pass service_account_key or set GOOGLE_APPLICATION_CREDENTIALS",
    )  # fmt: skip
