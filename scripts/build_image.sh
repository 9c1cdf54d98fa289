#!/usr/bin/env bash
# Builds the residual container image offline, from scratch, as an OCI
# image layout, with Debian's umoci (apt-get install umoci skopeo):
#
#   scripts/build_image.sh [OUT_DIR] [TAG]      # default: build/image, latest
#
# The image holds one static binary (CGO_ENABLED=0; the models are built
# into it), /etc/passwd and /etc/group naming the non-root user it runs as
# (uid/gid 65532), and nothing else: no shell, no package manager, no libc.
#
#   entrypoint  /usr/local/bin/residual
#   cmd         serve --addr :8080        (every interface: it is a container)
#   user        65532:65532
#   port        8080/tcp
#
# There is no shell or curl in it, so its health check is the binary
# itself: "residual health" GETs http://127.0.0.1:8080/healthz and exits 0
# on 200 (docs/DEPLOY.md). OCI image configs have no HEALTHCHECK field; give
# it to the runtime, e.g.
#   podman run --health-cmd '/usr/local/bin/residual health' ...
# On Kubernetes the probes are httpGet (deploy/k8s/deployment.yaml).
#
# Outputs: OUT_DIR/oci (OCI layout, tag TAG) and OUT_DIR/residual-TAG.tar
# (docker-archive made by skopeo, for "docker load -i" / "podman load -i").
# Load the layout elsewhere with e.g.
#   skopeo copy oci:build/image/oci:latest docker-daemon:residual:latest
#   skopeo copy oci:build/image/oci:latest docker://registry.example/residual:latest
# deploy/image_test.go builds it, unpacks it with umoci and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-build/image}
tag=${2:-latest}
uid=65532
for tool in umoci skopeo go; do
  command -v "$tool" >/dev/null || { echo "build_image: $tool not found (apt-get install -y umoci skopeo)" >&2; exit 1; }
done

rm -rf "$out/oci" "$out/bundle"
mkdir -p "$out"
oci="$out/oci"
bundle="$out/bundle"
# A fixed creation time (the last commit's, when in git) keeps the image
# reproducible from the same sources.
created=$(git log -1 --format=%cI 2>/dev/null || echo 2026-01-01T00:00:00Z)

umoci init --layout "$oci"
umoci new --image "$oci:$tag"
# Unpacking the empty image gives a bundle with an empty rootfs to fill.
umoci unpack --rootless --image "$oci:$tag" "$bundle"
rootfs="$bundle/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$rootfs/usr/local/bin/residual" ./cmd/residual
chmod 0755 "$rootfs/usr/local/bin/residual"
cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$uid:$uid:residual:/nonexistent:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<EOF
root:x:0:
nonroot:x:$uid:
EOF
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
touch -d "$created" "$rootfs/usr/local/bin/residual" "$rootfs/etc/passwd" "$rootfs/etc/group"

umoci repack --image "$oci:$tag" --history.created "$created" --history.created_by "scripts/build_image.sh" "$bundle"
umoci config --image "$oci:$tag" --created "$created" --history.created "$created" \
  --architecture "$(go env GOARCH)" --os linux \
  --config.user "$uid:$uid" \
  --config.entrypoint /usr/local/bin/residual \
  --config.cmd serve --config.cmd --addr --config.cmd :8080 \
  --config.exposedports 8080/tcp \
  --config.workingdir / \
  --config.stopsignal SIGTERM \
  --config.label org.opencontainers.image.title=residual \
  --config.label org.opencontainers.image.source=https://github.com/residual-go/residual \
  --config.label "org.opencontainers.image.description=ResNet emotion and gesture recognition server; health check: residual health"
umoci gc --layout "$oci"
rm -rf "$bundle"

rm -f "$out/residual-$tag.tar"
skopeo copy --quiet "oci:$oci:$tag" "docker-archive:$out/residual-$tag.tar:residual:$tag"
echo "image: $oci:$tag ($(du -sh "$oci" | cut -f1)), docker archive: $out/residual-$tag.tar"
