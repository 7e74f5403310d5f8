#!/usr/bin/env bash
# Install MinIO, the fast S3 server the benchmark uses, into $ROOT/.emulators/bin (idempotent).
#
# MinIO's upstream no longer publishes release binaries, so it is built from the pinned Go
# module with `go install` (2 to 7 minutes from a cold module cache; a ~150 MB binary). Needs Go.
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.emulators/bin"
MINIO_BIN="$BIN_DIR/minio"
STAMP="$BIN_DIR/minio.version"

if [[ -x "$MINIO_BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$MINIO_VERSION" ]]; then
    echo "minio $MINIO_VERSION already installed at $MINIO_BIN"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install_minio.sh: go not found; install Go (>= 1.24) first" >&2
    exit 1
fi

echo "installing minio $MINIO_VERSION into $BIN_DIR (takes a few minutes)"
mkdir -p "$BIN_DIR"
rm -f "$STAMP"
GOBIN="$BIN_DIR" go install "$MINIO_MODULE@$MINIO_VERSION"
if [[ ! -x "$MINIO_BIN" ]]; then
    echo "install_minio.sh: go install finished but $MINIO_BIN is missing" >&2
    exit 1
fi
echo "$MINIO_VERSION" >"$STAMP"
echo "minio $MINIO_VERSION installed at $MINIO_BIN"
