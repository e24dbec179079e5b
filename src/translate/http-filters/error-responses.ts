// Custom error responses at the edge: the HTTP connection manager's local_reply_config. Every
// answer Envoy makes itself (401 from API keys, 403 from IP rules or external authorization,
// 404 for no route, 503 when no healthy upstream, 504 on timeout, ...) whose status matches an
// entry gets that entry's body and content type (and status, when given). Responses that come
// from an upstream service pass unchanged.
import type {
  DeepPartial,
  LocalReplyConfig,
  ResponseMapper,
} from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { ComparisonFilter_Op } from '../../../generated/envoy/config/accesslog/v3/accesslog.js';
import type { ErrorResponse, ErrorResponsesPolicy } from '../../model/policies/error-responses.js';
import type { HttpConnectionManager } from '../../../generated/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import type { HttpFilterFeature, ListenerPolicyContext } from './types.js';

/** Envoy requires a runtime key on the status comparison; nothing sets it, so the value given is used. */
const RUNTIME_KEY = 'meshgate.error_responses.status';

function statusComparison(op: ComparisonFilter_Op, value: number) {
  return { filterSpecifier: { $case: 'statusCodeFilter' as const, value: { comparison: { op, value: { defaultValue: value, runtimeKey: RUNTIME_KEY } } } } };
}

function statusFilter(ranges: ErrorResponse['statusRanges']) {
  const one = ranges.map((r) =>
    r.start === r.end
      ? statusComparison(ComparisonFilter_Op.EQ, r.start)
      : { filterSpecifier: { $case: 'andFilter' as const, value: { filters: [statusComparison(ComparisonFilter_Op.GE, r.start), statusComparison(ComparisonFilter_Op.LE, r.end)] } } },
  );
  return one.length === 1 ? one[0]! : { filterSpecifier: { $case: 'orFilter' as const, value: { filters: one } } };
}

function mapper(response: ErrorResponse): DeepPartial<ResponseMapper> {
  return {
    filter: statusFilter(response.statusRanges),
    ...(response.statusCode !== 0 ? { statusCode: response.statusCode } : {}),
    body: { specifier: { $case: 'inlineString', value: response.body } },
    // The body is text, not a format string: '%' in it is not a command.
    bodyFormatOverride: {
      format: { $case: 'textFormatSource', value: { specifier: { $case: 'inlineString', value: '%LOCAL_REPLY_BODY%' } } },
      contentType: response.contentType,
    },
  };
}

/** The HTTP connection manager's local_reply_config for a policy (mappers in the order written). */
export function localReplyConfig(policy: ErrorResponsesPolicy): DeepPartial<LocalReplyConfig> {
  return { mappers: policy.responses.map(mapper) };
}

/** The listener's connection manager settings: the local_reply_config of the error-responses policy attached to it or its gateway. */
export const errorResponses: HttpFilterFeature = {
  name: 'local_reply_config',
  hcmFilters: () => [],
  hcmSettings(ctx: ListenerPolicyContext): DeepPartial<HttpConnectionManager> {
    const policy = ctx.policies.listeners.get(ctx.listener.name)?.errorResponses;
    return policy ? { localReplyConfig: localReplyConfig(policy) } : {};
  },
};
