#!/usr/bin/env bash
# Builds Consul from the Go module proxy at a pinned MPL-2.0 release and caches the binary
# outside the repository. Prints the binary's path on stdout. Honours CONSUL_BIN.
set -euo pipefail

CONSUL_VERSION="${MESHGATE_CONSUL_VERSION:-v1.15.4}"
CACHE_DIR="${MESHGATE_CACHE_DIR:-$HOME/.cache/meshgate}"
OUT="$CACHE_DIR/consul-$CONSUL_VERSION/consul"

if [ -n "${CONSUL_BIN:-}" ]; then
  [ -x "$CONSUL_BIN" ] || { echo "CONSUL_BIN=$CONSUL_BIN is not an executable file" >&2; exit 1; }
  echo "$CONSUL_BIN"; exit 0
fi
if [ -x "$OUT" ]; then echo "$OUT"; exit 0; fi

command -v go >/dev/null || { echo "install-consul: the Go toolchain is required (go not found on PATH)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/meshgate-consul-build.XXXXXX")"
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
cd "$work"

# A throw-away wrapper module: `go install` refuses modules with replace directives, so we
# require Consul and its sub-modules at the versions its own go.mod pins and build from here.
cat > go.mod <<MOD
module meshgate.local/consul-build

go 1.20

exclude (
	github.com/hashicorp/go-msgpack v1.1.5
	github.com/hashicorp/go-msgpack v1.1.6
)
MOD

echo "install-consul: fetching github.com/hashicorp/consul@$CONSUL_VERSION from the Go module proxy" >&2
go mod download -json "github.com/hashicorp/consul@$CONSUL_VERSION" > dl.json
moddir="$(python3 -c 'import json,sys; print(json.load(open("dl.json"))["Dir"])')"

# Licence check: only MPL-2.0 releases may be used.
check_licence() {
  if ! grep -q "Mozilla Public License, version 2.0" "$1/LICENSE"; then
    echo "install-consul: $1 is not licensed MPL-2.0 (see $1/LICENSE); refusing to build it" >&2
    exit 1
  fi
}
check_licence "$moddir"

# The sub-modules Consul replaces with local paths, at the versions its go.mod requires.
subs="$(sed -n 's#^\s*\(github.com/hashicorp/consul/[a-z-]*\) \(v[0-9.]*\)$#\1@\2#p' "$moddir/go.mod")"
# Consul's own tree builds against its local sub-module directories, which can be a little ahead of
# the versions its go.mod names; these pins are the released sub-module versions matching the tree.
for pin in ${CONSUL_SUBMODULE_PINS:-github.com/hashicorp/consul/api@v1.21.1}; do
  subs="$(printf '%s\n' $subs | sed "s#^${pin%@*}@.*#$pin#")"
done
for s in $subs; do
  d="$(go mod download -json "$s" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  check_licence "$d"
done

GOFLAGS=-mod=mod go get "github.com/hashicorp/consul@$CONSUL_VERSION" $subs >&2
echo "install-consul: building consul $CONSUL_VERSION (takes a few minutes the first time)" >&2
mkdir -p "$(dirname "$OUT")"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$OUT.tmp" github.com/hashicorp/consul
cp "$moddir/LICENSE" "$(dirname "$OUT")/LICENSE"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
