#!/usr/bin/env bash
# Measures what one `residual serve` replica needs, to size the Kubernetes
# resource requests (deploy/k8s/deployment.yaml, docs/DEPLOY.md): resident
# memory after start-up (both built-in models loaded), peak resident memory
# and CPU time under a bounded load of full-photo predictions (face
# detection + emotion classification of testdata/faces/grace_hopper.jpg).
#
#   scripts/measure_serve.sh [REQUESTS] [CONCURRENCY] [INSTANCES]   # default 400 8 2
#   GOMEMLIMIT=300MiB scripts/measure_serve.sh                     # as the Deployment sets it
#
# Needs curl; builds the binary with go build. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${1:-400}
conc=${2:-8}
instances=${3:-2}
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -trimpath -o "$work/residual" ./cmd/residual
log="$work/serve.log"
: >"$log"
env ${GOMEMLIMIT:+GOMEMLIMIT=$GOMEMLIMIT} "$work/residual" serve --addr 127.0.0.1:0 --instances "$instances" >"$log" 2>&1 &
pid=$!
addr=
for _ in $(seq 1 300); do
  addr=$(sed -n 's|^serving on http://\([0-9.:]*\)/.*|\1|p' "$log")
  [ -n "$addr" ] && break
  sleep 0.2
done
[ -n "$addr" ] || { cat "$log"; exit 1; }
"$work/residual" health --url "http://$addr/healthz" >/dev/null

kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
sleep 1
idle_rss=$(kb VmRSS)

url="http://$addr/v1/predict?model=emotion"
photo=testdata/faces/grace_hopper.jpg
curl -sS --fail -o /dev/null -H 'Content-Type: image/jpeg' --data-binary @"$photo" "$url" # warm-up
t0=$(ticks)
s0=$(date +%s.%N)
seq "$requests" | xargs -P "$conc" -I{} curl -sS --fail -o /dev/null -H 'Content-Type: image/jpeg' --data-binary @"$photo" "$url"
s1=$(date +%s.%N)
t1=$(ticks)
peak_rss=$(kb VmHWM)
after_rss=$(kb VmRSS)

awk -v n="$requests" -v c="$conc" -v i="$instances" -v t="$((t1 - t0))" -v hz="$hz" -v s0="$s0" -v s1="$s1" \
  -v idle="$idle_rss" -v peak="$peak_rss" -v after="$after_rss" -v cpus="$(nproc)" 'BEGIN {
  wall = s1 - s0; cpu = t / hz
  printf "serve --instances %d on %d CPUs: %d full-photo predictions (512x512 JPEG, face detection + emotion), %d concurrent\n", i, cpus, n, c
  printf "  RSS after start-up: %.0f MiB; peak RSS under load: %.0f MiB; RSS after: %.0f MiB\n", idle/1024, peak/1024, after/1024
  printf "  CPU: %.2f s for %d requests = %.1f ms per request; %.2f cores busy on average over %.1f s wall (%.0f req/s)\n", cpu, n, 1000*cpu/n, cpu/wall, wall, n/wall
}'
