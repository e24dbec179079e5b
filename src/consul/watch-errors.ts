// Why a Consul watch failed, as a stable reason for /readyz and meshgate_consul_watch_errors_total.
import { MeshgateError } from '../errors.js';
import { ConsulResponseError } from './consul-client.js';

export const WATCH_ERROR_REASONS = ['forbidden', 'rate_limited', 'unreachable', 'server_error', 'bad_response'] as const;
export type WatchErrorReason = (typeof WATCH_ERROR_REASONS)[number];

/** One watch that is failing now. */
export interface WatchFailure {
  /** e.g. 'catalog', 'config/http-route', 'service/web', 'leaf/web'. */
  watch: string;
  reason: WatchErrorReason;
  message: string;
  /** When the watch started failing (ms since epoch). */
  since: number;
}

/**
 * - forbidden: 401/403 (token revoked, missing permission)
 * - rate_limited: 429 (Consul's rate limit or http_max_conns_per_client)
 * - unreachable: connection refused or reset, DNS failure, no (complete) answer in time
 * - server_error: 5xx
 * - bad_response: invalid JSON, an unexpected shape, any other status
 */
export function classifyWatchError(err: unknown): WatchErrorReason {
  if (err instanceof ConsulResponseError) {
    if (err.status === 401 || err.status === 403) return 'forbidden';
    if (err.status === 429) return 'rate_limited';
    if (err.status >= 500) return 'server_error';
    return 'bad_response';
  }
  if (err instanceof MeshgateError) return err.code === 'CONSUL_UNREACHABLE' ? 'unreachable' : 'bad_response';
  return 'unreachable';
}

/** Reasons meaning Consul itself is down or overloaded (as opposed to refusing or garbling one request). */
export function isOutageReason(reason: WatchErrorReason): boolean {
  return reason === 'unreachable' || reason === 'server_error' || reason === 'rate_limited';
}
