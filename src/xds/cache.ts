// The resource cache: what every node should have, each resource encoded once and shared.
import { MeshgateError } from '../errors.js';
import {
  TYPE_ORDER,
  TYPE_SHORT_NAMES,
  TypeUrl,
  encodeResource,
  encodedResourceToJson,
  isTypeUrl,
  type DesiredResource,
} from './resource-types.js';
import { redactSecretJson } from './redact.js';
import { contentVersion, setVersion } from './version.js';
import { anyField, deltaPrefix, type WireResource } from './wire.js';

/** One encoded resource; the same object is shared by every node that has identical content. */
export class CachedResource implements WireResource {
  /** The Any (as DiscoveryResponse/Resource field 2) wrapping `value`. */
  readonly anyField: Uint8Array;
  private prefix: Uint8Array | null = null;

  constructor(
    readonly typeUrl: TypeUrl,
    readonly name: string,
    readonly version: string,
    /** The encoded resource message. */
    readonly value: Uint8Array,
    /** For clusters: the ClusterLoadAssignment name its endpoints come from. */
    readonly endpointsName: string | null,
  ) {
    this.anyField = anyField(typeUrl, value);
  }

  get deltaPrefix(): Uint8Array {
    this.prefix ??= deltaPrefix(this.name, this.version);
    return this.prefix;
  }

  json(): unknown {
    return encodedResourceToJson(this.typeUrl, this.value);
  }
}

export interface TypeSnapshot {
  /** Hash over the sorted (name, version) pairs of `resources`. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, CachedResource>;
}

export interface NodeSnapshot {
  readonly nodeId: string;
  /** When the change that made this snapshot's latest type version happened (epoch ms). */
  readonly changedAt: number;
  type(typeUrl: TypeUrl): TypeSnapshot;
}

export interface SetOptions {
  /** When the change behind this update happened (epoch ms), e.g. when Consul reported it; default now. */
  changedAt?: number;
}

export type CacheWatcher = (changedTypes: ReadonlySet<TypeUrl>) => void;

export interface SnapshotJson {
  [shortTypeName: string]: {
    version: string;
    resources: { name: string; version: string; resource: unknown }[];
  };
}

const EMPTY_TYPE: TypeSnapshot = { version: setVersion([]), resources: new Map() };

/** A type of a stored node snapshot, with the message each entry was made from. */
interface StoredType extends TypeSnapshot {
  readonly messages: ReadonlyMap<string, object>;
  /** The messages in the order they were given. */
  readonly list: readonly object[];
}

interface BuildingType {
  resources: Map<string, CachedResource>;
  messages: Map<string, object>;
  /** Entries carried over unchanged from the previous snapshot. */
  kept: number;
  /** `name\0version` of every entry that is new or changed. */
  changes: string[];
}

const MEMO_MAX_CHANGES = 512;
const MEMO_MAX_ENTRIES = 4096;

class StoredSnapshot implements NodeSnapshot {
  constructor(
    readonly nodeId: string,
    readonly types: ReadonlyMap<TypeUrl, StoredType>,
    readonly changedAt: number,
  ) {}

  type(typeUrl: TypeUrl): TypeSnapshot {
    return this.types.get(typeUrl) ?? EMPTY_TYPE;
  }
}

interface Interned {
  resource: CachedResource;
  refs: number;
}

interface Encoded {
  bytes: Uint8Array;
  version: string;
}

export class SnapshotCache {
  private readonly snapshots = new Map<string, StoredSnapshot>();
  private readonly watchers = new Map<string, Set<CacheWatcher>>();
  private readonly interned = new Map<string, Interned>();
  /** Type versions by (previous version, changes); see typeVersion(). */
  private readonly versionMemo = new Map<string, string>();
  /** Messages already encoded: translate output is immutable, so a shared message is encoded once. */
  private readonly encoded = new WeakMap<object, Encoded>();
  /** Aliases: a name that reads another node's snapshot (alias → node), and each node's aliases. */
  private readonly aliasTarget = new Map<string, string>();
  private readonly aliasesOf = new Map<string, Set<string>>();

  /**
   * Replaces everything `nodeId` should have; watchers hear about the types that changed.
   * A resource given as the same message object as last time keeps its cached entry as is (no
   * encoding, hashing or key building), and a type whose resources are all kept keeps its version:
   * an update that touches a few resources costs little more than a pass over the list.
   * Returns the types whose version changed (every type for a new node).
   */
  set(nodeId: string, resources: readonly DesiredResource[], options: SetOptions = {}): ReadonlySet<TypeUrl> {
    const previous = this.snapshots.get(nodeId);
    const grouped = new Map<TypeUrl, DesiredResource[]>();
    for (const r of resources) {
      if (!isTypeUrl(r.typeUrl)) {
        throw new MeshgateError(
          'XDS_UNKNOWN_TYPE',
          `resource "${r.name}" for node "${nodeId}" has unknown type URL "${String(r.typeUrl)}"; use a TypeUrl constant`,
        );
      }
      const list = grouped.get(r.typeUrl);
      if (list) list.push(r);
      else grouped.set(r.typeUrl, [r]);
    }
    const types = new Map<TypeUrl, StoredType>();
    const acquired: CachedResource[] = [];
    try {
      for (const [typeUrl, list] of grouped) {
        const before = previous?.types.get(typeUrl);
        // The same messages in the same order as last time (already checked then): nothing to do.
        const same = before !== undefined && before.list.length === list.length && list.every((r, i) => r.message === before.list[i]);
        types.set(typeUrl, same ? before : this.buildType(nodeId, typeUrl, list, before, acquired));
      }
    } catch (err) {
      for (const c of acquired) this.release(c);
      throw err;
    }
    // Entries of the previous snapshot that were not carried over give up their reference.
    for (const [typeUrl, before] of previous?.types ?? []) {
      const now = types.get(typeUrl);
      if (now === before) continue;
      for (const [name, cached] of before.resources) {
        if (now?.messages.get(name) !== before.messages.get(name)) this.release(cached);
      }
    }
    const changed = new Set<TypeUrl>();
    for (const typeUrl of TYPE_ORDER) {
      if (!previous || previous.type(typeUrl).version !== (types.get(typeUrl) ?? EMPTY_TYPE).version) changed.add(typeUrl);
    }
    const changedAt = changed.size > 0 || !previous ? (options.changedAt ?? Date.now()) : previous.changedAt;
    this.snapshots.set(nodeId, new StoredSnapshot(nodeId, types, changedAt));
    if (changed.size > 0) this.notify(nodeId, changed);
    return changed;
  }

  get(nodeId: string): NodeSnapshot | undefined {
    const own = this.snapshots.get(nodeId);
    if (own !== undefined) return own;
    const target = this.aliasTarget.get(nodeId);
    return target === undefined ? undefined : this.snapshots.get(target);
  }

  /**
   * From now on `alias` reads what `nodeId` has, and its watchers hear of every change of
   * `nodeId`: one snapshot served under two names at no extra cost per update. Watchers of `alias`
   * hear of the types whose version differs from what it read before.
   */
  alias(alias: string, nodeId: string): void {
    if (this.aliasTarget.get(alias) === nodeId) return;
    const before = this.get(alias);
    this.unalias(alias);
    this.aliasTarget.set(alias, nodeId);
    let aliases = this.aliasesOf.get(nodeId);
    if (!aliases) this.aliasesOf.set(nodeId, (aliases = new Set()));
    aliases.add(alias);
    const after = this.snapshots.get(nodeId);
    if (after === undefined) return;
    const changed = new Set(TYPE_ORDER.filter((t) => before === undefined || before.type(t).version !== after.type(t).version));
    if (changed.size > 0) this.notifyWatchers(alias, changed);
  }

  /** The node `alias` reads, if it is an alias. */
  aliasOf(alias: string): string | undefined {
    return this.aliasTarget.get(alias);
  }

  /** Every alias. */
  aliasNames(): string[] {
    return [...this.aliasTarget.keys()];
  }

  /** `alias` reads nothing any more; like delete(), its streams keep what they were sent. */
  unalias(alias: string): void {
    const target = this.aliasTarget.get(alias);
    if (target === undefined) return;
    this.aliasTarget.delete(alias);
    const aliases = this.aliasesOf.get(target);
    aliases?.delete(alias);
    if (aliases?.size === 0) this.aliasesOf.delete(target);
  }

  /**
   * Forgets a node and releases its resources. Its streams keep what they were sent and are sent
   * nothing more (a proxy keeps its last config); a later set() serves them again.
   */
  delete(nodeId: string): void {
    for (const alias of [...(this.aliasesOf.get(nodeId) ?? [])]) this.unalias(alias);
    const previous = this.snapshots.get(nodeId);
    if (!previous) return;
    this.snapshots.delete(nodeId);
    for (const type of previous.types.values()) for (const cached of type.resources.values()) this.release(cached);
  }

  /** The names a snapshot is served under, aliases included. */
  nodes(): string[] {
    return [...this.snapshots.keys(), ...this.aliasTarget.keys()].sort();
  }

  watch(nodeId: string, watcher: CacheWatcher): () => void {
    let set = this.watchers.get(nodeId);
    if (!set) {
      set = new Set();
      this.watchers.set(nodeId, set);
    }
    set.add(watcher);
    return () => {
      const current = this.watchers.get(nodeId);
      if (!current) return;
      current.delete(watcher);
      if (current.size === 0) this.watchers.delete(nodeId);
    };
  }

  /** Nodes with at least one watching stream. */
  watchedCount(): number {
    return this.watchers.size;
  }

  /** Number of distinct encoded resources held (shared ones count once). */
  internedCount(): number {
    return this.interned.size;
  }

  /** The node's resources as JSON for the admin API, secrets redacted; undefined for an unknown node. */
  snapshotJson(nodeId: string): SnapshotJson | undefined {
    const snapshot = this.get(nodeId);
    if (!snapshot) return undefined;
    const out: SnapshotJson = {};
    for (const typeUrl of TYPE_ORDER) {
      const type = snapshot.type(typeUrl);
      const names = [...type.resources.keys()].sort();
      out[TYPE_SHORT_NAMES[typeUrl]] = {
        version: type.version,
        resources: names.map((name) => {
          const r = type.resources.get(name)!;
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

  private encode(resource: DesiredResource): Encoded {
    const memo = this.encoded.get(resource.message);
    if (memo) return memo;
    const bytes = encodeResource(resource);
    const result = { bytes, version: contentVersion(bytes) };
    this.encoded.set(resource.message, result);
    return result;
  }

  private acquire(resource: DesiredResource): CachedResource {
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

  /** A type's entries from `list`, carrying over those given as the same message object as before. */
  private buildType(nodeId: string, typeUrl: TypeUrl, list: readonly DesiredResource[], before: StoredType | undefined, acquired: CachedResource[]): StoredType {
    const type: BuildingType = { resources: new Map(), messages: new Map(), kept: 0, changes: [] };
    for (const r of list) {
      if (type.resources.has(r.name)) {
        throw new MeshgateError(
          'CONFIG_INVALID',
          `node "${nodeId}" was given ${TYPE_SHORT_NAMES[typeUrl]} resource "${r.name}" twice; each name must be unique per type`,
        );
      }
      let cached: CachedResource;
      if (before !== undefined && before.messages.get(r.name) === r.message) {
        cached = before.resources.get(r.name)!;
        type.kept += 1;
      } else {
        cached = this.acquire(r);
        acquired.push(cached);
        type.changes.push(`${r.name}\u0000${cached.version}`);
      }
      type.resources.set(r.name, cached);
      type.messages.set(r.name, r.message);
    }
    const unchanged = before !== undefined && type.kept === before.resources.size && type.kept === type.resources.size;
    return {
      version: unchanged ? before.version : this.typeVersion(before, type),
      resources: type.resources,
      messages: type.messages,
      list: list.map((r) => r.message),
    };
  }

  /**
   * The version of a changed type. Many nodes usually make the same small change to the same set
   * (one endpoint of a shared service), so the result is remembered by (previous version, changes)
   * instead of hashing the whole set again for every node.
   */
  private typeVersion(before: StoredType | undefined, type: BuildingType): string {
    if (before === undefined || type.changes.length > MEMO_MAX_CHANGES) return setVersion(type.resources.values());
    const gone: string[] = [];
    if (before.resources.size > type.kept) {
      for (const name of before.resources.keys()) if (!type.resources.has(name)) gone.push(name);
      if (gone.length > MEMO_MAX_CHANGES) return setVersion(type.resources.values());
    }
    const key = `${before.version}\n${[...type.changes].sort().join('\n')}\n-\n${gone.sort().join('\n')}`;
    let version = this.versionMemo.get(key);
    if (version === undefined) {
      version = setVersion(type.resources.values());
      if (this.versionMemo.size >= MEMO_MAX_ENTRIES) this.versionMemo.clear();
      this.versionMemo.set(key, version);
    }
    return version;
  }

  private release(cached: CachedResource): void {
    const key = `${cached.typeUrl}\n${cached.name}\n${cached.version}`;
    const entry = this.interned.get(key);
    if (!entry) return;
    entry.refs -= 1;
    if (entry.refs <= 0) this.interned.delete(key);
  }

  private notify(nodeId: string, changed: ReadonlySet<TypeUrl>): void {
    this.notifyWatchers(nodeId, changed);
    for (const alias of this.aliasesOf.get(nodeId) ?? []) this.notifyWatchers(alias, changed);
  }

  private notifyWatchers(name: string, changed: ReadonlySet<TypeUrl>): void {
    for (const watcher of [...(this.watchers.get(name) ?? [])]) watcher(changed);
  }
}

function endpointsNameOf(resource: DesiredResource): string | null {
  if (resource.typeUrl !== TypeUrl.Cluster) return null;
  return resource.message.edsClusterConfig?.serviceName || resource.name;
}
