"""Finds the worker binary: the environment variable, then where installers put scripts, then a
source checkout's build, then PATH. A missing binary is an error listing every place tried."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from rustyobjectstore._errors import ConfigurationError

ENV_VAR = "RUSTYOBJECTSTORE_WORKER"
NAME = "rustyobjectstore-worker" + (".exe" if os.name == "nt" else "")


def _candidates() -> list[Path]:
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
    package = Path(__file__).resolve().parent
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
