#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian (bookworm) machine, as root:
#   - docker-registry: the CNCF distribution registry the integration tests run (plain, htpasswd, TLS, token)
#   - apache2-utils: htpasswd, to write the bcrypt password file the registry reads
#   - iproute2 (ip) and util-linux (unshare): the access-policy tests run in a throwaway network namespace
#     holding 169.254.169.254 on its loopback
#   - prometheus: for its promtool, which checks and unit-tests manifests/monitoring's alerting rules (the
#     package also ships the Prometheus server, which the tests do not use)
#   - shellcheck: checks test/kind/run.sh (which needs Docker, so never runs here), scripts/*.sh and .ci/run
#     (test/unit/ci-scripts.test.ts)
# and, for the node suite (test/node) and the image build (scripts/build-image.sh):
#   - containerd, runc, containernetworking-plugins: the container runtime and CNI plugins under the kubelet
#   - busybox-static: the one binary inside the suite's test images; gcc + libc6-dev build the pause binary
#   - skopeo: copies the built fn-pinner image into the suite's registry
#   - buildah, debootstrap: build the repository's Dockerfile on a locally assembled Node base
#   - iproute2, iptables: the kubelet and the CNI bridge plugin call ip/iptables
#   - kubernetes-client (kubectl 1.20.2, for `kubectl kustomize` of the suite's overlay): unpacked into
#     $FN_PINNER_KUBECTL_DIR (default /var/cache/fn-pinner/kubectl), not installed, since the machine
#     may already have another kubectl at /usr/bin/kubectl
# Idempotent: packages already present are not fetched again.
set -euo pipefail

declare -A probe=(
  [docker-registry]=/usr/bin/docker-registry
  [apache2-utils]=/usr/bin/htpasswd
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [busybox-static]=/bin/busybox
  [skopeo]=/usr/bin/skopeo
  [buildah]=/usr/bin/buildah
  [debootstrap]=/usr/sbin/debootstrap
  [gcc]=/usr/bin/gcc
  [libc6-dev]=/usr/lib/x86_64-linux-gnu/libc.a
  [iproute2]=/usr/sbin/ip
  [iptables]=/usr/sbin/iptables
  [prometheus]=/usr/bin/promtool
  [util-linux]=/usr/bin/unshare
  [shellcheck]=/usr/bin/shellcheck
)
need=()
for pkg in "${!probe[@]}"; do
  [ -e "${probe[$pkg]}" ] || need+=("$pkg")
done

if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-test-deps: installing ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
KUBECTL_DIR=${FN_PINNER_KUBECTL_DIR:-/var/cache/fn-pinner/kubectl}
if [ ! -x "$KUBECTL_DIR/usr/bin/kubectl" ]; then
  echo "install-test-deps: unpacking kubernetes-client into $KUBECTL_DIR"
  work=$(mktemp -d)
  # apt runs the download as root here (its _apt user cannot write to a mktemp dir): say nothing of it.
  download() { (cd "$work" && apt-get download -q kubernetes-client 2>&1 | grep -v '^W: Download is performed unsandboxed') || true; }
  download
  if ! ls "$work"/kubernetes-client_*.deb >/dev/null 2>&1; then
    apt-get update -q
    download
  fi
  mkdir -p "$KUBECTL_DIR"
  dpkg-deb -x "$work"/kubernetes-client_*.deb "$KUBECTL_DIR"
  rm -rf "$work"
fi
echo "install-test-deps: docker-registry $(docker-registry --version 2>/dev/null | awk '{print $NF}')," \
  "containerd $(containerd --version 2>/dev/null | awk '{print $3}'), buildah $(buildah --version 2>/dev/null | awk '{print $3}'), $(promtool --version 2>/dev/null | head -n 1)"
