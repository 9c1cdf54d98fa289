// Package deploy holds no code: its folder keeps the deployment files, the
// Kubernetes manifests of deploy/k8s, and its tests check them offline
// against the server they deploy (probe paths and ports, labels and
// selectors, resources, the autoscaler's target, the disruption budget).
// The container image is built by scripts/build_image.sh and checked by
// scripts/check_image.sh; docs/DEPLOY.md explains both.
package deploy
