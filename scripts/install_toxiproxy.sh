#!/usr/bin/env bash
# toxiproxy (built from its Go module): a TCP proxy that delays or throttles what passes, so that
# the benchmarks and tests can put a cloud's latency in front of a loopback server.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install_go_program.sh" \
    toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server v2.12.0
