// The resource cache: what every node should have, each resource encoded once and shared.
import { MeshgateError } from '../errors.js';
import { TYPE_ORDER, TYPE_SHORT_NAMES, TypeUrl, encodeResource, encodedResourceToJson, isTypeUrl, } from './resource-types.js';
import { redactSecretJson } from './redact.js';
import { contentVersion, setVersion } from './version.js';
import { anyField, deltaPrefix } from './wire.js';
/** One encoded resource; the same object is shared by every node that has identical content. */
export class CachedResource {
    typeUrl;
    name;
    version;
    value;
    endpointsName;
    /** The Any (as DiscoveryResponse/Resource field 2) wrapping `value`. */
    anyField;
    prefix = null;
    constructor(typeUrl, name, version, 
    /** The encoded resource message. */
    value, 
    /** For clusters: the ClusterLoadAssignment name its endpoints come from. */
    endpointsName) {
        this.typeUrl = typeUrl;
        this.name = name;
        this.version = version;
        this.value = value;
        this.endpointsName = endpointsName;
        this.anyField = anyField(typeUrl, value);
    }
    get deltaPrefix() {
        this.prefix ??= deltaPrefix(this.name, this.version);
        return this.prefix;
    }
    json() {
        return encodedResourceToJson(this.typeUrl, this.value);
    }
}
const EMPTY_TYPE = { version: setVersion([]), resources: new Map() };
class StoredSnapshot {
    nodeId;
    types;
    constructor(nodeId, types) {
        this.nodeId = nodeId;
        this.types = types;
    }
    type(typeUrl) {
        return this.types.get(typeUrl) ?? EMPTY_TYPE;
    }
}
export class SnapshotCache {
    snapshots = new Map();
    watchers = new Map();
    interned = new Map();
    /** Messages already encoded: translate output is immutable, so a shared message is encoded once. */
    encoded = new WeakMap();
    /** Replaces everything `nodeId` should have; watchers hear about the types that changed. */
    set(nodeId, resources) {
        const grouped = this.group(nodeId, resources);
        const types = new Map();
        for (const [typeUrl, list] of grouped) {
            const map = new Map();
            for (const r of list)
                map.set(r.name, this.acquire(r));
            types.set(typeUrl, { version: setVersion(map.values()), resources: map });
        }
        const previous = this.snapshots.get(nodeId);
        const next = new StoredSnapshot(nodeId, types);
        this.snapshots.set(nodeId, next);
        if (previous)
            this.releaseAll(previous);
        const changed = new Set();
        for (const typeUrl of TYPE_ORDER) {
            if (!previous || previous.type(typeUrl).version !== next.type(typeUrl).version)
                changed.add(typeUrl);
        }
        if (changed.size > 0)
            this.notify(nodeId, changed);
    }
    get(nodeId) {
        return this.snapshots.get(nodeId);
    }
    /** Forgets a node. Its streams keep what they were sent (nothing is pushed to them). */
    delete(nodeId) {
        const previous = this.snapshots.get(nodeId);
        if (!previous)
            return;
        this.snapshots.delete(nodeId);
        this.releaseAll(previous);
    }
    nodes() {
        return [...this.snapshots.keys()].sort();
    }
    watch(nodeId, watcher) {
        let set = this.watchers.get(nodeId);
        if (!set) {
            set = new Set();
            this.watchers.set(nodeId, set);
        }
        set.add(watcher);
        return () => {
            const current = this.watchers.get(nodeId);
            if (!current)
                return;
            current.delete(watcher);
            if (current.size === 0)
                this.watchers.delete(nodeId);
        };
    }
    /** Number of distinct encoded resources held (shared ones count once). */
    internedCount() {
        return this.interned.size;
    }
    /** The node's resources as JSON for the admin API, secrets redacted; undefined for an unknown node. */
    snapshotJson(nodeId) {
        const snapshot = this.snapshots.get(nodeId);
        if (!snapshot)
            return undefined;
        const out = {};
        for (const typeUrl of TYPE_ORDER) {
            const type = snapshot.type(typeUrl);
            const names = [...type.resources.keys()].sort();
            out[TYPE_SHORT_NAMES[typeUrl]] = {
                version: type.version,
                resources: names.map((name) => {
                    const r = type.resources.get(name);
                    const json = r.json();
                    return {
                        name,
                        version: r.version,
                        resource: typeUrl === TypeUrl.Secret ? redactSecretJson(json) : json,
                    };
                }),
            };
        }
        return out;
    }
    group(nodeId, resources) {
        const grouped = new Map();
        const seen = new Set();
        for (const r of resources) {
            if (!isTypeUrl(r.typeUrl)) {
                throw new MeshgateError('XDS_UNKNOWN_TYPE', `resource "${r.name}" for node "${nodeId}" has unknown type URL "${String(r.typeUrl)}"; use a TypeUrl constant`);
            }
            const key = `${r.typeUrl}\n${r.name}`;
            if (seen.has(key)) {
                throw new MeshgateError('CONFIG_INVALID', `node "${nodeId}" was given ${TYPE_SHORT_NAMES[r.typeUrl]} resource "${r.name}" twice; each name must be unique per type`);
            }
            seen.add(key);
            const list = grouped.get(r.typeUrl) ?? [];
            list.push(r);
            grouped.set(r.typeUrl, list);
        }
        return grouped;
    }
    encode(resource) {
        const memo = this.encoded.get(resource.message);
        if (memo)
            return memo;
        const bytes = encodeResource(resource);
        const result = { bytes, version: contentVersion(bytes) };
        this.encoded.set(resource.message, result);
        return result;
    }
    acquire(resource) {
        const { bytes, version } = this.encode(resource);
        const key = `${resource.typeUrl}\n${resource.name}\n${version}`;
        let entry = this.interned.get(key);
        if (!entry) {
            entry = {
                resource: new CachedResource(resource.typeUrl, resource.name, version, bytes, endpointsNameOf(resource)),
                refs: 0,
            };
            this.interned.set(key, entry);
        }
        entry.refs += 1;
        return entry.resource;
    }
    releaseAll(snapshot) {
        for (const type of snapshot.types.values()) {
            for (const r of type.resources.values()) {
                const key = `${r.typeUrl}\n${r.name}\n${r.version}`;
                const entry = this.interned.get(key);
                if (!entry)
                    continue;
                entry.refs -= 1;
                if (entry.refs <= 0)
                    this.interned.delete(key);
            }
        }
    }
    notify(nodeId, changed) {
        for (const watcher of [...(this.watchers.get(nodeId) ?? [])])
            watcher(changed);
    }
}
function endpointsNameOf(resource) {
    if (resource.typeUrl !== TypeUrl.Cluster)
        return null;
    return resource.message.edsClusterConfig?.serviceName || resource.name;
}
//# sourceMappingURL=cache.js.map