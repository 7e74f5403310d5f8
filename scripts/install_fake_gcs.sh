#!/usr/bin/env bash
# Install fake-gcs-server, the GCS emulator tests/test_gcs.py runs against, into
# $ROOT/.emulators/bin (idempotent; about 2 minutes from a cold module cache). Needs Go.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install_go_program.sh" \
    fake-gcs-server github.com/fsouza/fake-gcs-server v1.55.1
