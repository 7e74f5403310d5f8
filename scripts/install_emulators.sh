#!/usr/bin/env bash
# Install the project-local test emulators and test interpreters (idempotent).
#
# Azurite (Azure Blob emulator) comes from npm into $ROOT/.emulators/azurite; MinIO and
# fake-gcs-server (GCS) are built from their Go modules into $ROOT/.emulators/bin.
# moto (S3 emulator) comes from PyPI through the project's test extras
# (moto[server]), not from this script.
set -euo pipefail

AZURITE_VERSION="3.35.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AZURITE_DIR="$ROOT/.emulators/azurite"
AZURITE_PKG="$AZURITE_DIR/node_modules/azurite/package.json"
AZURITE_BIN="$AZURITE_DIR/node_modules/.bin/azurite-blob"

installed_version() {
    # Prints the installed Azurite version, or nothing if absent.
    if [[ -f "$AZURITE_PKG" ]]; then
        node -e 'process.stdout.write(String(require(process.argv[1]).version || ""))' "$AZURITE_PKG"
    fi
}

if ! command -v npm >/dev/null 2>&1; then
    echo "install_emulators.sh: npm not found; install Node.js (>= 18) first" >&2
    exit 1
fi

current="$(installed_version || true)"
if [[ "$current" == "$AZURITE_VERSION" && -x "$AZURITE_BIN" ]]; then
    echo "azurite $AZURITE_VERSION already installed in $AZURITE_DIR"
else
    echo "installing azurite $AZURITE_VERSION into $AZURITE_DIR (found: ${current:-none})"
    mkdir -p "$AZURITE_DIR"
    npm install --no-audit --no-fund --prefix "$AZURITE_DIR" "azurite@$AZURITE_VERSION"
    current="$(installed_version)"
    if [[ "$current" != "$AZURITE_VERSION" || ! -x "$AZURITE_BIN" ]]; then
        echo "install_emulators.sh: azurite install failed (version: ${current:-none})" >&2
        exit 1
    fi
    echo "azurite $AZURITE_VERSION installed"
fi

# MinIO (built from its Go module, a few minutes the first time): the real S3 server that checks
# keys, for the refusal sweep and the chaos run with server restarts.
bash "$ROOT/scripts/install_minio.sh"

# fake-gcs-server (built from its Go module): the GCS emulator, for tests/test_gcs.py.
bash "$ROOT/scripts/install_fake_gcs.sh"

# toxiproxy (built from its Go module): a cloud's latency in front of a loopback server, for the
# benchmarks' cloud profile (--latency-ms) and the tests that hold it.
bash "$ROOT/scripts/install_toxiproxy.sh"

# The other Pythons the project supports, for tests/test_exit.py and tests/test_pythons.py: a
# venv each in $ROOT/.emulators/pythonX.Y with the library's dependencies and a test runner (the
# library itself comes from the checkout, on PYTHONPATH). pyenv's versions first, then pythonX.Y
# on PATH.
OTHER_PYTHONS="3.10 3.11 3.12 3.13"
# The library's dependencies, and what tests/test_pythons.py needs to run the suite's server-free
# tests there (pytest, its timeout plugin, hypothesis, fsspec for the conftest).
# (tests/test_pythons.py checks that every dependency in pyproject.toml is here.)
VENV_PACKAGES=(msgpack typing_extensions "tqdm>=4.66" "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100" "fsspec>=2024.6")
VENV_IMPORTS="import msgpack, typing_extensions, tqdm, pytest, pytest_timeout, hypothesis, fsspec"
find_python() {
    local version="$1" candidate
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in "$(pyenv root)/versions/$version".*/bin/python; do
            [[ -x "$candidate" ]] && { echo "$candidate"; return 0; }
        done
    fi
    command -v "python$version" 2>/dev/null
}
for version in $OTHER_PYTHONS; do
    venv="$ROOT/.emulators/python$version"
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$VENV_IMPORTS" 2>/dev/null; then
        echo "python $version already set up in $venv"
        continue
    fi
    python="$(find_python "$version" || true)"
    if [[ -z "$python" ]]; then
        echo "install_emulators.sh: no Python $version found (pyenv install $version, or put python$version on PATH)" >&2
        exit 1
    fi
    echo "setting up python $version ($python) in $venv"
    "$python" -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${VENV_PACKAGES[@]}"
done
