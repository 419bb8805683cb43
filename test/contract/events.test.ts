import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMaintenanceEvent } from '../../examples/vnfm/client.js';
import { EVENT_SCHEMAS } from '../../functions/core/events.js';
import { repoPath } from '../../infra/paths.js';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import { fenixTimeIn, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { ajv2020, problems } from './validators.js';

/**
 * Every event a real session emits validates against docs/events/<detail-type>.json. The sessions:
 * the OPNFV Doctor scenario (SCALE_IN, PREPARE, PLANNED with MIGRATE → INSTANCE_ACTION_DONE,
 * MAINTENANCE_COMPLETE) with pre, host-type and post plug-ins, and a session a project NACKs
 * (MAINTENANCE_FAILED). The typed VNFM client must accept every one of them too.
 */

const DETAIL_TYPES = ['maintenance.scheduled', 'maintenance.host', 'maintenance.session'] as const;
const schemas = Object.fromEntries(
  DETAIL_TYPES.map((type) => [type, JSON.parse(readFileSync(repoPath(`docs/events/${type}.json`), 'utf8'))]),
);

const ajv = ajv2020();
/** Errors of `event` against the schema of `type` (Ajv caches the compiled schema). */
const validate = (type: string, event: unknown) => problems(ajv.compile(schemas[type]), event);

let t: TestRuntime;
let done: string;
let failed: string;
const pluginCalls: string[] = [];

/** A Doctor-like VNFM: scales in one instance, lets Fenix MIGRATE the rest, restores on COMPLETE. */
const vnfm = (projectId: string, options: { nackIn?: string[] } = {}) => {
  const seen = new Set<string>();
  let removed: { name: string; vcpus: number } | undefined;
  t.runtime.bus.onEvent((event) => {
    const d = event.detail as Record<string, any>;
    if (
      event['detail-type'] !== 'maintenance.scheduled' ||
      d.project_id !== projectId ||
      d.state === 'INSTANCE_ACTION_DONE'
    )
      return;
    const key = `${d.session_id}/${d.event_seq}`;
    if (seen.has(key)) return;
    seen.add(key);
    void (async () => {
      const path = new URL(d.reply_url).pathname;
      if (options.nackIn?.includes(d.state)) {
        await t.api('PUT', path, { state: `NACK_${d.state}` });
        return;
      }
      let instance_actions: Record<string, string> | undefined;
      if (d.state === 'SCALE_IN' && !removed) {
        const victim = (await t.runtime.cloud.listInstances(projectId)).find((i) => i.name.startsWith('nonha'));
        if (victim) {
          await t.runtime.cloud.deleteInstance(victim.id);
          removed = { name: victim.name, vcpus: victim.vcpus };
        }
      }
      if (d.state === 'MAINTENANCE_COMPLETE' && removed) {
        await t.runtime.cloud.createInstance({ ...removed, project_id: projectId });
        removed = undefined;
      }
      if (d.state === 'PREPARE_MAINTENANCE' || d.state === 'PLANNED_MAINTENANCE') {
        const ids = (await t.api('GET', new URL(d.instance_ids).pathname)).body?.instance_ids as string[] | undefined;
        // No list (the session ended meanwhile, e.g. at teardown): a VNFM then has nothing to answer.
        if (!Array.isArray(ids)) return;
        instance_actions = Object.fromEntries(ids.map((id) => [id, 'MIGRATE']));
      }
      await t.api('PUT', path, { state: `ACK_${d.state}`, ...(instance_actions ? { instance_actions } : {}) });
    })().catch(() => undefined); // a reply cut off by teardown; what matters is asserted on the events
  });
};

beforeAll(async () => {
  const recorder = async (payload: unknown) => {
    const { plugin, host } = payload as { plugin: string; host: string | null };
    pluginCalls.push(`${plugin}@${host ?? '-'}`);
    return { state: 'DONE' };
  };
  t = await startTestRuntime({
    inventory: {
      hosts: [
        { name: 'compute-1', type: 'compute', vcpus: 4 },
        { name: 'compute-2', type: 'compute', vcpus: 4 },
        { name: 'compute-3', type: 'compute', vcpus: 4 },
        { name: 'ctl-1', type: 'controller' },
        { name: 'spare-1', type: 'compute', vcpus: 2 },
        { name: 'spare-2', type: 'compute', vcpus: 2 },
      ],
      instances: [
        { name: 'ha-0', project_id: 'vnf', host: 'compute-1', vcpus: 2 },
        { name: 'ha-1', project_id: 'vnf', host: 'compute-2', vcpus: 2 },
        { name: 'nonha-0', project_id: 'vnf', host: 'compute-1', vcpus: 2 },
        { name: 'nonha-1', project_id: 'vnf', host: 'compute-2', vcpus: 2 },
        { name: 'nonha-2', project_id: 'vnf', host: 'compute-3', vcpus: 2 },
        { name: 'nonha-3', project_id: 'vnf', host: 'compute-3', vcpus: 2 },
        { name: 'nacked', project_id: 'grumpy', host: 'spare-1', vcpus: 1 },
      ],
    },
    plugins: { prep: recorder, fin: recorder },
    env: { FENIX_PROJECT_MAINTENANCE_REPLY: '3', FENIX_PROJECT_SCALE_IN_REPLY: '3' },
  });
  vnfm('vnf');
  // The other session's migrations may land on spare-2 first (then grumpy's host is emptied in
  // PREPARE rather than PLANNED): grumpy refuses both, so this session fails whichever way it goes.
  vnfm('grumpy', { nackIn: ['PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE'] });
  const create = async (body: Record<string, unknown>) => {
    const response = await t.api('POST', '/v1/maintenance', {
      state: 'MAINTENANCE',
      maintenance_at: fenixTimeIn(8),
      ...body,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body.session_id as string;
  };
  done = await create({
    hosts: ['compute-1', 'compute-2', 'compute-3', 'ctl-1'],
    metadata: { openstack_version: 'Z', note: { nested: [1, 2] } },
    actions: [
      { plugin: 'prep', type: 'pre' },
      { plugin: 'dummy', type: 'compute', metadata: { upgrade: 'SW1' } },
      { plugin: 'fin', type: 'post' },
    ],
  });
  failed = await create({ hosts: ['spare-1', 'spare-2'] });
  await Promise.all([
    t.waitForState(done, 'MAINTENANCE_DONE', 60_000),
    t.waitForState(failed, 'MAINTENANCE_FAILED', 60_000),
  ]);
}, 90_000);

afterAll(async () => {
  await t?.stop();
});

const eventsOf = (id: string) => t.events.filter((e) => e.detail.session_id === id);
const label = (e: EventEnvelope) => `${e['detail-type']} ${String(e.detail.state)} seq ${String(e.detail.event_seq)}`;

describe('event schemas', () => {
  it('are well-formed JSON Schema 2020-12 documents, one per detail-type, generated from the zod contract', () => {
    for (const type of DETAIL_TYPES) {
      expect(ajv.validateSchema(schemas[type]), `${type}: ${ajv.errorsText(ajv.errors)}`).toBe(true);
      expect(() => ajv.compile(schemas[type]), type).not.toThrow(); // strict: no unknown keyword
      expect(schemas[type].$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schemas[type].properties['detail-type']).toEqual({ type: 'string', const: type });
      expect(Object.keys(EVENT_SCHEMAS)).toContain(type);
    }
  });

  it('the sessions ran as intended (plug-ins, migrations, a NACK)', () => {
    expect(pluginCalls[0]).toBe('prep@-');
    expect(pluginCalls.at(-1)).toBe('fin@-');
    const states = (id: string) => eventsOf(id).map((e) => `${e['detail-type']}:${String(e.detail.state)}`);
    for (const expected of [
      'SCALE_IN',
      'PREPARE_MAINTENANCE',
      'PLANNED_MAINTENANCE',
      'MAINTENANCE_COMPLETE',
      'INSTANCE_ACTION_DONE',
    ]) {
      expect(states(done)).toContain(`maintenance.scheduled:${expected}`);
    }
    expect(states(done)).toContain('maintenance.host:IN_MAINTENANCE');
    expect(states(done)).toContain('maintenance.host:MAINTENANCE_COMPLETE');
    expect(states(done)).toContain('maintenance.session:MAINTENANCE_DONE');
    expect(states(failed)).toContain('maintenance.session:MAINTENANCE_FAILED');
  });

  it('every emitted event validates against docs/events/<detail-type>.json', () => {
    expect(t.events.length).toBeGreaterThan(30);
    const errors: string[] = [];
    for (const event of t.events) {
      if (!schemas[event['detail-type']]) {
        errors.push(`${label(event)}: no schema for this detail-type`);
        continue;
      }
      errors.push(...validate(event['detail-type'], event).map((error) => `${label(event)}: ${error}`));
    }
    expect(errors).toEqual([]);
  });

  it('the schemas are strict: a changed detail is refused', () => {
    const scheduled = t.events.find(
      (e) => e['detail-type'] === 'maintenance.scheduled' && e.detail.state === 'PLANNED_MAINTENANCE',
    ) as EventEnvelope;
    expect(validate('maintenance.scheduled', scheduled)).toEqual([]);
    expect(
      validate('maintenance.scheduled', { ...scheduled, detail: { ...scheduled.detail, surprise: 1 } }),
    ).not.toEqual([]);
    expect(
      validate('maintenance.scheduled', {
        ...scheduled,
        detail: { ...scheduled.detail, reply_at: '2030-01-01T00:00:00Z' },
      }),
    ).not.toEqual([]);
    const done = t.events.find((e) => e.detail.state === 'INSTANCE_ACTION_DONE') as EventEnvelope;
    expect(
      validate('maintenance.scheduled', { ...done, detail: { ...done.detail, instance_ids: ['a', 'b'] } }),
    ).not.toEqual([]);
    const session = t.events.find((e) => e['detail-type'] === 'maintenance.session') as EventEnvelope;
    expect(
      validate('maintenance.session', { ...session, detail: { ...session.detail, percent_done: 101 } }),
    ).not.toEqual([]);
    expect(validate('maintenance.session', { ...session, source: 'other' })).not.toEqual([]);
  });

  it('agree with the zod contract and with the typed VNFM client', () => {
    for (const event of t.events) {
      const schema = EVENT_SCHEMAS[event['detail-type'] as keyof typeof EVENT_SCHEMAS];
      expect(schema.safeParse(event).success, label(event)).toBe(true);
      expect(() => parseMaintenanceEvent(event), label(event)).not.toThrow();
    }
  });
});
