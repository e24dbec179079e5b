import { DeltaDiscoveryRequest, DiscoveryRequest, } from '../../generated/envoy/service/discovery/v3/discovery.js';
import { AggregatedDiscoveryServiceService as Generated } from '../../generated/envoy/service/discovery/v3/ads.js';
import { UndecodableRequest } from './ads-stream.js';
function decoder(decode) {
    return (bytes) => {
        try {
            return decode(bytes);
        }
        catch (err) {
            return new UndecodableRequest(err.message);
        }
    };
}
const passBytes = (value) => value;
export const adsServiceDefinition = {
    StreamAggregatedResources: {
        path: Generated.streamAggregatedResources.path,
        requestStream: true,
        responseStream: true,
        requestSerialize: (value) => Buffer.from(DiscoveryRequest.encode(value).finish()),
        requestDeserialize: decoder((b) => DiscoveryRequest.decode(b)),
        responseSerialize: passBytes,
        responseDeserialize: passBytes,
        originalName: 'streamAggregatedResources',
    },
    DeltaAggregatedResources: {
        path: Generated.deltaAggregatedResources.path,
        requestStream: true,
        responseStream: true,
        requestSerialize: (value) => Buffer.from(DeltaDiscoveryRequest.encode(value).finish()),
        requestDeserialize: decoder((b) => DeltaDiscoveryRequest.decode(b)),
        responseSerialize: passBytes,
        responseDeserialize: passBytes,
        originalName: 'deltaAggregatedResources',
    },
};
//# sourceMappingURL=ads-service.js.map