#!/usr/bin/env bash
# The node suite's checks (test/node/node.test.ts) on a kind cluster, for users with Docker:
#
#   test/kind/run.sh                  up, test, down (KEEP=1 leaves the cluster and registries running)
#   test/kind/run.sh up|test|down     one step at a time
#   FN_PINNER_KIND_OVERLAY=cert-manager test/kind/run.sh    the cert-manager variant (installs cert-manager)
#
# `up` makes a kind cluster with a local registry as kind's local-registry guide does it (a registry:2
# container named kind-registry on 127.0.0.1:5001, containerd's registry config_path on every node, the
# registry on the kind network, the local-registry-hosting ConfigMap), plus a TLS + htpasswd registry
# whose CA every node's containerd trusts through certs.d (as the node suite does on its own node). It
# builds the image from the repository's Dockerfile and loads it into the nodes (`kind load`).
# `test` runs the node suite in cluster mode: FN_PINNER_NODE_CLUSTER names the cluster spec written by
# `up`, and the suite deploys fn-pinner from manifests/ (test/kind/overlays/$FN_PINNER_KIND_OVERLAY).
#
# Both registries are also published on the kind network's gateway address, the one address that this
# machine (which pushes the test images and runs the suite's own webhook), the nodes (which pull) and
# fn-pinner's pods (which resolve tags) all reach: image names use it, not localhost:5001, which only
# containerd's certs.d alias makes work, and only on the nodes.
#
# Needs: docker, kind, kubectl, Node 20+ (npm ci done), openssl, curl, and /bin/busybox (the suite's test
# images are built from it: Debian/Ubuntu package busybox-static).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER=${KIND_CLUSTER_NAME:-fn-pinner}
OVERLAY=${FN_PINNER_KIND_OVERLAY:-base}
WORK=${FN_PINNER_KIND_DIR:-${TMPDIR:-/tmp}/fn-pinner-kind-${CLUSTER}}
IMAGE=${FN_PINNER_KIND_IMAGE:-fn-pinner:kind}
REGISTRY_IMAGE=${REGISTRY_IMAGE:-registry:2}
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.16.0}
REG_NAME=kind-registry
REG_PORT=5001
TLS_NAME=kind-registry-tls
TLS_PORT=5002
TLS_USER=kind-user

log() { printf 'kind: %s\n' "$*" >&2; }

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "missing: ${missing[*]}"
    exit 2
  fi
}

# The kind network's IPv4 gateway: this machine's address on the network the nodes are on.
gateway() {
  docker network inspect kind -f '{{range .IPAM.Config}}{{println .Gateway}}{{end}}' | grep -m1 -E '^[0-9]+\.'
}

create_cluster() {
  if kind get clusters | grep -qx "$CLUSTER"; then
    log "cluster $CLUSTER exists"
    return
  fi
  # containerd reads registry hosts from certs.d (kind's guide; newer node images do it already), and the
  # kubelet refreshes mounted Secrets every few seconds, as on the node suite's own node.
  kind create cluster --name "$CLUSTER" --wait 180s --config - <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
kubeadmConfigPatches:
  - |
    kind: KubeletConfiguration
    syncFrequency: 3s
EOF
}

running() {
  [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null || true)" = true ]
}

start_local_registry() {
  local gw=$1
  if ! running "$REG_NAME"; then
    docker run -d --restart=always --network bridge --name "$REG_NAME" \
      -p "127.0.0.1:${REG_PORT}:5000" -p "${gw}:${REG_PORT}:5000" "$REGISTRY_IMAGE" >/dev/null
  fi
  if [ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REG_NAME")" = null ]; then
    docker network connect kind "$REG_NAME"
  fi
}

write_htpasswd() {
  local user=$1 password=$2
  if command -v htpasswd >/dev/null 2>&1; then
    htpasswd -Bbn "$user" "$password" >"$WORK/auth/htpasswd"
  else
    docker run --rm --entrypoint htpasswd httpd:2 -Bbn "$user" "$password" >"$WORK/auth/htpasswd"
  fi
}

make_tls() {
  local gw=$1
  mkdir -p "$WORK/tls" "$WORK/auth"
  [ -f "$WORK/tls/server.crt" ] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=fn-pinner kind registry CA" \
    -keyout "$WORK/tls/ca.key" -out "$WORK/tls/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=${TLS_NAME}" \
    -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost,DNS:%s\nextendedKeyUsage=serverAuth\n' \
    "$gw" "$TLS_NAME" >"$WORK/tls/server.ext"
  openssl x509 -req -in "$WORK/tls/server.csr" -CA "$WORK/tls/ca.crt" -CAkey "$WORK/tls/ca.key" \
    -CAcreateserial -days 30 -extfile "$WORK/tls/server.ext" -out "$WORK/tls/server.crt" 2>/dev/null
}

start_tls_registry() {
  local gw=$1
  running "$TLS_NAME" && return
  [ -f "$WORK/auth/password" ] || openssl rand -hex 16 >"$WORK/auth/password"
  write_htpasswd "$TLS_USER" "$(cat "$WORK/auth/password")"
  docker run -d --restart=always --network kind --name "$TLS_NAME" \
    -p "127.0.0.1:${TLS_PORT}:5000" -p "${gw}:${TLS_PORT}:5000" \
    -v "$WORK/tls:/certs:ro" -v "$WORK/auth:/auth:ro" \
    -e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt -e REGISTRY_HTTP_TLS_KEY=/certs/server.key \
    -e REGISTRY_AUTH=htpasswd -e REGISTRY_AUTH_HTPASSWD_REALM=fn-pinner-kind \
    -e REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd "$REGISTRY_IMAGE" >/dev/null
}

# One certs.d entry on a node: hosts.toml, and the CA when there is one.
node_registry_config() {
  local node=$1 host=$2 server=$3 ca=${4:-}
  local dir="/etc/containerd/certs.d/${host}"
  docker exec "$node" mkdir -p "$dir"
  {
    printf 'server = "%s"\n\n[host."%s"]\n  capabilities = ["pull", "resolve"]\n' "$server" "$server"
    if [ -n "$ca" ]; then printf '  ca = "%s/ca.crt"\n' "$dir"; fi
  } | docker exec -i "$node" cp /dev/stdin "$dir/hosts.toml"
  if [ -n "$ca" ]; then docker exec -i "$node" cp /dev/stdin "$dir/ca.crt" <"$ca"; fi
}

configure_nodes() {
  local gw=$1 node
  for node in $(kind get nodes --name "$CLUSTER"); do
    # kind's guide: localhost:5001 on a node means the registry container.
    node_registry_config "$node" "localhost:${REG_PORT}" "http://${REG_NAME}:5000"
    node_registry_config "$node" "${gw}:${REG_PORT}" "http://${gw}:${REG_PORT}"
    node_registry_config "$node" "${gw}:${TLS_PORT}" "https://${gw}:${TLS_PORT}" "$WORK/tls/ca.crt"
  done
  kubectl --kubeconfig "$WORK/kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${REG_PORT}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
EOF
}

wait_registry() {
  local url=$1
  shift
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$@" "$url/v2/"; then return; fi
    sleep 1
  done
  log "$url did not answer"
  exit 1
}

build_image() {
  local args=()
  if [ -n "${NODE_IMAGE:-}" ]; then args+=(--build-arg "NODE_IMAGE=$NODE_IMAGE"); fi
  docker build "${args[@]}" -t "$IMAGE" "$ROOT"
  kind load docker-image "$IMAGE" --name "$CLUSTER"
}

install_cert_manager() {
  [ "$OVERLAY" = cert-manager ] || return 0
  kubectl --kubeconfig "$WORK/kubeconfig" apply -f \
    "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
  kubectl --kubeconfig "$WORK/kubeconfig" -n cert-manager wait --for=condition=Available \
    deployment --all --timeout=300s
  # Its webhook admits objects a little after its Deployment is Available: wait until it takes an Issuer.
  local probe='{"apiVersion":"cert-manager.io/v1","kind":"Issuer","metadata":{"name":"probe","namespace":"default"},"spec":{"selfSigned":{}}}'
  for _ in $(seq 1 60); do
    if echo "$probe" | kubectl --kubeconfig "$WORK/kubeconfig" apply --dry-run=server -f - >/dev/null 2>&1; then
      return
    fi
    sleep 2
  done
  log "cert-manager's webhook does not admit an Issuer"
  exit 1
}

write_spec() {
  local gw=$1
  cat >"$WORK/cluster.json" <<EOF
{
  "kubeconfig": "$WORK/kubeconfig",
  "hostAddress": "$gw",
  "image": "$IMAGE",
  "overlay": "test/kind/overlays/$OVERLAY",
  "registry": {
    "host": "${gw}:${REG_PORT}",
    "logsCommand": ["sh", "-c", "docker logs $REG_NAME 2>&1"]
  },
  "privateRegistry": {
    "host": "${gw}:${TLS_PORT}",
    "caFile": "$WORK/tls/ca.crt",
    "username": "$TLS_USER",
    "password": "$(cat "$WORK/auth/password")",
    "rotateCommand": ["$ROOT/test/kind/run.sh", "rotate-credentials"]
  }
}
EOF
}

up() {
  need docker kind kubectl openssl curl
  [ -d "$ROOT/test/kind/overlays/$OVERLAY" ] || { log "no overlay test/kind/overlays/$OVERLAY"; exit 2; }
  mkdir -p "$WORK"
  create_cluster
  kind get kubeconfig --name "$CLUSTER" >"$WORK/kubeconfig"
  local gw
  gw=$(gateway)
  log "kind network gateway: $gw"
  start_local_registry "$gw"
  make_tls "$gw"
  start_tls_registry "$gw"
  wait_registry "http://${gw}:${REG_PORT}"
  wait_registry "https://${gw}:${TLS_PORT}" --cacert "$WORK/tls/ca.crt" -u "$TLS_USER:$(cat "$WORK/auth/password")"
  configure_nodes "$gw"
  build_image
  install_cert_manager
  write_spec "$gw"
  log "cluster spec: $WORK/cluster.json"
}

run_suite() {
  need node npm
  [ -x /bin/busybox ] || { log "/bin/busybox is missing (package busybox-static)"; exit 2; }
  [ -f "$WORK/cluster.json" ] || { log "no $WORK/cluster.json: run $0 up first"; exit 2; }
  (cd "$ROOT" && FN_PINNER_NODE_CLUSTER="$WORK/cluster.json" npm run test:node)
}

# Called by the suite (rotateCommand): the TLS registry restarts with only these credentials.
rotate_credentials() {
  local user=$1 password=$2
  write_htpasswd "$user" "$password"
  docker restart "$TLS_NAME" >/dev/null
}

down() {
  kind delete cluster --name "$CLUSTER" || true
  docker rm -f "$REG_NAME" "$TLS_NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

case "${1:-all}" in
  up) up ;;
  test) run_suite ;;
  down) down ;;
  rotate-credentials) rotate_credentials "$2" "$3" ;;
  all)
    up
    status=0
    run_suite || status=$?
    if [ -z "${KEEP:-}" ]; then down; fi
    exit "$status"
    ;;
  *)
    log "usage: $0 [up|test|down|all]"
    exit 2
    ;;
esac
