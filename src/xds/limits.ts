// Server-wide limits on what clients may cost meshgate, and the errors a client gets at a limit.
import { status as GrpcStatus, ServerInterceptingCall, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { MeshgateError } from '../errors.js';
import type { XdsObserver } from './observer.js';

export const DEFAULT_MAX_STREAMS = 10_000;
export const DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export interface XdsLimits {
  /** Open ADS streams at most (both protocols, every client). */
  maxStreams: number;
  /** Size of one ADS request message at most, in bytes. */
  maxRequestBytes: number;
}

export function streamLimitError(limit: number): MeshgateError {
  return new MeshgateError(
    'XDS_LIMIT_EXCEEDED',
    `meshgate already serves ${limit} ADS streams, its limit (--max-streams ${limit}); ` +
      'connect to another meshgate replica or raise --max-streams',
  );
}

export function requestSizeError(limit: number, size: string | null): MeshgateError {
  return new MeshgateError(
    'XDS_LIMIT_EXCEEDED',
    `ADS request${size === null ? '' : ` of ${size} bytes`} is larger than meshgate's limit of ${limit} bytes ` +
      `(--max-request-bytes ${limit}); send fewer resource names per request or raise --max-request-bytes`,
  );
}

type SentStatus = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];

const TOO_LARGE = /^Received message (?:larger than max \((\d+) vs|that decompresses to a size larger than)/;

/**
 * Rewrites grpc-js's "Received message larger than max" status into one that names the limit and
 * the flag, and counts it. grpc-js ends such a call from inside its base call object, before any
 * interceptor's responder runs, so the hook wraps that object's sendStatus.
 */
export function requestSizeInterceptor(limit: number, observer: XdsObserver, logger: Logger): ServerInterceptor {
  return (_method, call) => {
    const original = call.sendStatus.bind(call);
    call.sendStatus = (status: SentStatus) => {
      const match = status.code === GrpcStatus.RESOURCE_EXHAUSTED && typeof status.details === 'string' ? TOO_LARGE.exec(status.details) : null;
      if (match === null) {
        original(status);
        return;
      }
      const err = requestSizeError(limit, match[1] ?? null);
      observer.rejected('max_request_bytes');
      logger.warn({ code: err.code, peer: call.getPeer() }, err.message);
      original({ ...status, details: err.message });
    };
    return new ServerInterceptingCall(call);
  };
}
