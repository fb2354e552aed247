#!/usr/bin/env bash
# Builds real Kubernetes v1.20.2 binaries from Debian bookworm's `kubernetes` source package, and installs
# etcd: kube-apiserver for the end-to-end suite; kubelet, kube-scheduler and kube-controller-manager for the
# node suite. They are built in one `make` and cached together: a second run is a no-op.
#
#   scripts/build-kube-apiserver.sh [DEST]     (DEST defaults to $FN_PINNER_KUBE_CACHE or /var/cache/fn-pinner/kube)
#
# Prints the directory to use as KUBEBUILDER_ASSETS (it holds the binaries and etcd), envtest-style.
# If KUBEBUILDER_ASSETS already has them all, nothing is built.
set -euo pipefail

COMPONENTS=(kube-apiserver kubelet kube-scheduler kube-controller-manager)
have_all() {
  local c
  for c in "${COMPONENTS[@]}" etcd; do [ -x "$1/$c" ] || return 1; done
  "$1/kube-apiserver" --version >/dev/null 2>&1
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

DEST=${1:-${FN_PINNER_KUBE_CACHE:-/var/cache/fn-pinner/kube}}
BIN="$DEST/bin"
mkdir -p "$BIN"
log() { echo "build-kube-apiserver: $*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! command -v etcd >/dev/null 2>&1; then
  log "installing etcd-server"
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends etcd-server >&2
fi
ln -sf "$(command -v etcd)" "$BIN/etcd"

if have_all "$BIN"; then
  log "cached: $("$BIN/kube-apiserver" --version)"
  echo "$BIN"
  exit 0
fi

# The source package needs a deb-src entry for the configured mirror; derive it, naming no host.
if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Version'; then
  log "enabling deb-src for the configured Debian mirror"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
      $SUDO tee /etc/apt/sources.list.d/fn-pinner-deb-src.sources >/dev/null
  else
    grep -h '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' |
      $SUDO tee /etc/apt/sources.list.d/fn-pinner-deb-src.list >/dev/null
  fi
  $SUDO apt-get update -q >&2
fi

log "installing the Go toolchain and build dependencies"
$SUDO apt-get install -y -q --no-install-recommends golang-go dpkg-dev rsync jq make \
  golang-github-modern-go-reflect2-dev >&2

cd "$DEST"
if ! ls -d src/kubernetes-*/ >/dev/null 2>&1; then
  log "fetching the kubernetes source package"
  rm -rf src && mkdir src
  (cd src && apt-get source -q kubernetes >&2)
fi
cd src/kubernetes-*/

# The vendored reflect2 v1.0.1 crashes under Go >= 1.18 (nil deref in mapiterinit when JSON-encoding maps,
# i.e. the first Secret the apiserver returns); Debian's reflect2 1.0.2 fixes it. GOPATH mode ignores
# vendor/modules.txt, so swapping the directory is enough.
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes

log "building ${COMPONENTS[*]} (about 8 minutes on 2 cores)"
start=$(date +%s)
# `make WHAT=...` runs the code generators (openapi-gen) first; a plain `go build` does not work here.
env GOPATH="$PWD/.go" GOPROXY=off GOFLAGS= HOME="$DEST/home" KUBE_GIT_VERSION=v1.20.2 \
  KUBE_GIT_TREE_STATE=clean CGO_ENABLED=0 make WHAT="${COMPONENTS[*]/#/cmd/}" >&2
for c in "${COMPONENTS[@]}"; do cp "_output/bin/$c" "$BIN/$c"; done
log "built in $(($(date +%s) - start))s: $("$BIN/kube-apiserver" --version)"
# The build tree is 1.8 GB; only the binary is needed.
cd "$DEST" && rm -rf src home
echo "$BIN"
