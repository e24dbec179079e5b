// zod schemas of the Consul config entries the model reads (Consul 1.15 JSON, PascalCase).
// Consul returns unset fields as null, so optional fields accept null too.
import { z } from 'zod';

const HTTP_METHODS = ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'] as const;

const stringMap = z.record(z.string(), z.string());

export const httpFiltersSchema = z.object({
  Headers: z
    .array(
      z.object({
        Add: stringMap.nullish(),
        Set: stringMap.nullish(),
        Remove: z.array(z.string().min(1)).nullish(),
      }),
    )
    .nullish(),
  URLRewrite: z
    .object({
      Path: z.string().nullish(),
    })
    .nullish(),
});

const pathMatchSchema = z
  .object({
    Match: z.enum(['exact', 'prefix', 'regex', '']).nullish(),
    Value: z.string().nullish(),
  })
  .superRefine((path, ctx) => {
    const kind = path.Match || 'prefix';
    const value = path.Value ?? '';
    if (kind === 'regex') {
      const problem = regexProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', path: ['Value'], message: problem });
    } else if (value !== '' && !value.startsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['Value'], message: `an ${kind} path must start with '/' (got '${value}')` });
    }
  });

const headerMatchSchema = z
  .object({
    Match: z.enum(['exact', 'prefix', 'suffix', 'regex', 'present', '']).nullish(),
    Name: z.string().min(1, 'a header match needs a Name'),
    Value: z.string().nullish(),
  })
  .superRefine((m, ctx) => {
    if (m.Match === 'regex') {
      const problem = regexProblem(m.Value ?? '');
      if (problem) ctx.addIssue({ code: 'custom', path: ['Value'], message: problem });
    }
  });

const queryMatchSchema = z
  .object({
    Match: z.enum(['exact', 'regex', 'present', '']).nullish(),
    Name: z.string().min(1, 'a query match needs a Name'),
    Value: z.string().nullish(),
  })
  .superRefine((m, ctx) => {
    if (m.Match === 'regex') {
      const problem = regexProblem(m.Value ?? '');
      if (problem) ctx.addIssue({ code: 'custom', path: ['Value'], message: problem });
    }
  });

export const httpRouteSchema = z.object({
  Kind: z.literal('http-route'),
  Name: z.string().min(1, 'the route needs a Name'),
  Parents: z
    .array(
      z.object({
        Kind: z.enum(['api-gateway', '']).nullish(),
        Name: z.string().min(1, 'a parent needs the Name of an api-gateway'),
        SectionName: z.string().nullish(),
      }),
    )
    .nullish(),
  Hostnames: z.array(z.string().min(1)).nullish(),
  Rules: z
    .array(
      z.object({
        Filters: httpFiltersSchema.nullish(),
        Matches: z
          .array(
            z.object({
              Headers: z.array(headerMatchSchema).nullish(),
              Method: z
                .string()
                .nullish()
                .refine((m) => !m || (HTTP_METHODS as readonly string[]).includes(m), {
                  message: `Method must be one of ${HTTP_METHODS.join(', ')}`,
                }),
              Path: pathMatchSchema.nullish(),
              Query: z.array(queryMatchSchema).nullish(),
            }),
          )
          .nullish(),
        Services: z
          .array(
            z.object({
              Name: z.string().min(1, 'a backend service needs a Name'),
              Weight: z.number().int().min(0, 'Weight must not be negative').nullish(),
              Filters: httpFiltersSchema.nullish(),
            }),
          )
          .min(1, 'a rule needs at least one service')
          .nullish(),
      }),
    )
    .nullish(),
});

export type HttpRouteEntry = z.infer<typeof httpRouteSchema>;
export type HttpFiltersEntry = z.infer<typeof httpFiltersSchema>;

// --- api-gateway listener TLS, inline-certificate, tcp-route (Consul 1.15 config_entry_gateways.go,
// config_entry_inline_certificate.go, config_entry_routes.go) ---

/** Listeners[].TLS: certificates by reference, versions and ciphers checked as the mesh entry's. */
export const apiGatewayListenerTlsSchema = z
  .object({
    Certificates: z
      .array(
        z.object({
          Kind: z.enum(['inline-certificate'], { message: "unsupported certificate kind: must be 'inline-certificate'" }),
          Name: z.string().min(1, 'certificate reference must have a name'),
        }),
      )
      .nullish(),
    MinVersion: z.string().nullish(),
    MaxVersion: z.string().nullish(),
    CipherSuites: z.array(z.string()).nullish(),
  })
  .superRefine((tls, ctx) => {
    const checked = meshTlsDirectionSchema.safeParse({ TLSMinVersion: tls.MinVersion, TLSMaxVersion: tls.MaxVersion, CipherSuites: tls.CipherSuites });
    if (checked.success) return;
    const rename: Record<string, string> = { TLSMinVersion: 'MinVersion', TLSMaxVersion: 'MaxVersion' };
    for (const issue of checked.error.issues) {
      const [head, ...rest] = issue.path;
      const message = issue.message.replace(/TLSMaxVersion/g, 'MaxVersion').replace(/TLSMinVersion/g, 'MinVersion');
      ctx.addIssue({ code: 'custom', path: [rename[String(head)] ?? (head as PropertyKey), ...rest] as (string | number)[], message });
    }
  });

export type ApiGatewayListenerTlsEntry = z.infer<typeof apiGatewayListenerTlsSchema>;

export const inlineCertificateSchema = z.object({
  Kind: z.literal('inline-certificate'),
  Name: z.string().min(1, 'the certificate needs a Name'),
  Certificate: z.string().min(1, 'Certificate must hold a PEM certificate'),
  PrivateKey: z.string().min(1, 'PrivateKey must hold a PEM private key'),
});

export type InlineCertificateEntry = z.infer<typeof inlineCertificateSchema>;

export const tcpRouteSchema = z
  .object({
    Kind: z.literal('tcp-route'),
    Name: z.string().min(1, 'the route needs a Name'),
    Parents: z
      .array(
        z.object({
          Kind: z.enum(['api-gateway', ''], { message: "unsupported parent kind: must be 'api-gateway'" }).nullish(),
          Name: z.string().min(1, 'a parent needs the Name of an api-gateway'),
          SectionName: z.string().nullish(),
        }),
      )
      .nullish(),
    Services: z
      .array(z.object({ Name: z.string().min(1, 'a backend service needs a Name') }))
      .max(1, 'tcp-route currently only supports one service (as Consul 1.15)')
      .nullish(),
  })
  .superRefine((route, ctx) => {
    const seen = new Set<string>();
    for (const [i, p] of (route.Parents ?? []).entries()) {
      const key = `${p.Name}/${p.SectionName ?? ''}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['Parents', i], message: 'route parents must be unique' });
      seen.add(key);
    }
  });

export type TcpRouteEntry = z.infer<typeof tcpRouteSchema>;

export const apiGatewaySchema = z
  .object({
    Kind: z.literal('api-gateway'),
    Name: z.string().min(1, 'the gateway needs a Name'),
    Listeners: z
      .array(
        z.object({
          Name: z.string().min(1, 'a listener needs a Name'),
          Port: z.number().int().min(1).max(65535),
          Protocol: z.enum(['http', 'tcp', '']).nullish(),
          Hostname: z.string().nullish(),
          TLS: apiGatewayListenerTlsSchema.nullish(),
        }),
      )
      .nullish(),
    Meta: stringMap.nullish(),
  })
  .superRefine((gw, ctx) => {
    const names = new Set<string>();
    const ports = new Set<number>();
    for (const [i, l] of (gw.Listeners ?? []).entries()) {
      if (names.has(l.Name)) ctx.addIssue({ code: 'custom', path: ['Listeners', i, 'Name'], message: `listener name '${l.Name}' is used twice` });
      if (ports.has(l.Port)) ctx.addIssue({ code: 'custom', path: ['Listeners', i, 'Port'], message: `port ${l.Port} is used by two listeners` });
      names.add(l.Name);
      ports.add(l.Port);
    }
  });

export type ApiGatewayEntry = z.infer<typeof apiGatewaySchema>;

export const serviceDefaultsSchema = z.object({
  Kind: z.literal('service-defaults'),
  Name: z.string().min(1),
  Protocol: z.string().nullish(),
});

export const proxyDefaultsSchema = z.object({
  Kind: z.literal('proxy-defaults'),
  Name: z.string().min(1),
  Config: z.record(z.string(), z.unknown()).nullish(),
});

// --- service-intentions (agent/structs/config_entry_intentions.go, Consul 1.15) ---
// The entry is parsed in two steps: the envelope here, then each source on its own, so that one
// bad source can be named (and handled) without losing sight of the others.

export const serviceIntentionsSchema = z.object({
  Kind: z.literal('service-intentions'),
  Name: z.string().min(1, 'the entry needs a Name (the destination service, or *)'),
  Sources: z.array(z.unknown()).nullish(),
});

export type ServiceIntentionsEntry = z.infer<typeof serviceIntentionsSchema>;

const intentionAction = z.enum(['allow', 'deny'], { message: "Action must be 'allow' or 'deny'" });

const intentionHeaderSchema = z
  .object({
    Name: z.string().min(1, 'a header condition needs a Name'),
    Present: z.boolean().nullish(),
    Exact: z.string().nullish(),
    Prefix: z.string().nullish(),
    Suffix: z.string().nullish(),
    Regex: z.string().nullish(),
    Invert: z.boolean().nullish(),
  })
  .superRefine((h, ctx) => {
    const parts = [h.Present === true, !!h.Exact, !!h.Prefix, !!h.Suffix, !!h.Regex].filter(Boolean).length;
    if (parts !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'a header condition needs exactly one of Present, Exact, Prefix, Suffix or Regex' });
    if (h.Regex) {
      const problem = regexProblem(h.Regex);
      if (problem) ctx.addIssue({ code: 'custom', path: ['Regex'], message: problem });
    }
  });

const intentionHttpSchema = z
  .object({
    PathExact: z.string().nullish(),
    PathPrefix: z.string().nullish(),
    PathRegex: z.string().nullish(),
    Methods: z.array(z.string().transform((m) => m.toUpperCase())).nullish(),
    Header: z.array(intentionHeaderSchema).nullish(),
  })
  .superRefine((http, ctx) => {
    const paths = [http.PathExact, http.PathPrefix, http.PathRegex].filter((p) => !!p).length;
    if (paths > 1) ctx.addIssue({ code: 'custom', path: [], message: 'use at most one of PathExact, PathPrefix and PathRegex' });
    for (const field of ['PathExact', 'PathPrefix'] as const) {
      const value = http[field];
      if (value && !value.startsWith('/')) ctx.addIssue({ code: 'custom', path: [field], message: `${field} must start with '/' (got '${value}')` });
    }
    if (http.PathRegex) {
      const problem = regexProblem(http.PathRegex);
      if (problem) ctx.addIssue({ code: 'custom', path: ['PathRegex'], message: problem });
    }
    const seen = new Set<string>();
    for (const [i, m] of (http.Methods ?? []).entries()) {
      if (!(HTTP_METHODS as readonly string[]).includes(m)) {
        ctx.addIssue({ code: 'custom', path: ['Methods', i], message: `unknown HTTP method '${m}': use one of ${HTTP_METHODS.join(', ')}` });
      } else if (seen.has(m)) {
        ctx.addIssue({ code: 'custom', path: ['Methods', i], message: `method '${m}' is listed twice` });
      }
      seen.add(m);
    }
    if (paths === 0 && (http.Methods ?? []).length === 0 && (http.Header ?? []).length === 0) {
      ctx.addIssue({ code: 'custom', path: [], message: 'HTTP must set a path, methods or a header condition' });
    }
  });

export const intentionSourceSchema = z
  .object({
    Name: z.string().min(1, 'a source needs a Name (a service name, or *)'),
    Action: z.enum(['allow', 'deny', ''], { message: "Action must be 'allow' or 'deny'" }).nullish(),
    Permissions: z
      .array(
        z.object({
          Action: intentionAction,
          HTTP: intentionHttpSchema.nullish(),
        }),
      )
      .nullish(),
    Type: z.enum(['consul', '']).nullish(),
  })
  .superRefine((src, ctx) => {
    const l7 = (src.Permissions ?? []).length > 0;
    if (l7 && src.Action) ctx.addIssue({ code: 'custom', path: ['Action'], message: 'Action must be omitted when Permissions are set' });
    if (!l7 && !src.Action) ctx.addIssue({ code: 'custom', path: ['Action'], message: "a source needs an Action ('allow' or 'deny') or Permissions" });
    for (const [i, p] of (src.Permissions ?? []).entries()) {
      if (!p.HTTP) ctx.addIssue({ code: 'custom', path: ['Permissions', i, 'HTTP'], message: 'a permission needs HTTP conditions' });
    }
  });

export type IntentionSourceEntry = z.infer<typeof intentionSourceSchema>;

// --- mesh (agent/structs/config_entry_mesh.go, types/tls.go) ---

export const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'] as const;

/** Consul's cipher names → the OpenSSL names Envoy takes (types/tls.go envoyTLSCipherSuiteStrings). */
export const ENVOY_CIPHER_NAMES: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
};

const tlsVersion = z.enum(['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3', ''], {
  message: `unknown TLS version: use one of ${TLS_VERSIONS.join(', ')}`,
});

export const meshTlsDirectionSchema = z
  .object({
    TLSMinVersion: tlsVersion.nullish(),
    TLSMaxVersion: tlsVersion.nullish(),
    CipherSuites: z.array(z.string()).nullish(),
  })
  .superRefine((tls, ctx) => {
    const min = tls.TLSMinVersion || 'TLS_AUTO';
    const max = tls.TLSMaxVersion || 'TLS_AUTO';
    if (min !== 'TLS_AUTO' && max !== 'TLS_AUTO' && TLS_VERSIONS.indexOf(max) < TLS_VERSIONS.indexOf(min)) {
      ctx.addIssue({ code: 'custom', path: ['TLSMaxVersion'], message: `TLSMaxVersion ${max} is lower than TLSMinVersion ${min}` });
    }
    const ciphers = tls.CipherSuites ?? [];
    if (ciphers.length > 0 && min === 'TLSv1_3') {
      ctx.addIssue({
        code: 'custom',
        path: ['CipherSuites'],
        message: 'CipherSuites only apply to TLS 1.2 and earlier; remove them or lower TLSMinVersion (it is TLSv1_3)',
      });
    }
    for (const [i, c] of ciphers.entries()) {
      if (!Object.hasOwn(ENVOY_CIPHER_NAMES, c)) {
        ctx.addIssue({ code: 'custom', path: ['CipherSuites', i], message: `unknown cipher suite '${c}': use one of ${Object.keys(ENVOY_CIPHER_NAMES).join(', ')}` });
      }
    }
  });

export type MeshTlsDirectionEntry = z.infer<typeof meshTlsDirectionSchema>;

export const meshSchema = z.object({
  Kind: z.literal('mesh'),
  TLS: z
    .object({
      Incoming: z.unknown().optional(),
      Outgoing: z.unknown().optional(),
    })
    .nullish(),
});

/**
 * Envoy matches with RE2: reject what does not even compile as a JavaScript regex, and the
 * constructs RE2 lacks (lookaround, backreferences). Returns the problem, or null.
 */
function regexProblem(value: string): string | null {
  if (value === '') return 'a regex match needs a Value';
  try {
    new RegExp(value);
  } catch (err) {
    return `invalid regex '${value}': ${(err as Error).message}`;
  }
  if (/\(\?<?[=!]/.test(value)) return `regex '${value}' uses lookaround, which Envoy's RE2 does not support`;
  if (/\\[1-9]|\\k</.test(value)) return `regex '${value}' uses a backreference, which Envoy's RE2 does not support`;
  return null;
}
