#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian (bookworm) machine, as root:
#   - docker-registry: the CNCF distribution registry the integration tests run (plain, htpasswd, TLS, token)
#   - apache2-utils: htpasswd, to write the bcrypt password file the registry reads
#   - iproute2 (ip) and util-linux (unshare): the access-policy tests run in a throwaway network namespace
#     holding 169.254.169.254 on its loopback
# Idempotent: packages already present are not fetched again.
set -euo pipefail

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)

if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-test-deps: installing ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
echo "install-test-deps: docker-registry $(docker-registry --version 2>/dev/null | awk '{print $NF}')"
