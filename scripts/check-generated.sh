#!/usr/bin/env bash
# Fails when `npm run generate` would change proto/ or generated/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node scripts/vendor-protos.mjs "$tmp/proto" >/dev/null
npx buf generate "$tmp/proto" --template buf.gen.yaml -o "$tmp" >/dev/null
status=0
diff -r proto "$tmp/proto" >/dev/null || { echo "proto/ differs from what scripts/vendor-protos.mjs produces: run npm run generate" >&2; status=1; }
diff -r generated "$tmp/generated" >/dev/null || { echo "generated/ differs from what buf + ts-proto produce: run npm run generate" >&2; status=1; }
exit $status
