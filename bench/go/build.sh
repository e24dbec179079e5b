#!/usr/bin/env bash
# Builds the fan-out benchmark's Go programs (the go-control-plane peer and the ADS clients) into
# the cache dir; reuses them while their sources, go.mod/go.sum and the Go version are unchanged.
# Usage: build.sh [peer|clients]... (default: both). Prints the directory holding the binaries.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${MESHGATE_BENCH_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/meshgate/bench}"

if ! command -v go >/dev/null 2>&1; then
  echo "bench/go/build.sh: cannot build the go-control-plane peer and the ADS clients: 'go' is not on PATH (install Go >= 1.26)" >&2
  exit 1
fi

mkdir -p "$out"
stamp="$( (go version; cd "$here" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -d' ' -f1)"
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(clients peer)

build() {
  local name="$1" what="$2"
  if [[ -x "$out/$name" && -f "$out/$name.stamp" && "$(cat "$out/$name.stamp")" == "$stamp" ]]; then
    return 0
  fi
  if ! (cd "$here" && go build -trimpath -o "$out/$name.tmp" "./cmd/$name") >&2; then
    echo "bench/go/build.sh: failed to build $what (bench/go/cmd/$name); see the go errors above" >&2
    rm -f "$out/$name.tmp"
    exit 1
  fi
  mv "$out/$name.tmp" "$out/$name"
  echo "$stamp" > "$out/$name.stamp"
}
for t in "${targets[@]}"; do
  case "$t" in
    peer) build peer "the go-control-plane peer" ;;
    clients) build clients "the ADS clients" ;;
    *) echo "bench/go/build.sh: unknown target '$t' (peer or clients)" >&2; exit 2 ;;
  esac
done
echo "$out"
