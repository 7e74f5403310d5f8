"""How the worker binary is chosen (``StaticConfig.worker_path``, ``RUSTYOBJECTSTORE_WORKER``, the
scripts directory an installer fills, a source checkout's build), and the errors for one built for
another platform, faked here with executables that are not native: an aarch64 ELF, a Mach-O and
a Windows file (the kernel refuses them), and a binary whose loader finds too old a glibc."""

from __future__ import annotations

import platform
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import rustyobjectstore as ros
from rustyobjectstore._worker import binary as _binary
from rustyobjectstore._worker.codec import PROTOCOL_VERSION
from rustyobjectstore._worker.connection import Connection

ROOT = Path(__file__).resolve().parent.parent


def _executable(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _elf(machine: int) -> bytes:
    """The first bytes of a 64-bit little-endian ELF executable for ``machine`` (e_machine)."""
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    return ident + (2).to_bytes(2, "little") + machine.to_bytes(2, "little") + bytes(4096)


FOREIGN = {
    "aarch64": (_elf(183), "an ELF executable for aarch64"),
    "macos": (b"\xcf\xfa\xed\xfe" + bytes(4096), "a macOS (Mach-O) executable"),
    "windows": (b"MZ\x90\x00" + bytes(4096), "a Windows executable"),
}
OLD_GLIBC = (
    "#!/bin/sh\n"
    "echo \"$0: /lib/x86_64-linux-gnu/libc.so.6: version \\`GLIBC_2.99' not found "
    '(required by $0)" >&2\n'
    "exit 1\n"
)


def _version_cli(worker: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "RUSTYOBJECTSTORE_WORKER": worker, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "rustyobjectstore", "--version"]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_worker_path_then_the_variable_then_the_places_an_install_puts_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = _binary.find_worker()
    copy = tmp_path / "copy" / _binary.NAME
    copy.parent.mkdir()
    shutil.copy2(real, copy)
    monkeypatch.setenv(_binary.ENV_VAR, str(copy))
    assert _binary.find_worker() == str(copy)
    assert _binary.find_worker(explicit=real) == real  # worker_path wins over the variable
    monkeypatch.delenv(_binary.ENV_VAR)
    candidates = [str(p) for p in _binary._candidates()]
    # The scripts directory of this interpreter (where a wheel puts the binary) comes first, the
    # checkout's cargo builds after it.
    assert candidates[0] == str(Path(sysconfig.get_path("scripts")) / _binary.NAME)
    release = str(ROOT / "worker" / "target" / "release" / _binary.NAME)
    assert release in candidates
    assert candidates.index(release) < candidates.index(release.replace("release", "debug"))
    # The first candidate that is a file wins: a copy stands for the build, which the sdist
    # test's cargo may be rewriting meanwhile (the file is briefly absent then).
    monkeypatch.setattr(_binary, "_candidates", lambda: [tmp_path / "absent", copy])
    assert _binary.find_worker() == str(copy)


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_binary_for_another_platform_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    content, described = FOREIGN[kind]
    fake = _executable(tmp_path / _binary.NAME, content)
    with pytest.raises(ros.ConfigurationError) as caught:
        Connection(ros.StaticConfig(n_workers=1, worker_path=fake))
    message = str(caught.value)
    here = f"{platform.system()} {platform.machine()}"
    assert f"{fake} cannot run on this machine ({here}): it is {described}" in message
    assert _binary.ENV_VAR in message and "wheel built for this platform" in message
    shown = _version_cli(fake)
    assert shown.returncode == 1 and described in shown.stdout, shown


def test_a_binary_built_against_a_newer_glibc_says_so(tmp_path: Path) -> None:
    fake = _executable(tmp_path / _binary.NAME, OLD_GLIBC.encode())
    with pytest.raises(ros.WorkerCrashedError) as caught:
        Connection(ros.StaticConfig(n_workers=1, worker_path=fake))
    message = str(caught.value)
    have = "-".join(platform.libc_ver())
    assert f"the worker needs GLIBC_2.99 and this machine has {have}" in message, message
    assert "built on a newer Linux" in message and _binary.ENV_VAR in message
    shown = _version_cli(fake)
    assert shown.returncode == 1 and "needs GLIBC_2.99" in shown.stdout, shown


def test_version_names_the_package_the_worker_and_the_protocol() -> None:
    worker = _binary.find_worker()
    shown = _version_cli(worker)
    assert shown.returncode == 0 and shown.stderr == "", shown
    assert shown.stdout.splitlines() == [
        f"rustyobjectstore {ros.__version__} (protocol {PROTOCOL_VERSION})",
        f"worker: rustyobjectstore-worker {ros.__version__} (protocol {PROTOCOL_VERSION}) "
        f"at {worker}",
    ]


FIRST_USE_FROM_THREADS = """
import sys, threading
from rustyobjectstore._worker.binary import find_worker
barrier, errors = threading.Barrier(16), []
def go():
    barrier.wait()
    try:
        find_worker()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=go) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(errors[:1])
sys.exit(1 if errors else 0)
"""


def test_threads_finding_the_worker_at_once_in_a_fresh_process_all_find_it() -> None:
    """sysconfig is filled on first use, and not thread-safe then: without a lock, threads that
    start the pool or check an option at once failed with AttributeError 'userbase' (the
    command line's batches did)."""
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", FIRST_USE_FROM_THREADS],
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
