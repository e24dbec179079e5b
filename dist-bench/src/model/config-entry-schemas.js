// zod schemas of the Consul config entries the model reads (Consul 1.15 JSON, PascalCase).
// Consul returns unset fields as null, so optional fields accept null too.
import { z } from 'zod';
const HTTP_METHODS = ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'];
const stringMap = z.record(z.string(), z.string());
export const httpFiltersSchema = z.object({
    Headers: z
        .array(z.object({
        Add: stringMap.nullish(),
        Set: stringMap.nullish(),
        Remove: z.array(z.string().min(1)).nullish(),
    }))
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
        if (problem)
            ctx.addIssue({ code: 'custom', path: ['Value'], message: problem });
    }
    else if (value !== '' && !value.startsWith('/')) {
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
        if (problem)
            ctx.addIssue({ code: 'custom', path: ['Value'], message: problem });
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
        if (problem)
            ctx.addIssue({ code: 'custom', path: ['Value'], message: problem });
    }
});
export const httpRouteSchema = z.object({
    Kind: z.literal('http-route'),
    Name: z.string().min(1, 'the route needs a Name'),
    Parents: z
        .array(z.object({
        Kind: z.enum(['api-gateway', '']).nullish(),
        Name: z.string().min(1, 'a parent needs the Name of an api-gateway'),
        SectionName: z.string().nullish(),
    }))
        .nullish(),
    Hostnames: z.array(z.string().min(1)).nullish(),
    Rules: z
        .array(z.object({
        Filters: httpFiltersSchema.nullish(),
        Matches: z
            .array(z.object({
            Headers: z.array(headerMatchSchema).nullish(),
            Method: z
                .string()
                .nullish()
                .refine((m) => !m || HTTP_METHODS.includes(m), {
                message: `Method must be one of ${HTTP_METHODS.join(', ')}`,
            }),
            Path: pathMatchSchema.nullish(),
            Query: z.array(queryMatchSchema).nullish(),
        }))
            .nullish(),
        Services: z
            .array(z.object({
            Name: z.string().min(1, 'a backend service needs a Name'),
            Weight: z.number().int().min(0, 'Weight must not be negative').nullish(),
            Filters: httpFiltersSchema.nullish(),
        }))
            .min(1, 'a rule needs at least one service')
            .nullish(),
    }))
        .nullish(),
});
export const apiGatewaySchema = z
    .object({
    Kind: z.literal('api-gateway'),
    Name: z.string().min(1, 'the gateway needs a Name'),
    Listeners: z
        .array(z.object({
        Name: z.string().min(1, 'a listener needs a Name'),
        Port: z.number().int().min(1).max(65535),
        Protocol: z.enum(['http', 'tcp', '']).nullish(),
        Hostname: z.string().nullish(),
    }))
        .nullish(),
})
    .superRefine((gw, ctx) => {
    const names = new Set();
    const ports = new Set();
    for (const [i, l] of (gw.Listeners ?? []).entries()) {
        if (names.has(l.Name))
            ctx.addIssue({ code: 'custom', path: ['Listeners', i, 'Name'], message: `listener name '${l.Name}' is used twice` });
        if (ports.has(l.Port))
            ctx.addIssue({ code: 'custom', path: ['Listeners', i, 'Port'], message: `port ${l.Port} is used by two listeners` });
        names.add(l.Name);
        ports.add(l.Port);
    }
});
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
/**
 * Envoy matches with RE2: reject what does not even compile as a JavaScript regex, and the
 * constructs RE2 lacks (lookaround, backreferences). Returns the problem, or null.
 */
function regexProblem(value) {
    if (value === '')
        return 'a regex match needs a Value';
    try {
        new RegExp(value);
    }
    catch (err) {
        return `invalid regex '${value}': ${err.message}`;
    }
    if (/\(\?<?[=!]/.test(value))
        return `regex '${value}' uses lookaround, which Envoy's RE2 does not support`;
    if (/\\[1-9]/.test(value))
        return `regex '${value}' uses a backreference, which Envoy's RE2 does not support`;
    return null;
}
//# sourceMappingURL=config-entry-schemas.js.map