import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ForbiddenError, UnauthorizedError, ValidationError } from '../../functions/core/errors.js';
import { historyKey } from '../../functions/core/history.js';
import {
  createSessionSchema,
  describeIssues,
  parseReplyState,
  projectReplySchema,
  updateSessionSchema,
} from '../../functions/core/schemas.js';
import { parseFenixTime, toFenixTime } from '../../functions/core/time.js';
import { errorText } from '../../functions/core/transitions.js';
import { chooseNext } from '../../functions/core/workflow.js';
import { authorize } from '../../functions/shared/auth.js';
import { parseStrictJson } from '../../functions/shared/json.js';

describe('time', () => {
  it.each([
    ['2026-03-01 06:06:03', '2026-03-01T06:06:03.000Z'],
    ['2026-03-01T06:06:03Z', '2026-03-01T06:06:03.000Z'],
    ['2026-03-01T06:06:03.250Z', '2026-03-01T06:06:03.250Z'],
    ['2026-03-01T08:06:03+02:00', '2026-03-01T06:06:03.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(parseFenixTime(text)?.toISOString()).toBe(iso);
  });

  it.each(['2026-02-30 10:00:00', '2026-13-01 00:00:00', '2026-01-01 24:00:00', 'tomorrow', '2026-01-01', ''])(
    'refuses %j',
    (text) => {
      expect(parseFenixTime(text)).toBeUndefined();
    },
  );

  it('writes the Fenix form', () => {
    expect(toFenixTime(new Date('2026-03-01T06:06:03.999Z'))).toBe('2026-03-01 06:06:03');
  });
});

describe('schemas', () => {
  const base = { state: 'MAINTENANCE', maintenance_at: '2026-03-01 06:06:03' };

  it('fills the defaults of a minimal create body', () => {
    expect(createSessionSchema.parse(base)).toEqual({
      ...base,
      hosts: [],
      workflow: 'default',
      metadata: {},
      actions: [],
      policy: { on_no_reply: 'DEFAULT_ACTION', default_action: 'LIVE_MIGRATE', projects: {} },
      rollout: { max_parallel_hosts: 1, max_failed_hosts: 0 },
    });
  });

  it.each([
    [{ ...base, extra: 1 }, 'unknown field: extra'],
    [{ ...base, hosts: ['a', 'a'] }, 'hosts: hosts must not repeat a name'],
    [{ ...base, hosts: ['a b'] }, 'hosts.0:'],
    [{ ...base, metadata: { big: 'x'.repeat(9000) } }, 'metadata:'],
    [{ ...base, actions: [{ plugin: 'Bad Name', type: 'host' }] }, 'actions.0.plugin:'],
  ])('names the field of %j', (body, message) => {
    const result = createSessionSchema.safeParse(body);
    expect(result.success).toBe(false);
    if (!result.success) expect(describeIssues(result.error)).toContain(message);
  });

  it('splits reply states and refuses made-up ones', () => {
    expect(parseReplyState('NACK_PLANNED_MAINTENANCE')).toEqual({ verdict: 'NACK', state: 'PLANNED_MAINTENANCE' });
    expect(projectReplySchema.safeParse({ state: 'ACK_START_MAINTENANCE' }).success).toBe(false);
    expect(projectReplySchema.safeParse({ state: 'MAYBE_MAINTENANCE' }).success).toBe(false);
    expect(
      projectReplySchema.safeParse({ state: 'ACK_MAINTENANCE', instance_actions: { 'vm-1': 'TELEPORT' } }).success,
    ).toBe(false);
  });

  it('continues only from states a session can resume in', () => {
    expect(updateSessionSchema.safeParse({ state: 'PLANNED_MAINTENANCE' }).success).toBe(true);
    for (const state of ['MAINTENANCE_DONE', 'MAINTENANCE_FAILED', 'NOPE'])
      expect(updateSessionSchema.safeParse({ state }).success).toBe(false);
  });
});

describe('strict JSON', () => {
  it('parses ordinary JSON, keys inside strings included', () => {
    expect(parseStrictJson('{"a":{"b":1},"c":["{\\"a\\":1,\\"a\\":2}"],"d":{"b":2}}')).toEqual({
      a: { b: 1 },
      c: ['{"a":1,"a":2}'],
      d: { b: 2 },
    });
  });

  it.each([
    ['{"state":"ACK_X","state":"NACK_X"}', 'more than once'],
    ['{"a":{"b":1,"b":2}}', 'more than once'],
    ['{"a":[{"x":1},{"x":2,"x":3}]}', 'more than once'],
    [`${'['.repeat(40)}${']'.repeat(40)}`, 'nested deeper'],
    ['{"a":', 'not valid JSON'],
  ])('refuses %s', (text, message) => {
    expect(() => parseStrictJson(text)).toThrow(ValidationError);
    expect(() => parseStrictJson(text)).toThrow(message);
  });
});

describe('authorization', () => {
  const event = (claims?: Record<string, string>) =>
    ({
      requestContext: { authorizer: claims ? { jwt: { claims, scopes: [] } } : undefined },
    }) as unknown as APIGatewayProxyEventV2;

  it('lets admins everywhere', () => {
    expect(authorize(event({ sub: 'ops', scope: 'fenix/admin' }), 'admin', {})).toMatchObject({
      subject: 'ops',
      admin: true,
    });
  });

  it('lets a project act only for itself, by claim or by scope', () => {
    const byClaim = event({ sub: 'v', scope: 'fenix/project', 'fenix:project_id': 'p1' });
    expect(authorize(byClaim, 'project', { project_id: 'p1' }).project).toBe('p1');
    expect(() => authorize(byClaim, 'project', { project_id: 'p2' })).toThrow(ForbiddenError);
    expect(() => authorize(byClaim, 'admin', {})).toThrow(ForbiddenError);
    const byScope = event({ client_id: 'c', scope: 'fenix/project fenix/project.p2' });
    expect(authorize(byScope, 'project', { project_id: 'p2' })).toMatchObject({ subject: 'c', project: 'p2' });
  });

  it('refuses a request without verified claims', () => {
    expect(() => authorize(event(), 'project', { project_id: 'p1' })).toThrow(UnauthorizedError);
  });
});

describe('history keys', () => {
  it('sort by event_seq, with replies after the notifications of their round', () => {
    const keys = [
      historyKey(12, 'event'),
      historyKey(9, 'reply#b'),
      historyKey(9, 'event#b'),
      historyKey(100, 'event'),
      historyKey(9, 'event#a'),
    ];
    expect([...keys].sort()).toEqual([
      historyKey(9, 'event#a'),
      historyKey(9, 'event#b'),
      historyKey(9, 'reply#b'),
      historyKey(12, 'event'),
      historyKey(100, 'event'),
    ]);
  });
});

describe('choosing the next state after the projects agreed', () => {
  const decide = (
    hosts: {
      name: string;
      vcpus: number;
      used: number;
      inSession?: boolean;
      maintained?: boolean;
      disabled?: boolean;
    }[],
  ) =>
    chooseNext('s', {
      store: {
        listHosts: async () =>
          hosts
            .filter((h) => h.inSession !== false)
            .map((h) => ({ name: h.name, type: 'compute', disabled: false, maintained: h.maintained ?? false })),
      },
      cloud: {
        listHosts: async () =>
          hosts.map((h) => ({
            name: h.name,
            type: 'compute',
            vcpus: h.vcpus,
            used_vcpus: h.used,
            disabled: h.disabled ?? false,
            maintained: false,
          })),
      },
    } as never);

  it('starts at once when a compute is empty', async () => {
    expect(
      await decide([
        { name: 'a', vcpus: 4, used: 4 },
        { name: 'b', vcpus: 4, used: 0 },
      ]),
    ).toEqual({ next: 'START_MAINTENANCE' });
  });

  it('prepares when the other computes can hold the least loaded one', async () => {
    expect(
      await decide([
        { name: 'a', vcpus: 4, used: 2 },
        { name: 'b', vcpus: 4, used: 2 },
      ]),
    ).toEqual({ next: 'PREPARE_MAINTENANCE' });
  });

  it('asks projects to scale in when they cannot', async () => {
    expect(
      await decide([
        { name: 'a', vcpus: 4, used: 4 },
        { name: 'b', vcpus: 4, used: 2 },
      ]),
    ).toEqual({ next: 'SCALE_IN' });
  });

  it('counts room outside the session, but not on disabled hosts', async () => {
    expect(
      await decide([
        { name: 'a', vcpus: 4, used: 4 },
        { name: 'spare', vcpus: 8, used: 0, inSession: false },
      ]),
    ).toEqual({ next: 'PREPARE_MAINTENANCE' });
    expect(
      await decide([
        { name: 'a', vcpus: 4, used: 4 },
        { name: 'spare', vcpus: 8, used: 0, inSession: false, disabled: true },
      ]),
    ).toEqual({ next: 'SCALE_IN' });
  });
});

describe('errorText', () => {
  it('reads a Lambda error, a child execution failure, or plain text', () => {
    expect(
      errorText({
        Error: 'OpenStackError',
        Cause: JSON.stringify({ errorType: 'OpenStackError', errorMessage: 'compute GET /os-services: unreachable' }),
      }),
    ).toBe('OpenStackError: compute GET /os-services: unreachable');
    const child = {
      executionArn: 'arn:aws:states:us-east-1:1:execution:fenix-host:x',
      status: 'FAILED',
      error: 'OpenStackError',
      cause: JSON.stringify({ errorType: 'OpenStackError', errorMessage: 'connect ECONNREFUSED 127.0.0.1:8774' }),
    };
    expect(errorText({ Error: 'States.TaskFailed', Cause: JSON.stringify(child) })).toBe(
      'OpenStackError: connect ECONNREFUSED 127.0.0.1:8774',
    );
    expect(errorText({ Error: 'States.Timeout', Cause: 'task timed out' })).toBe('States.Timeout: task timed out');
    expect(errorText({})).toBe('error');
  });
});
