#!/usr/bin/env bash
# Install one Go program from its pinned module into $ROOT/.emulators/bin (idempotent):
#   install_go_program.sh NAME MODULE VERSION
# installed as NAME (go names it after the module path's last element, toxiproxy's "server").
# A stamp file beside the binary records the version, so a new pin rebuilds. Needs Go.
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: install_go_program.sh NAME MODULE VERSION" >&2
    exit 2
fi
NAME="$1" MODULE="$2" VERSION="$3"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.emulators/bin"
BIN="$BIN_DIR/$NAME"
STAMP="$BIN_DIR/$NAME.version"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
    echo "$NAME $VERSION already installed at $BIN"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install_go_program.sh: go not found; install Go (>= 1.24) first" >&2
    exit 1
fi

echo "installing $NAME $VERSION into $BIN_DIR"
mkdir -p "$BIN_DIR"
rm -f "$STAMP"
BUILD_DIR="$(mktemp -d)"
trap 'rm -rf "$BUILD_DIR"' EXIT
GOBIN="$BUILD_DIR" go install "$MODULE@$VERSION"
mv -f "$BUILD_DIR/$(basename "$MODULE")" "$BIN"
if [[ ! -x "$BIN" ]]; then
    echo "install_go_program.sh: go install finished but $BIN is missing" >&2
    exit 1
fi
echo "$VERSION" >"$STAMP"
echo "$NAME $VERSION installed at $BIN"
