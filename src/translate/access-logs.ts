// proxy-defaults AccessLogs (Consul 1.15's accesslogs.MakeAccessLogs): one stdout, stderr or file
// access logger on every listener's HCM / tcp_proxy and, unless DisableListenerLogs, on the
// listener itself for connections no filter chain matched (response flag NR).
import type { AccessLog } from '../../generated/envoy/config/accesslog/v3/accesslog.js';
import type { DeepPartial } from '../../generated/envoy/config/accesslog/v3/accesslog.js';
import type { SubstitutionFormatString } from '../../generated/envoy/config/core/v3/substitution_format_string.js';
import { FileAccessLog } from '../../generated/envoy/extensions/access_loggers/file/v3/file.js';
import { StderrAccessLog, StdoutAccessLog } from '../../generated/envoy/extensions/access_loggers/stream/v3/stream.js';
import type { AccessLogsModel, Problem } from '../model/types.js';
import { toAny } from './envoy-parts.js';
import { NONE, memoByObject } from './memo.js';
import { FILTER_ACCESS_LOG, LISTENER_ACCESS_LOG } from './names.js';

/** Consul 1.15's default JSON log format (agent/xds/accesslogs). */
export const DEFAULT_JSON_FORMAT: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
};

export interface AccessLogConfig {
  /** For every HCM and tcp_proxy. */
  filter: DeepPartial<AccessLog>[];
  /** For every listener. */
  listener: DeepPartial<AccessLog>[];
  problem?: Problem;
}

const NO_LOGS: AccessLogConfig = { filter: [], listener: [] };

function invalid(field: string, message: string): AccessLogConfig {
  return { filter: [], listener: [], problem: { code: 'ACCESS_LOGS_INVALID', object: 'proxy-defaults/global', field, message } };
}

function logFormat(logs: AccessLogsModel): DeepPartial<SubstitutionFormatString> | string {
  if (logs.jsonFormat !== '' && logs.textFormat !== '') return 'AccessLogs sets both JSONFormat and TextFormat; set one of them.';
  if (logs.textFormat !== '') return { format: { $case: 'textFormatSource', value: { specifier: { $case: 'inlineString', value: logs.textFormat } } } };
  if (logs.jsonFormat === '') return { format: { $case: 'jsonFormat', value: { ...DEFAULT_JSON_FORMAT } } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(logs.jsonFormat);
  } catch (e) {
    return `AccessLogs.JSONFormat is not valid JSON (${(e as Error).message}).`;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'AccessLogs.JSONFormat must be a JSON object.';
  return { format: { $case: 'jsonFormat', value: parsed as Record<string, unknown> } };
}

function logger(logs: AccessLogsModel, format: DeepPartial<SubstitutionFormatString>) {
  const accessLogFormat = { $case: 'logFormat' as const, value: format };
  if (logs.type === 'file') return toAny(FileAccessLog, { path: logs.path, accessLogFormat });
  if (logs.type === 'stderr') return toAny(StderrAccessLog, { accessLogFormat });
  return toAny(StdoutAccessLog, { accessLogFormat });
}

const build = memoByObject((logs: object): AccessLogConfig => {
  if (logs === NONE) return NO_LOGS;
  const model = logs as AccessLogsModel;
  if (!model.enabled) return NO_LOGS;
  const format = logFormat(model);
  if (typeof format === 'string') return invalid(model.jsonFormat !== '' ? 'AccessLogs.JSONFormat' : 'AccessLogs.TextFormat', `${format} No access logs are written until it is fixed.`);
  const typedConfig = logger(model, format);
  const filter: DeepPartial<AccessLog>[] = [{ name: FILTER_ACCESS_LOG, configType: { $case: 'typedConfig', value: typedConfig } }];
  const listener: DeepPartial<AccessLog>[] = model.disableListenerLogs
    ? []
    : [{
        name: LISTENER_ACCESS_LOG,
        filter: { filterSpecifier: { $case: 'responseFlagFilter', value: { flags: ['NR'] } } },
        configType: { $case: 'typedConfig', value: typedConfig },
      }];
  return { filter, listener };
});

/** The access loggers for a proxy's listeners; shared objects, do not mutate. */
export function accessLogConfig(logs: AccessLogsModel | null): AccessLogConfig {
  return build(logs ?? NONE, '');
}
