// Hand-built protobuf framing for ADS responses, so a response is the cached resource bytes
// concatenated with a few small headers (no re-encoding per stream).
//
// DiscoveryResponse:      1 version_info, 2 resources (Any), 4 type_url, 5 nonce
// DeltaDiscoveryResponse: 1 system_version_info, 2 resources (Resource), 4 type_url, 5 nonce, 6 removed_resources
// Resource:               1 version, 2 resource (Any), 3 name
// Any:                    1 type_url, 2 value
const LENGTH_DELIMITED = 2;
const encoder = new TextEncoder();
function varint(value) {
    const out = [];
    let v = value;
    while (v > 0x7f) {
        out.push((v & 0x7f) | 0x80);
        v = Math.floor(v / 128);
    }
    out.push(v);
    return Uint8Array.from(out);
}
function tag(field) {
    return varint((field << 3) | LENGTH_DELIMITED);
}
/** A length-delimited field made of several byte parts (not copied until the final concat). */
function fieldParts(field, payload) {
    let length = 0;
    for (const p of payload)
        length += p.length;
    return [tag(field), varint(length), ...payload];
}
function concat(parts) {
    return Buffer.concat(parts);
}
export function stringField(field, value) {
    return concat(fieldParts(field, [encoder.encode(value)]));
}
/**
 * Field 2 holding a google.protobuf.Any with the given type URL and message bytes. It is both
 * DiscoveryResponse.resources and Resource.resource, so the same bytes serve SotW and Delta.
 */
export function anyField(typeUrl, value) {
    return concat(fieldParts(2, [stringField(1, typeUrl), ...fieldParts(2, [value])]));
}
export function deltaPrefix(name, version) {
    return concat([stringField(3, name), stringField(1, version)]);
}
export function sotwResponse(typeUrl, version, nonce, resources) {
    const parts = [stringField(1, version)];
    for (const r of resources)
        parts.push(r.anyField);
    parts.push(stringField(4, typeUrl), stringField(5, nonce));
    return concat(parts);
}
export function deltaResponse(typeUrl, systemVersion, nonce, resources, removed) {
    const parts = [stringField(1, systemVersion)];
    for (const r of resources) {
        parts.push(...fieldParts(2, [r.deltaPrefix, r.anyField]));
    }
    parts.push(stringField(4, typeUrl));
    for (const name of removed)
        parts.push(stringField(6, name));
    parts.push(stringField(5, nonce));
    return concat(parts);
}
//# sourceMappingURL=wire.js.map