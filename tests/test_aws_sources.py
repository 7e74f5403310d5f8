"""A profile's ``credential_process`` and ``role_arn`` + ``source_profile``, against MinIO (which
checks every signature, its STS AssumeRole's included)."""

from __future__ import annotations

import json
import stat
import sys
import time
import uuid
from pathlib import Path

import pytest
from emulators import MINIO_KEY, MINIO_SECRET, RunningServer
from test_credentials import minio_conf, minio_session_keys, round_trip, write_profiles

import rustyobjectstore as ros
from rustyobjectstore._auth.aws_profiles import AssumedRole
from rustyobjectstore._auth.providers import Provider


def credential_process(tmp_path: Path, answers: list[dict[str, object]]) -> tuple[Path, Path]:
    """A command printing ``answers`` in turn (the last one repeats), counting its runs."""
    runs = tmp_path / f"runs-{uuid.uuid4().hex}"
    script = tmp_path / f"process-{uuid.uuid4().hex}"
    script.write_text(
        f"#!{sys.executable}\nimport json, pathlib\n"
        f"runs = pathlib.Path({str(runs)!r})\n"
        "n = int(runs.read_text()) if runs.exists() else 0\n"
        "runs.write_text(str(n + 1))\n"
        f"answers = {json.dumps(answers)!r}\n"
        "print(json.dumps(json.loads(answers)[min(n, len(json.loads(answers)) - 1)]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, runs


def process_answer(minio: RunningServer, lifetime: float) -> dict[str, object]:
    keys = minio_session_keys(minio)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
    return {"Version": 1, "AccessKeyId": keys.access_key_id,
            "SecretAccessKey": keys.secret_access_key, "SessionToken": keys.session_token,
            "Expiration": expires}  # fmt: skip


def test_credential_process_signs_requests_and_runs_again_before_expiry(
    minio_server: RunningServer, minio_bucket: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    answers = [process_answer(minio_server, 2) for _ in range(2)]
    script, runs = credential_process(tmp_path, answers)
    write_profiles(tmp_path, monkeypatch, "",
                   f"[profile proc]\ncredential_process = {script} --profile proc\n")  # fmt: skip
    conf = minio_conf(minio_server, minio_bucket, profile="proc")
    assert str(script) not in repr(conf.spec().provider._call)  # type: ignore[union-attr]
    round_trip(conf)
    time.sleep(1.2)  # past half its two-second life: run again
    round_trip(conf)
    assert int(runs.read_text()) >= 2

    failing, _ = credential_process(tmp_path, [{"Version": 2, "SecretAccessKey": "CANARY"}])
    write_profiles(tmp_path, monkeypatch, "", f"[profile bad]\ncredential_process = {failing}\n")
    with pytest.raises(ros.PermissionDeniedError, match="did not print Version 1") as caught:
        ros.get_object("k", minio_conf(minio_server, minio_bucket, profile="bad"))
    assert "CANARY" not in str(caught.value)


def test_role_arn_with_source_profile_assumes_the_role_at_sts(
    minio_server: RunningServer, minio_bucket: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    write_profiles(
        tmp_path, monkeypatch,
        f"[base]\naws_access_key_id = {MINIO_KEY}\naws_secret_access_key = {MINIO_SECRET}\n",
        "[profile role]\nrole_arn = arn:minio:iam:::role/test\nsource_profile = base\n"
        "duration_seconds = 900\n",
    )  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", minio_server.endpoint)
    conf = minio_conf(minio_server, minio_bucket, profile="role")
    provider = conf.spec().provider
    assert isinstance(provider, Provider) and isinstance(provider._call, AssumedRole)
    assert MINIO_SECRET not in repr(provider._call)
    round_trip(conf)  # MinIO checked the AssumeRole signature, then the session's
    value, _ = provider.current()
    assert isinstance(value, ros.AWSCredentials) and value.access_key_id != MINIO_KEY
    assert value.session_token and value.expires_at is not None

    # The source profile's own source: a credential_process, run before each AssumeRole.
    script, runs = credential_process(
        tmp_path, [{"Version": 1, "AccessKeyId": MINIO_KEY, "SecretAccessKey": MINIO_SECRET}]
    )
    write_profiles(
        tmp_path, monkeypatch, "",
        f"[profile proc]\ncredential_process = {script}\n"
        "[profile chained]\nrole_arn = arn:minio:iam:::role/test\nsource_profile = proc\n",
    )  # fmt: skip
    round_trip(minio_conf(minio_server, minio_bucket, profile="chained"))
    assert int(runs.read_text()) == 1

    write_profiles(
        tmp_path, monkeypatch,
        f"[base]\naws_access_key_id = {MINIO_KEY}\naws_secret_access_key = wrong\n",
        "[profile role]\nrole_arn = arn:minio:iam:::role/test\nsource_profile = base\n",
    )  # fmt: skip
    with pytest.raises(ros.PermissionDeniedError, match=r"AssumeRole .* was refused") as caught:
        ros.get_object("k", minio_conf(minio_server, minio_bucket, profile="role"))
    assert "wrong" not in str(caught.value)
