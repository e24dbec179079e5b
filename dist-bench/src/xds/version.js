// Content-derived versions: the same bytes give the same version on every run and every replica.
import { createHash } from 'node:crypto';
const VERSION_LENGTH = 16;
/** Version of one encoded resource: the first 16 hex chars of sha256 over its bytes. */
export function contentVersion(bytes) {
    return createHash('sha256').update(bytes).digest('hex').slice(0, VERSION_LENGTH);
}
/** Version of a set of resources: a hash over the (name, version) pairs sorted by name. */
export function setVersion(entries) {
    const pairs = [...entries].map((e) => [e.name, e.version]);
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const hash = createHash('sha256');
    for (const [name, version] of pairs)
        hash.update(`${name}\u0000${version}\n`);
    return hash.digest('hex').slice(0, VERSION_LENGTH);
}
//# sourceMappingURL=version.js.map