#!/usr/bin/env bash
# Builds fn-pinner's image from the repository's Dockerfile with buildah (there is no Docker engine here),
# on the local Node base of scripts/build-node-base.sh, and saves it as an OCI archive. Cached by the
# build inputs (the files the Dockerfile copies, the Dockerfile and the base): a second run with the same
# sources is a no-op.
#
#   scripts/build-image.sh        prints the archive's path (skopeo: oci-archive:PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${FN_PINNER_IMAGE_CACHE:-/var/cache/fn-pinner/image}
BUILDAH=(buildah --root "$CACHE/storage" --runroot /run/fn-pinner-buildah --storage-driver vfs)
log() { echo "build-image: $*" >&2; }

base=$(scripts/build-node-base.sh)
base_id=$("${BUILDAH[@]}" images --quiet --no-trunc "$base")
version=$(node -p "require('./package.json').version")
inputs=$( (
  echo "$base_id"
  cat Dockerfile .dockerignore package.json package-lock.json tsconfig.json scripts/bundle.ts
  find src bin -type f | LC_ALL=C sort | xargs sha256sum
) | sha256sum | cut -c1-16)
archive=$CACHE/fn-pinner-$version-$inputs.oci.tar
if [ -f "$archive" ]; then
  log "cached: $archive"
  echo "$archive"
  exit 0
fi

# The source label: the repository's remote when it is a URL, else nothing.
source_url=$(git remote get-url origin 2>/dev/null || true)
case "$source_url" in https://*) ;; *) source_url="" ;; esac

start=$(date +%s)
log "building localhost/fn-pinner:$version from the Dockerfile on $base"
"${BUILDAH[@]}" bud --quiet --isolation chroot --pull-never --layers=false \
  --build-arg NODE_IMAGE="$base" --build-arg VERSION="$version" --build-arg SOURCE_URL="$source_url" \
  -t "localhost/fn-pinner:$version" . >&2
rm -f "$CACHE"/fn-pinner-*.oci.tar
"${BUILDAH[@]}" push --quiet "localhost/fn-pinner:$version" "oci-archive:$archive.tmp:fn-pinner:$version" >&2
mv "$archive.tmp" "$archive"
# Intermediate images of the build stage are not kept.
"${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
log "built in $(($(date +%s) - start))s: $archive ($(du -h "$archive" | cut -f1))"
echo "$archive"
