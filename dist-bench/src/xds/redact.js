// Removes secret material from the JSON form of a Secret before the admin API shows it.
const REDACTED = '[redacted]';
/** Keys whose whole value is secret, and DataSource keys that inline data. */
const SECRET_KEYS = new Set(['privateKey', 'password', 'inlineBytes', 'inlineString', 'secret']);
export function redactSecretJson(value) {
    if (Array.isArray(value))
        return value.map(redactSecretJson);
    if (value === null || typeof value !== 'object')
        return value;
    const out = {};
    for (const [key, child] of Object.entries(value)) {
        out[key] = SECRET_KEYS.has(key) ? REDACTED : redactSecretJson(child);
    }
    return out;
}
//# sourceMappingURL=redact.js.map