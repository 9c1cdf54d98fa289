#!/usr/bin/env bash
# Checks the container image of scripts/build_image.sh without a container
# runtime: builds it, reads its config with skopeo, unpacks it with umoci,
# checks the root filesystem holds only the binary and the user files (no
# shell), then runs the unpacked binary chrooted into that root filesystem
# as the image's non-root user, and probes it: /healthz with the binary's
# own "residual health", and predictions on the committed face photos (a
# JPEG body and a multipart form).
#
#   scripts/check_image.sh              # needs umoci, skopeo, curl; root for chroot
#
# Run by .ci/run. Without root the binary runs unchrooted as the current
# user (the check says so).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check_image: FAIL: $*" >&2; exit 1; }

scripts/build_image.sh "$work/image" ci >/dev/null
oci="$work/image/oci:ci"

# The image config: entrypoint, command, numeric non-root user, port.
config=$(skopeo inspect --config "oci:$oci")
compact=$(tr -d ' \n' <<<"$config")
for want in '"User":"65532:65532"' '"Entrypoint":["/usr/local/bin/residual"]' \
  '"Cmd":["serve","--addr",":8080"]' '"ExposedPorts":{"8080/tcp":{}}' '"os":"linux"'; do
  grep -qF "$want" <<<"$compact" || fail "image config lacks $want: $config"
done
[ -s "$work/image/residual-ci.tar" ] || fail "no docker archive"

# Unpack as a runtime would, and look at what is inside.
if [ "$(id -u)" = 0 ]; then
  umoci unpack --image "$oci" "$work/bundle" >/dev/null
else
  umoci unpack --rootless --image "$oci" "$work/bundle" >/dev/null
fi
rootfs="$work/bundle/rootfs"
files=$(cd "$rootfs" && find . -mindepth 1 | sort | tr '\n' ' ')
want_files="./etc ./etc/group ./etc/passwd ./usr ./usr/local ./usr/local/bin ./usr/local/bin/residual "
[ "$files" = "$want_files" ] || fail "root filesystem holds [$files], want [$want_files]"
grep -q '^nonroot:x:65532:65532:' "$rootfs/etc/passwd" || fail "no uid 65532 in /etc/passwd"
go version -m "$rootfs/usr/local/bin/residual" | grep -q 'CGO_ENABLED=0' || fail "the binary was not built with CGO_ENABLED=0"
grep -q '"uid": 65532' "$work/bundle/config.json" || [ "$(id -u)" != 0 ] || fail "the runtime bundle does not run as uid 65532"

# Run the entrypoint with the image's command, but on a free loopback
# port (docker run IMAGE serve --addr 127.0.0.1:0 would do the same).
log="$work/serve.log"
: >"$log"
if [ "$(id -u)" = 0 ]; then
  env -i "$(command -v chroot)" --userspec=65532:65532 "$rootfs" /usr/local/bin/residual serve --addr 127.0.0.1:0 >"$log" 2>&1 &
  how="chrooted into the unpacked image as uid 65532"
else
  env -i "$rootfs/usr/local/bin/residual" serve --addr 127.0.0.1:0 >"$log" 2>&1 &
  how="as uid $(id -u) (not root: no chroot)"
fi
pid=$!
addr=
for _ in $(seq 1 300); do
  addr=$(sed -n 's|^serving on http://\([0-9.:]*\)/.*|\1|p' "$log")
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || fail "serve exited: $(cat "$log")"
  sleep 0.2
done
[ -n "$addr" ] || fail "serve did not start: $(cat "$log")"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = 65532 ] || [ "$(id -u)" != 0 ] || fail "serve does not run as uid 65532"

"$rootfs/usr/local/bin/residual" health --url "http://$addr/healthz" >/dev/null || fail "residual health: /healthz"
pred=$(curl -sS --fail --max-time 30 -H 'Content-Type: image/jpeg' --data-binary @testdata/faces/grace_hopper.jpg "http://$addr/v1/predict?model=emotion")
compact=$(tr -d ' \n' <<<"$pred")
grep -qE '"model":"emotion".*"faces":\[\{"box".*"label":"(angry|disgust|fear|happy|sad|surprise|neutral)"' <<<"$compact" \
  || fail "prediction on testdata/faces/grace_hopper.jpg: $pred"
# The README's multipart form upload, as well.
form=$(curl -sS --fail --max-time 30 -F file=@testdata/faces/astronaut.png "http://$addr/v1/predict?model=emotion")
grep -qE '"faces":\[\{"box"' <<<"$(tr -d ' \n' <<<"$form")" || fail "multipart prediction on testdata/faces/astronaut.png: $form"
grep -q 'built-in emotion-fer2013.residual' "$log" || fail "serve did not use the built-in model: $(cat "$log")"

kill -TERM "$pid"
wait "$pid" || fail "serve did not exit 0 on SIGTERM: $(cat "$log")"
pid=
label=$(sed -n 's/.*"faces":\[{"box"[^]]*"label":"\([a-z]*\)".*/\1/p' <<<"$compact")
echo "check_image: ok: $(du -sh "$work/image/oci" | cut -f1) image; served /healthz and labelled grace_hopper.jpg '$label' $how"
