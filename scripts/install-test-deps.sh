#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian (bookworm) machine, as root:
#   - docker-registry: the CNCF distribution registry the integration tests run (plain, htpasswd, TLS, token)
#   - apache2-utils: htpasswd, to write the bcrypt password file the registry reads
#   - prometheus: for its promtool, which checks and unit-tests manifests/monitoring's alerting rules (the
#     package also ships the Prometheus server, which the tests do not use)
# Idempotent: packages already present are not fetched again.
set -euo pipefail

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-test-deps: installing ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
echo "install-test-deps: docker-registry $(docker-registry --version 2>/dev/null | awk '{print $NF}')"
echo "install-test-deps: $(promtool --version 2>/dev/null | head -n 1)"
