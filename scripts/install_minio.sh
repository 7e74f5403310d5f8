#!/usr/bin/env bash
# Install MinIO, the fast S3 server the benchmark uses, into $ROOT/.emulators/bin (idempotent).
#
# MinIO's upstream no longer publishes release binaries, so it is built from the pinned Go
# module with `go install` (2 to 7 minutes from a cold module cache; a ~150 MB binary). Needs Go.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install_go_program.sh" \
    minio github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c
