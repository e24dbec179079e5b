// A small ADS test client over a real grpc-js channel: queued responses, ACK helpers.
import { credentials, Metadata, type ChannelCredentials, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient } from '../../generated/envoy/service/discovery/v3/ads.js';
import {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
  type DeepPartial,
} from '../../generated/envoy/service/discovery/v3/discovery.js';
import { Cluster } from '../../generated/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../generated/envoy/config/endpoint/v3/endpoint.js';
import { Listener } from '../../generated/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../generated/envoy/config/route/v3/route.js';
import { Secret } from '../../generated/envoy/extensions/transport_sockets/tls/v3/secret.js';
import { TypeUrl } from '../../src/xds/resource-types.js';

type DeepPartialRequest<T> = DeepPartial<T>;

/** Responses in arrival order; `next` waits for one, `expectNone` asserts silence. */
export class ResponseQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(timeoutMs = 2000): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise<T>((resolve, reject) => {
      const waiter = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async expectNone(ms = 250): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.items.length > 0) {
      throw new Error(`expected no response, got ${this.items.length}: ${JSON.stringify(this.items[0])}`);
    }
  }
}

class AdsStreamClient<Req, Res> {
  readonly responses = new ResponseQueue<Res>();
  /** Resolves with the stream's final status (OK or an error). */
  readonly closed: Promise<StatusObject>;

  constructor(
    protected readonly stream: ClientDuplexStream<Req, Res>,
    private readonly codec: { fromPartial(p: DeepPartialRequest<Req>): Req },
  ) {
    stream.on('data', (r: Res) => this.responses.push(r));
    stream.on('error', () => undefined); // reported through 'status'
    this.closed = new Promise((resolve) => stream.on('status', resolve));
  }

  send(request: DeepPartialRequest<Req>): void {
    this.stream.write(this.codec.fromPartial(request));
  }

  next(timeoutMs?: number): Promise<Res> {
    return this.responses.next(timeoutMs);
  }

  expectNone(ms?: number): Promise<void> {
    return this.responses.expectNone(ms);
  }

  close(): void {
    this.stream.cancel();
  }

  /** Half-closes the stream, as a proxy that shuts down cleanly does; the server then ends it. */
  end(): void {
    this.stream.end();
  }
}

export class SotwClient extends AdsStreamClient<DiscoveryRequest, DiscoveryResponse> {
  private readonly names = new Map<string, string[]>();

  constructor(
    stream: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>,
    readonly nodeId: string,
    private readonly nodeName?: string,
  ) {
    super(stream, DiscoveryRequest as never);
  }

  /** Subscribes (or changes the subscription); the node is sent on every request, like Envoy does. */
  request(typeUrl: string, names: string[] = [], extra: DeepPartialRequest<DiscoveryRequest> = {}): void {
    this.names.set(typeUrl, names);
    const metadata = this.nodeName === undefined ? undefined : { node_name: this.nodeName };
    this.send({ node: { id: this.nodeId, cluster: 'test', metadata }, typeUrl, resourceNames: names, ...extra });
  }

  ack(response: DiscoveryResponse): void {
    this.send({
      node: { id: this.nodeId },
      typeUrl: response.typeUrl,
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
      resourceNames: this.names.get(response.typeUrl) ?? [],
    });
  }

  nack(response: DiscoveryResponse, message: string, ackedVersion = ''): void {
    this.send({
      node: { id: this.nodeId },
      typeUrl: response.typeUrl,
      versionInfo: ackedVersion,
      responseNonce: response.nonce,
      resourceNames: this.names.get(response.typeUrl) ?? [],
      errorDetail: { code: 3, message },
    });
  }
}

export class DeltaClient extends AdsStreamClient<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  constructor(
    stream: ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
    readonly nodeId: string,
    private readonly nodeName?: string,
  ) {
    super(stream, DeltaDiscoveryRequest as never);
  }

  subscribe(typeUrl: string, names: string[] = [], extra: DeepPartialRequest<DeltaDiscoveryRequest> = {}): void {
    const metadata = this.nodeName === undefined ? undefined : { node_name: this.nodeName };
    this.send({ node: { id: this.nodeId, cluster: 'test', metadata }, typeUrl, resourceNamesSubscribe: names, ...extra });
  }

  ack(response: DeltaDiscoveryResponse): void {
    this.send({ node: { id: this.nodeId }, typeUrl: response.typeUrl, responseNonce: response.nonce });
  }

  nack(response: DeltaDiscoveryResponse, message: string): void {
    this.send({
      node: { id: this.nodeId },
      typeUrl: response.typeUrl,
      responseNonce: response.nonce,
      errorDetail: { code: 3, message },
    });
  }
}

/** How a test stream presents itself: its ACL token (gRPC metadata) and node.metadata.node_name. */
export interface StreamOptions {
  token?: string;
  nodeName?: string;
}

function callMetadata(opts: StreamOptions): Metadata {
  const md = new Metadata();
  if (opts.token !== undefined) md.set('x-consul-token', opts.token);
  return md;
}

export class AdsTestClient {
  readonly client: InstanceType<typeof AggregatedDiscoveryServiceClient>;

  constructor(port: number, creds: ChannelCredentials = credentials.createInsecure(), host = '127.0.0.1', options: Record<string, string | number> = {}) {
    this.client = new AggregatedDiscoveryServiceClient(`${host}:${port}`, creds, options);
  }

  sotw(nodeId: string, opts: StreamOptions = {}): SotwClient {
    return new SotwClient(this.client.streamAggregatedResources(callMetadata(opts)), nodeId, opts.nodeName);
  }

  delta(nodeId: string, opts: StreamOptions = {}): DeltaClient {
    return new DeltaClient(this.client.deltaAggregatedResources(callMetadata(opts)), nodeId, opts.nodeName);
  }

  close(): void {
    this.client.close();
  }
}

const NAME_OF: Record<string, (value: Uint8Array) => string> = {
  [TypeUrl.Cluster]: (v) => Cluster.decode(v).name,
  [TypeUrl.Endpoint]: (v) => ClusterLoadAssignment.decode(v).clusterName,
  [TypeUrl.Listener]: (v) => Listener.decode(v).name,
  [TypeUrl.Route]: (v) => RouteConfiguration.decode(v).name,
  [TypeUrl.Secret]: (v) => Secret.decode(v).name,
};

/** Names of the resources in a SotW response, decoded from each Any's value. */
export function namesIn(response: DiscoveryResponse): string[] {
  return response.resources.map((r) => NAME_OF[r.typeUrl]!(r.value));
}

/** Names of the resources in a Delta response (Resource.name, checked against the decoded value). */
export function deltaNamesIn(response: DeltaDiscoveryResponse): string[] {
  return response.resources.map((r) => {
    const decoded = NAME_OF[r.resource!.typeUrl]!(r.resource!.value);
    if (decoded !== r.name) throw new Error(`Resource.name ${r.name} does not match its value (${decoded})`);
    return r.name;
  });
}
