// The AggregatedDiscoveryService definition the server registers. Responses are written as
// pre-built bytes (see wire.ts); requests that do not decode become UndecodableRequest so the
// stream can end with a clear INVALID_ARGUMENT instead of a generic error.
import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
} from '../../generated/envoy/service/discovery/v3/discovery.js';
import { AggregatedDiscoveryServiceService as Generated } from '../../generated/envoy/service/discovery/v3/ads.js';
import { UndecodableRequest } from './ads-stream.js';

function decoder<T>(decode: (bytes: Uint8Array) => T): (bytes: Buffer) => T | UndecodableRequest {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (err) {
      return new UndecodableRequest((err as Error).message);
    }
  };
}

const passBytes = (value: Buffer): Buffer => value;

export const adsServiceDefinition: ServiceDefinition = {
  StreamAggregatedResources: {
    path: Generated.streamAggregatedResources.path,
    requestStream: true,
    responseStream: true,
    requestSerialize: (value: DiscoveryRequest) => Buffer.from(DiscoveryRequest.encode(value).finish()),
    requestDeserialize: decoder((b) => DiscoveryRequest.decode(b)),
    responseSerialize: passBytes,
    responseDeserialize: passBytes,
    originalName: 'streamAggregatedResources',
  },
  DeltaAggregatedResources: {
    path: Generated.deltaAggregatedResources.path,
    requestStream: true,
    responseStream: true,
    requestSerialize: (value: DeltaDiscoveryRequest) => Buffer.from(DeltaDiscoveryRequest.encode(value).finish()),
    requestDeserialize: decoder((b) => DeltaDiscoveryRequest.decode(b)),
    responseSerialize: passBytes,
    responseDeserialize: passBytes,
    originalName: 'deltaAggregatedResources',
  },
};
