// Vendors the protos meshgate needs from the pinned npm package @grpc/grpc-js-xds (Apache-2.0)
// into proto/: the root files below and everything they import, plus the licence and a manifest.
import { readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pkgJsonPath = require.resolve('@grpc/grpc-js-xds/package.json');
const pkgDir = dirname(pkgJsonPath);
const pkg = JSON.parse(readFileSync(pkgJsonPath, 'utf8'));
const PINNED = '1.14.1';
if (pkg.version !== PINNED) {
  console.error(`vendor-protos: @grpc/grpc-js-xds ${pkg.version} is installed, ${PINNED} is pinned; run npm ci`);
  process.exit(1);
}

const ROOTS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  // API keys use the Lua filter: api_key_auth (Envoy 1.34+) is newer than this proto set.
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  // The ext_authz gRPC Check service: the e2e tests' authorization server implements it.
  'envoy/service/auth/v3/external_auth.proto',
  // The rate limit ShouldRateLimit service: the e2e tests' rate-limit server implements it.
  'envoy/service/ratelimit/v3/rls.proto',
  'envoy/extensions/clusters/aggregate/v3/cluster.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
];
// Search path inside the package, in order; google/protobuf/* are buf's well-known types.
const INCLUDE = ['deps/envoy-api', 'deps/xds', 'deps/googleapis', 'deps/protoc-gen-validate'].map((d) => join(pkgDir, d));

// The package's validate.proto predates StringRules.ignore_empty (field 26 upstream), which two
// Envoy API files use; add it so the set compiles. Validation options do not affect generated code.
function patchValidate(text) {
  if (/ignore_empty\s*=\s*26/.test(text)) return text;
  const patched = text.replace(/(message StringRules \{)/, '$1\n    optional bool ignore_empty = 26;');
  if (patched === text) throw new Error('vendor-protos: StringRules not found in validate.proto');
  return patched;
}

const out = process.argv[2] ?? 'proto';
rmSync(out, { recursive: true, force: true });
const seen = new Set();
const queue = [...ROOTS];
while (queue.length > 0) {
  const file = queue.shift();
  if (seen.has(file) || file.startsWith('google/protobuf/')) continue;
  seen.add(file);
  const base = INCLUDE.find((dir) => existsSync(join(dir, file)));
  if (!base) {
    console.error(`vendor-protos: ${file} not found in @grpc/grpc-js-xds`);
    process.exit(1);
  }
  let text = readFileSync(join(base, file), 'utf8');
  if (file === 'validate/validate.proto') text = patchValidate(text);
  mkdirSync(dirname(join(out, file)), { recursive: true });
  writeFileSync(join(out, file), text);
  for (const m of text.matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)) queue.push(m[1]);
}
writeFileSync(
  join(out, 'README.md'),
  `# Vendored protos\n\nCopied by \`npm run generate\` (scripts/vendor-protos.mjs) from the npm package ` +
    `@grpc/grpc-js-xds@${PINNED} (Apache-2.0; its deps/ carry the Envoy data-plane API, cncf/xds, googleapis ` +
    `and protoc-gen-validate protos, all Apache-2.0). Do not edit by hand.\n\n${seen.size} files, roots:\n\n` +
    ROOTS.map((r) => `- ${r}`).join('\n') + '\n',
);
writeFileSync(join(out, 'buf.yaml'), 'version: v2\n');
console.log(`vendor-protos: ${seen.size} files into proto/`);
