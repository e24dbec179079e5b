// Typed errors with stable codes. Messages say what, where, and what to do.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONSUL_UNREACHABLE'
  | 'CONSUL_BAD_RESPONSE'
  | 'CONFIG_ENTRY_INVALID'
  | 'XDS_BAD_REQUEST'
  | 'XDS_UNKNOWN_TYPE'
  | 'XDS_LIMIT_EXCEEDED'
  | 'PROXY_UNKNOWN'
  | 'BOOTSTRAP_FAILED'
  | 'PROCESS_FAILED'
  | 'ADMIN_UNREACHABLE';

export class MeshgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeshgateError';
    this.code = code;
  }
}
