export * from './ports.js';
export * from './processes.js';
export * from './http.js';
export * from './consul.js';
export * from './envoy.js';
export * from './mtls.js';
export * from './certificates.js';
