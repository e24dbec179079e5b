// API keys at the edge, with Envoy's Lua filter. Envoy 1.34+ has envoy.filters.http.api_key_auth,
// but its proto is newer than the vendored Envoy API set, and it compares keys in clear text, so the
// keys would sit in the xDS config and in every config dump. Here the route's Lua code carries only
// the SHA-256 digests of the keys: it hashes the key a request presents (SHA-256 in LuaJIT's bit
// library) and looks the digest up. No key or no known key: 401. One listener-level instance,
// `envoy.filters.http.lua.api_key`, is disabled; a covered route turns it on with its own code.
import { Lua, LuaPerRoute } from '../../../generated/envoy/extensions/filters/http/lua/v3/lua.js';
import type { DeepPartial, HttpFilter } from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { Any } from '../../../generated/google/protobuf/any.js';
import type { ApiKeyPolicy } from '../../model/policies/api-key.js';
import { toAny } from '../envoy-parts.js';
import type { HttpFilterFeature } from './types.js';

export const API_KEY_FILTER = 'envoy.filters.http.lua.api_key';

/** SHA-256 round constants (FIPS 180-4 §4.2.2). */
const K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/** SHA-256 in LuaJIT (bit library: 32-bit signed results, wrapped with tobit). */
export const LUA_SHA256 = `local bit = require("bit")
local band, bor, bxor, bnot, rshift, lshift, ror, tobit, tohex = bit.band, bit.bor, bit.bxor, bit.bnot, bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex
local K = { ${K.map((k) => `0x${k.toString(16).padStart(8, '0')}`).join(', ')} }
local function sha256_hex(msg)
  local len = #msg
  local bits = len * 8
  local tail = {}
  for i = 7, 0, -1 do tail[#tail + 1] = string.char(math.floor(bits / 2 ^ (8 * i)) % 256) end
  msg = msg .. "\\128" .. string.rep("\\0", (55 - len) % 64) .. table.concat(tail)
  local h0, h1, h2, h3, h4, h5, h6, h7 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  local w = {}
  for chunk = 1, #msg, 64 do
    for j = 0, 15 do
      local b1, b2, b3, b4 = string.byte(msg, chunk + j * 4, chunk + j * 4 + 3)
      w[j] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
    end
    for j = 16, 63 do
      local v15, v2 = w[j - 15], w[j - 2]
      local s0 = bxor(ror(v15, 7), ror(v15, 18), rshift(v15, 3))
      local s1 = bxor(ror(v2, 17), ror(v2, 19), rshift(v2, 10))
      w[j] = tobit(w[j - 16] + s0 + w[j - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for j = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + S1 + ch + K[j + 1] + w[j])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = tobit(S0 + maj)
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
    end
    h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
    h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
  end
  return tohex(h0, 8) .. tohex(h1, 8) .. tohex(h2, 8) .. tohex(h3, 8) .. tohex(h4, 8) .. tohex(h5, 8) .. tohex(h6, 8) .. tohex(h7, 8)
end
`;

/** A Lua string literal (names and digests are validated tokens; escape anyway). */
function luaString(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0)}`)}"`;
}

const LUA_HANDLER = `local function unescape(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end
-- The value of query parameter \`name\` and the path without it.
local function from_query(path, name)
  local base, query = path:match("^([^?]*)%?(.*)$")
  if query == nil then return nil, path end
  local found, kept = nil, {}
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if found == nil and unescape(k) == name then found = unescape(v) else kept[#kept + 1] = pair end
  end
  if #kept == 0 then return found, base end
  return found, base .. "?" .. table.concat(kept, "&")
end
local function deny(handle, reason)
  handle:respond({ [":status"] = "401", ["www-authenticate"] = "API-Key", ["content-type"] = "text/plain" }, reason)
end
function envoy_on_request(handle)
  local headers = handle:headers()
  local key, source = nil, nil
  for _, s in ipairs(SOURCES) do
    if s[1] == "header" then
      key = headers:get(s[2])
    else
      key = from_query(headers:get(":path") or "", s[2])
    end
    if key ~= nil and key ~= "" then source = s break end
    key = nil
  end
  if key == nil then return deny(handle, "API key missing\\n") end
  local client = CLIENTS[sha256_hex(key)]
  if client == nil then return deny(handle, "API key invalid\\n") end
  if SANITIZE then
    if source[1] == "header" then
      headers:remove(source[2])
    else
      local _, path = from_query(headers:get(":path") or "", source[2])
      headers:replace(":path", path)
    end
  end
  if FORWARD_HEADER ~= "" then headers:replace(FORWARD_HEADER, client) end
end
`;

/** The Lua code checking one policy's keys. */
export function apiKeyLuaCode(policy: ApiKeyPolicy): string {
  const clients = policy.credentials.map((c) => `  [${luaString(c.sha256)}] = ${luaString(c.client)},`).join('\n');
  const sources = policy.extractFrom.map((s) => `{ ${luaString(s.kind)}, ${luaString(s.name)} }`).join(', ');
  return (
    `-- meshgate API key check: SHA-256 digests of the accepted keys, by client.\n` +
    LUA_SHA256 +
    `local CLIENTS = {\n${clients}\n}\n` +
    `local SOURCES = { ${sources} }\n` +
    `local FORWARD_HEADER = ${luaString(policy.forwardClientIdHeader)}\n` +
    `local SANITIZE = ${policy.sanitize ? 'true' : 'false'}\n` +
    LUA_HANDLER
  );
}

/** The listener-level instance: no code of its own, off until a route turns it on. */
export function apiKeyHttpFilter(): DeepPartial<HttpFilter> {
  return { name: API_KEY_FILTER, disabled: true, configType: { $case: 'typedConfig', value: toAny(Lua, { statPrefix: 'api_key' }) } };
}

/** The route's entry: its policy's code. */
export function apiKeyRouteConfig(policy: ApiKeyPolicy): Any {
  return toAny(LuaPerRoute, { override: { $case: 'sourceCode', value: { specifier: { $case: 'inlineString', value: apiKeyLuaCode(policy) } } } });
}

export function apiKeyPerRoute(policy: ApiKeyPolicy): Record<string, Any> {
  return { [API_KEY_FILTER]: apiKeyRouteConfig(policy) };
}

export const apiKey: HttpFilterFeature = {
  name: API_KEY_FILTER,
  hcmFilters: (ctx) => ([...ctx.routes.values()].some((p) => p.features.apiKey && !p.failClosed) ? [apiKeyHttpFilter()] : []),
  perRoute: ({ policies }) => (policies.features.apiKey && !policies.failClosed ? apiKeyPerRoute(policies.features.apiKey) : {}),
};
