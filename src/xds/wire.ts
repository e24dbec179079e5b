// Hand-built protobuf framing for ADS responses, so a response is the cached resource bytes
// concatenated with a few small headers (no re-encoding per stream), written into one buffer.
//
// DiscoveryResponse:      1 version_info, 2 resources (Any), 4 type_url, 5 nonce
// DeltaDiscoveryResponse: 1 system_version_info, 2 resources (Resource), 4 type_url, 5 nonce, 6 removed_resources
// Resource:               1 version, 2 resource (Any), 3 name
// Any:                    1 type_url, 2 value

const LENGTH_DELIMITED = 2;

/** Bytes of `value` as a varint. */
function varintSize(value: number): number {
  let n = 1;
  for (let v = value; v > 0x7f; v = Math.floor(v / 128)) n += 1;
  return n;
}

/** Bytes of a length-delimited field with a `length`-byte payload (field numbers below 16: a one-byte tag). */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** A string with its UTF-8 length. */
interface Text {
  value: string;
  length: number;
}

const text = (value: string): Text => ({ value, length: Buffer.byteLength(value) });

/** Writes fields into one buffer of a size known in advance: no intermediate parts to copy and drop. */
class FieldWriter {
  readonly out: Buffer;
  private at = 0;

  constructor(size: number) {
    this.out = Buffer.allocUnsafe(size);
  }

  /** A field's tag and length; its `length` payload bytes must follow. */
  header(field: number, length: number): this {
    this.out[this.at++] = (field << 3) | LENGTH_DELIMITED;
    let v = length;
    while (v > 0x7f) {
      this.out[this.at++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.out[this.at++] = v;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.out.set(bytes, this.at);
    this.at += bytes.length;
    return this;
  }

  string(field: number, text: Text): this {
    this.header(field, text.length);
    this.at += this.out.write(text.value, this.at, text.length, 'utf8');
    return this;
  }

  done(): Buffer {
    if (this.at !== this.out.length) throw new Error(`wire encoding wrote ${this.at} of ${this.out.length} bytes`);
    return this.out;
  }
}

/**
 * Field 2 holding a google.protobuf.Any with the given type URL and message bytes. It is both
 * DiscoveryResponse.resources and Resource.resource, so the same bytes serve SotW and Delta.
 */
export function anyField(typeUrl: string, value: Uint8Array): Uint8Array {
  const type = text(typeUrl);
  const any = fieldSize(type.length) + fieldSize(value.length);
  return new FieldWriter(fieldSize(any)).header(2, any).string(1, type).header(2, value.length).raw(value).done();
}

export interface WireResource {
  readonly anyField: Uint8Array;
  /** Resource.name and Resource.version fields, written before anyField in Delta responses. */
  readonly deltaPrefix: Uint8Array;
}

export function deltaPrefix(name: string, version: string): Uint8Array {
  const n = text(name);
  const v = text(version);
  return new FieldWriter(fieldSize(n.length) + fieldSize(v.length)).string(3, n).string(1, v).done();
}

export function sotwResponse(
  typeUrl: string,
  version: string,
  nonce: string,
  resources: Iterable<WireResource>,
): Buffer {
  const list = Array.isArray(resources) ? (resources as readonly WireResource[]) : [...resources];
  const [v, t, n] = [text(version), text(typeUrl), text(nonce)];
  let size = fieldSize(v.length) + fieldSize(t.length) + fieldSize(n.length);
  for (const r of list) size += r.anyField.length;
  const w = new FieldWriter(size).string(1, v);
  for (const r of list) w.raw(r.anyField);
  return w.string(4, t).string(5, n).done();
}

export function deltaResponse(
  typeUrl: string,
  systemVersion: string,
  nonce: string,
  resources: Iterable<WireResource>,
  removed: Iterable<string>,
): Buffer {
  const list = Array.isArray(resources) ? (resources as readonly WireResource[]) : [...resources];
  const [v, t, n] = [text(systemVersion), text(typeUrl), text(nonce)];
  const gone = [...removed].map(text);
  let size = fieldSize(v.length) + fieldSize(t.length) + fieldSize(n.length);
  for (const r of list) size += fieldSize(r.deltaPrefix.length + r.anyField.length);
  for (const g of gone) size += fieldSize(g.length);
  const w = new FieldWriter(size).string(1, v);
  for (const r of list) w.header(2, r.deltaPrefix.length + r.anyField.length).raw(r.deltaPrefix).raw(r.anyField);
  w.string(4, t);
  for (const g of gone) w.string(6, g);
  return w.string(5, n).done();
}
