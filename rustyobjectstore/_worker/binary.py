"""Finds the worker binary: ``StaticConfig.worker_path``, the environment variable, then where
installers put scripts, then a source checkout's build, then PATH. A missing binary is an error
listing every place tried; one built for another platform is an error saying which platform."""

from __future__ import annotations

import errno
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rustyobjectstore._errors import ConfigurationError

ENV_VAR = "RUSTYOBJECTSTORE_WORKER"
NAME = "rustyobjectstore-worker" + (".exe" if os.name == "nt" else "")


# sysconfig fills its variables in place on first use: threads that ask at once see them half
# made (AttributeError: 'userbase'), so one asks at a time.
_SYSCONFIG = threading.Lock()


def _candidates() -> list[Path]:
    with _SYSCONFIG:
        return _places()


def _places() -> list[Path]:
    places: list[Path] = []
    scripts = sysconfig.get_path("scripts")
    if scripts:
        places.append(Path(scripts))
    base = sysconfig.get_path(
        "scripts", vars={"base": sys.base_prefix, "platbase": sys.base_prefix}
    )
    if base:
        places.append(Path(base))
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        places.append(Path(sysconfig.get_path("scripts", scheme=user_scheme)))
    package = Path(__file__).resolve().parents[1]  # rustyobjectstore/, above _worker/
    places.append(package.parent / "bin")  # pip install --target DIR puts scripts in DIR/bin
    checkout = package.parent / "worker" / "target"
    places += [checkout / "release", checkout / "debug"]
    return [place / NAME for place in dict.fromkeys(places)]


def find_worker(explicit: str | None = None) -> str:
    tried: list[str] = []
    for source, value in (("worker_path", explicit), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value:
            if os.path.isfile(value) and os.access(value, os.X_OK):
                return value
            raise ConfigurationError(f"{source} names {value!r}, which is not an executable file")
    for candidate in _candidates():
        tried.append(str(candidate))
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which(NAME)
    tried.append(f"{NAME} on PATH")
    if on_path:
        return on_path
    raise ConfigurationError(
        "cannot find the rustyobjectstore worker binary; looked in:\n  "
        + "\n  ".join(tried)
        + f"\nSet {ENV_VAR} to its path, or reinstall the package (pip install builds it)."
    )


# A binary built for another platform: the kernel refuses it (ENOEXEC) or its loader stops it
# before main (a glibc older than the one it was linked against). Both get an error that says so.

_ELF_MACHINES = {3: "x86", 40: "32-bit ARM", 62: "x86_64", 183: "aarch64", 243: "RISC-V"}
_MACH_O = (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def binary_kind(path: str) -> str:
    """What the file at ``path`` is, from its first bytes: "an ELF executable for aarch64"."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if head[:4] == b"\x7fELF" and len(head) == 20:
        order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
        machine = int.from_bytes(head[18:20], order)
        return f"an ELF executable for {_ELF_MACHINES.get(machine, f'machine type {machine}')}"
    if head[:4] in _MACH_O:
        return "a macOS (Mach-O) executable"
    if head[:2] == b"MZ":
        return "a Windows executable"
    return "no executable format this system knows"


def _this_platform() -> str:
    return f"{platform.system()} {platform.machine()}"


_REMEDY = (
    f"install the wheel built for this platform, or point {ENV_VAR} (or "
    "StaticConfig.worker_path) at a worker built here (cargo build --release in worker/)"
)


def foreign_binary(path: str) -> ConfigurationError:
    """The error for a worker the kernel will not execute (ENOEXEC)."""
    return ConfigurationError(
        f"the worker {path} cannot run on this machine ({_this_platform()}): it is "
        f"{binary_kind(path)}; {_REMEDY}"
    )


_GLIBC_MISSING = re.compile(r"version `(GLIBC_[\d.]+)' not found")


def start_hint(stderr: str) -> str:
    """A sentence to add to a start-up failure whose stderr shows the binary's platform is wrong
    (its loader found too old a glibc), or ``""``."""
    needed = _GLIBC_MISSING.search(stderr)
    if needed is None:
        return ""
    have = "-".join(platform.libc_ver()) or "an unknown C library"
    return (
        f"; the worker needs {needed.group(1)} and this machine has {have}: it was built on a "
        f"newer Linux; {_REMEDY}"
    )


def worker_version_line(path: str) -> str:
    """``rustyobjectstore-worker 0.1.0 (protocol 3)``, as ``path --version`` prints it; raises
    ``ConfigurationError`` when it cannot run or prints something else."""
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as e:
        if e.errno == errno.ENOEXEC:
            raise foreign_binary(path) from None
        raise ConfigurationError(f"the worker {path} cannot be started: {e.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ConfigurationError(f"the worker {path} did not answer --version in 30 s") from None
    line = done.stdout.strip()
    if done.returncode != 0 or not line.startswith("rustyobjectstore-worker "):
        said = (done.stderr or done.stdout).strip()[-500:]
        raise ConfigurationError(
            f"the worker {path} failed on --version (status {done.returncode}): {said}"
            + start_hint(done.stderr)
        )
    return line


#: ``--check-option-names``' exit status when the store takes a name not (its error on stdout).
UNKNOWN_OPTION = 3


def unknown_option(path: str, url: str, names: Sequence[str]) -> str | None:
    """What the worker at ``path`` says when a store of ``url`` takes one of ``names`` not (as its
    build would: ``unknown option "aws_regoin" for S3 stores``); None when it takes them all,
    or cannot say (a worker too old for the flag: the build then reports the name). ``url`` and
    ``names`` are on a command line: never a secret."""
    try:
        done = subprocess.run(
            [path, "--check-option-names", url, *names], capture_output=True, text=True,
            timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != UNKNOWN_OPTION:
        return None
    return done.stdout.strip() or f"an unknown option among {', '.join(names)}"
