import { describe, expect, it } from 'vitest';
import { consulName, duration, httpToken } from '../../../../src/model/policies/schema-parts.js';

const issue = (r: { success: boolean; error?: { issues: { message: string }[] } }) => (r.success ? null : r.error!.issues[0]!.message);

describe('policy schema parts', () => {
  it('durations: both JSON forms, each bound, and a message naming the field, the value and an example', () => {
    expect(issue(duration('Timeout', '2s').safeParse('0s'))).toBeNull();
    expect(issue(duration('Timeout', '2s').safeParse(1_500_000_000))).toBeNull(); // nanoseconds
    expect(issue(duration('Timeout', '2s').safeParse('-1s'))).toBe(`Timeout "-1s" is not a duration such as '2s'`);
    expect(issue(duration('Timeout', '2s', 'above zero').safeParse('0s'))).toBe(`Timeout "0s" is not a duration above zero such as '2s'`);
    expect(issue(duration('Timeout', '2s', 'above zero').safeParse('500us'))).toBeNull();
    expect(issue(duration('BaseInterval', '1s', 'at least 1ms').safeParse('500us'))).toBe(`BaseInterval "500us" is not a duration of at least 1ms such as '1s'`);
    expect(issue(duration('BaseInterval', '1s', 'at least 1ms').safeParse('1ms'))).toBeNull();
    expect(issue(duration('maxAge', '600s').safeParse('soon'))).toBe(`maxAge "soon" is not a duration such as '600s'`);
  });

  it('HTTP tokens and Consul names', () => {
    expect(issue(httpToken('bad header').safeParse('x-user-id'))).toBeNull();
    expect(issue(httpToken('bad header').safeParse('x user'))).toBe('bad header');
    expect(issue(consulName('bad name').safeParse('authz-v2.internal'))).toBeNull();
    for (const name of ['-authz', 'authz.', 'a/b', '']) expect(issue(consulName('bad name').safeParse(name)), name).toBe('bad name');
  });
});
