#!/usr/bin/env bash
# The 3-replica failover test: 3 `residual serve` replicas on loopback behind
# Debian's haproxy (health checks on /readyz, L7 retries, redispatch), bounded
# load through it (serve.LoadTest, 8 clients, 10 s), one replica SIGKILLed and
# another SIGTERMed mid-load. Fails on any failed client request, or if the
# SIGTERMed replica does not drain (readiness 503 while still serving, the
# request in flight answered 200, stream closed with 1001, exit 0).
# The test itself is TestHAProxyFailover in cmd/residual/failover_test.go; the
# haproxy.cfg it generates is in its temp dir (printed with -v on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v haproxy >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends haproxy >/dev/null
fi
RESIDUAL_HAPROXY=1 go test -count=1 -run '^TestHAProxyFailover$' -v ./cmd/residual
