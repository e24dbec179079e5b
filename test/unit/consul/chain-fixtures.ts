// Discovery-chain answers as Consul 1.15 gives them, for fakes.

const TD = 'a55ae833-d7e8-da26-b55c-b497540f4585.consul';

/** GET /v1/discovery-chain/:service for a service with no router, splitter or resolver. */
export function defaultChainBody(service: string, dc = 'dc1'): unknown {
  const id = `${service}.default.default.${dc}`;
  return {
    Chain: {
      ServiceName: service,
      Namespace: 'default',
      Partition: 'default',
      Datacenter: dc,
      Default: true,
      Protocol: 'tcp',
      StartNode: `resolver:${id}`,
      Nodes: { [`resolver:${id}`]: { Type: 'resolver', Name: id, Resolver: { ConnectTimeout: '5s', Default: true, Target: id } } },
      Targets: {
        [id]: {
          ConnectTimeout: '5s',
          ID: id,
          Service: service,
          Namespace: 'default',
          Partition: 'default',
          Datacenter: dc,
          MeshGateway: {},
          Subset: {},
          TransparentProxy: {},
          SNI: `${service}.default.${dc}.internal.${TD}`,
          Name: `${service}.default.${dc}.internal.${TD}`,
        },
      },
    },
  };
}

/** A chain with a resolver of two subsets (by Meta.version) and a 90/10 splitter. */
export function subsetChainBody(service: string, filters: { v1: string; v2: string }, dc = 'dc1'): unknown {
  const target = (subset: string, filter: string): Record<string, unknown> => ({
    ConnectTimeout: '5s',
    ID: `${subset}.${service}.default.default.${dc}`,
    Service: service,
    ServiceSubset: subset,
    Datacenter: dc,
    Subset: { Filter: filter },
    SNI: `${subset}.${service}.default.${dc}.internal.${TD}`,
    Name: `${subset}.${service}.default.${dc}.internal.${TD}`,
  });
  const resolver = (subset: string): Record<string, unknown> => ({
    Type: 'resolver',
    Name: `${subset}.${service}.default.default.${dc}`,
    Resolver: { ConnectTimeout: '5s', Target: `${subset}.${service}.default.default.${dc}` },
  });
  return {
    Chain: {
      ServiceName: service,
      Datacenter: dc,
      Protocol: 'http',
      StartNode: `splitter:${service}.default.default`,
      Nodes: {
        [`splitter:${service}.default.default`]: {
          Type: 'splitter',
          Name: `${service}.default.default`,
          Splits: [
            { Weight: 90, NextNode: `resolver:v1.${service}.default.default.${dc}` },
            { Weight: 10, NextNode: `resolver:v2.${service}.default.default.${dc}` },
          ],
        },
        [`resolver:v1.${service}.default.default.${dc}`]: resolver('v1'),
        [`resolver:v2.${service}.default.default.${dc}`]: resolver('v2'),
      },
      Targets: {
        [`v1.${service}.default.default.${dc}`]: target('v1', filters.v1),
        [`v2.${service}.default.default.${dc}`]: target('v2', filters.v2),
      },
    },
  };
}
