#!/usr/bin/env bash
# Build the release artifacts on this machine: a manylinux2014 (glibc 2.17) wheel for this CPU and
# an sdist, into OUT (default: dist/).
#
#   bash scripts/build_wheels.sh [OUT] [extra maturin build arguments, e.g. --target aarch64-unknown-linux-gnu]
#
# The wheel is the pure-Python package plus the worker binary, linked by zig (the ziglang package,
# from the test extra) against glibc 2.17's symbols, so it runs on any Linux since CentOS 7 whatever
# glibc this machine has. The release workflow (.github/workflows/release.yml) runs this same script
# on each platform. Needs the test extra (maturin, ziglang) and cargo.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)"
shift $(( $# > 0 ? 1 : 0 ))
PYTHON="${PYTHON:-python}"
cd "$ROOT"

compatibility=(--compatibility manylinux2014 --zig)
case "$(uname -s)" in
    Darwin) compatibility=() ;;  # macOS wheels take the deployment target, not a glibc
esac
case " $* " in
    *musl*) compatibility=(--compatibility musllinux_1_2 --zig) ;;
esac

"$PYTHON" -m maturin build --release --out "$OUT" ${compatibility[@]+"${compatibility[@]}"} "$@"
if [[ "${SDIST:-1}" != 0 ]]; then  # SDIST=0: the wheel only (the release matrix makes one sdist)
    "$PYTHON" -m maturin sdist --out "$OUT"
fi
ls -l "$OUT"
