#!/usr/bin/env bash
# Throughput of 2 `residual serve` replicas pinned to separate cores (taskset)
# behind haproxy vs 1 replica pinned to one core, with the same load
# generator (`residual bench serve --url`, 48x48 face crops, faces=false).
# The goal is >= 1.8x. It needs a quiet machine: every core is in use, so
# any other load skews the ratio (check `uptime` first; the script warns).
#
#   scripts/replica_scaling.sh                 # 20 s per configuration
#   DURATION=30s CLIENTS=16 MODEL=path.residual scripts/replica_scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20s}
CLIENTS=${CLIENTS:-16}
MODEL=${MODEL:-models/emotion-fer2013.residual}
PHOTO=${PHOTO:-../shared/data/faces/grace_hopper.jpg}
[ -f "$PHOTO" ] || PHOTO=testdata/faces/grace_hopper.jpg
command -v haproxy >/dev/null || { echo "needs haproxy (apt-get install haproxy)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 cores" >&2; exit 1; }
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN{exit !(l > 0.5)}'; then
  echo "warning: load average $load: the figures are not valid on a busy machine" >&2
fi

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
go build -o "$tmp/residual" ./cmd/residual

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 100); do curl -fs "http://$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "$1 not ready" >&2; exit 1; }
replica() { # core port
  taskset -c "$1" "$tmp/residual" serve --addr "127.0.0.1:$2" --model "emotion=$MODEL" --instances 1 >"$tmp/r$1.log" 2>&1 &
  pids+=($!)
  wait_ready "127.0.0.1:$2"
}
bench() { # base URL
  "$tmp/residual" bench serve --url "$1" --model "$MODEL" --photo "$PHOTO" --frames 1 \
    --clients "$CLIENTS" --duration "$DURATION" | tee -a "$tmp/bench.log" | grep -o '[0-9.]* req/s' | cut -d' ' -f1
}

p0=$(port)
replica 0 "$p0"
one=$(bench "http://127.0.0.1:$p0")
echo "1 replica (core 0):            $one req/s"

p1=$(port); lbp=$(port)
replica 1 "$p1"
cat >"$tmp/haproxy.cfg" <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend api
    bind 127.0.0.1:$lbp
    default_backend replicas
backend replicas
    balance leastconn
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    server r0 127.0.0.1:$p0 check
    server r1 127.0.0.1:$p1 check
CFG
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
pids+=($!)
wait_ready "127.0.0.1:$lbp"
two=$(bench "http://127.0.0.1:$lbp")
echo "2 replicas (cores 0, 1), haproxy: $two req/s"
awk -v a="$one" -v b="$two" 'BEGIN{printf "ratio: %.2fx (goal >= 1.8x)\n", b/a}'
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average before: $load; $(date -u +%F)"
