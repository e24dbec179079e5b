// Prometheus metrics: one registry per meshgate instance, with typed handles for the app. Every
// metric is driven by production code: xDS ones through xdsObserver(), the rest by src/app.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamProtocol, StreamRejection, XdsObserver } from '../xds/observer.js';

export interface MeshgateMetrics {
  registry: Registry;
  /** Proxies with an open, identified ADS stream. */
  connectedProxies: Gauge;
  /** Responses sent, by short type name ('clusters', 'listeners', ...). */
  xdsPushes: Counter<'type'>;
  /** Bytes of responses sent, by short type name. */
  xdsResponseBytes: Counter<'type'>;
  /** ACKs received, by short type name. */
  xdsAcks: Counter<'type'>;
  /** NACKs received, by short type name. */
  xdsNacks: Counter<'type'>;
  /** Open ADS streams by protocol (read at scrape time). */
  xdsStreams: Gauge<'protocol'>;
  /** Streams refused or ended by meshgate, by reason. */
  xdsRejectedStreams: Counter<'reason'>;
  /** Times a stream stopped writing because its proxy did not read. */
  xdsStreamPauses: Counter<'protocol'>;
  /** Bytes written to streams and not yet taken by the transport. */
  xdsQueuedBytes: Gauge;
  /** Seconds from a change reaching the cache to a proxy's ACK of the last response it needed. */
  xdsConvergence: Histogram;
  /** Seconds from a Consul change to the ACK of the last connected proxy it affected (one observation per change). */
  convergence: Histogram;
  /** 1 while Consul answers, 0 while it does not. */
  consulReachable: Gauge;
  /** Problems in the current model (invalid config entries, unknown services, ...). */
  configProblems: Gauge;
}

export interface MetricsOptions {
  defaultMetrics?: boolean;
  /** Read at scrape time for meshgate_connected_proxies. */
  connectedProxies?: () => number;
  /** Read at scrape time for meshgate_xds_streams. */
  xdsStreams?: () => Record<StreamProtocol, number>;
}

export const CONVERGENCE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(options: MetricsOptions = {}): MeshgateMetrics {
  const countProxies = options.connectedProxies;
  const countStreams = options.xdsStreams;
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    connectedProxies: new Gauge({
      name: 'meshgate_connected_proxies',
      help: 'Proxies with an open ADS stream.',
      registers,
      collect() {
        if (countProxies) this.set(countProxies());
      },
    }),
    xdsPushes: new Counter({
      name: 'meshgate_xds_pushes_total',
      help: 'xDS responses sent, by resource type.',
      labelNames: ['type'] as const,
      registers,
    }),
    xdsResponseBytes: new Counter({
      name: 'meshgate_xds_response_bytes_total',
      help: 'Bytes of xDS responses sent, by resource type.',
      labelNames: ['type'] as const,
      registers,
    }),
    xdsAcks: new Counter({
      name: 'meshgate_xds_acks_total',
      help: 'xDS ACKs received, by resource type.',
      labelNames: ['type'] as const,
      registers,
    }),
    xdsNacks: new Counter({
      name: 'meshgate_xds_nacks_total',
      help: 'xDS NACKs received, by resource type.',
      labelNames: ['type'] as const,
      registers,
    }),
    xdsStreams: new Gauge({
      name: 'meshgate_xds_streams',
      help: 'Open ADS streams, by protocol (sotw, delta).',
      labelNames: ['protocol'] as const,
      registers,
      collect() {
        if (!countStreams) return;
        for (const [protocol, count] of Object.entries(countStreams())) this.set({ protocol }, count);
      },
    }),
    xdsRejectedStreams: new Counter({
      name: 'meshgate_xds_rejected_streams_total',
      help: 'ADS streams refused or ended by meshgate, by reason (max_streams, max_request_bytes, permission_denied, invalid_request).',
      labelNames: ['reason'] as const,
      registers,
    }),
    xdsStreamPauses: new Counter({
      name: 'meshgate_xds_stream_pauses_total',
      help: 'Times an ADS stream stopped writing until its proxy read what it was sent (flow control), by protocol.',
      labelNames: ['protocol'] as const,
      registers,
    }),
    xdsQueuedBytes: new Gauge({
      name: 'meshgate_xds_queued_bytes',
      help: 'Bytes written to ADS streams that their proxies have not read yet.',
      registers,
    }),
    xdsConvergence: new Histogram({
      name: 'meshgate_xds_convergence_seconds',
      help: 'Seconds from a configuration change (as reported by Consul) to the ACK of the last response a connected proxy needed for it.',
      buckets: CONVERGENCE_BUCKETS,
      registers,
    }),
    convergence: new Histogram({
      name: 'meshgate_convergence_seconds',
      help: 'Seconds from a Consul change (as meshgate first heard of it) to the ACK of the last connected proxy whose config it changed; one observation per change, see /debug/changes.',
      buckets: CONVERGENCE_BUCKETS,
      registers,
    }),
    consulReachable: new Gauge({
      name: 'meshgate_consul_reachable',
      help: '1 while Consul answers, 0 while it does not.',
      registers,
    }),
    configProblems: new Gauge({
      name: 'meshgate_config_problems',
      help: 'Problems found in the configuration read from Consul.',
      registers,
    }),
  };
}

/** The xDS server's hooks, feeding the metrics above. */
export function xdsObserver(m: MeshgateMetrics): XdsObserver {
  return {
    pushed(type, _protocol, bytes) {
      m.xdsPushes.inc({ type });
      m.xdsResponseBytes.inc({ type }, bytes);
    },
    acked: (type) => m.xdsAcks.inc({ type }),
    nacked: (type) => m.xdsNacks.inc({ type }),
    streamOpened: () => undefined, // meshgate_xds_streams is read from the server at scrape time
    streamClosed: () => undefined,
    rejected: (reason: StreamRejection) => m.xdsRejectedStreams.inc({ reason }),
    backpressured: (protocol) => m.xdsStreamPauses.inc({ protocol }),
    queuedBytes: (delta) => m.xdsQueuedBytes.inc(delta),
    converged: (seconds) => m.xdsConvergence.observe(seconds),
  };
}
