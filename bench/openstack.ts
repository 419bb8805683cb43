/**
 * A session on the real Nova of `npm run openstack:up`: `npm run bench:openstack [-- --servers 8]`.
 * Boots the servers (alternately vnf-a and vnf-b, over the computes), runs one session over every
 * compute with the sample VNFMs (vnf-a LIVE_MIGRATE, vnf-b MIGRATE, Keystone identity) and prints:
 *   - wall time from create to MAINTENANCE_DONE;
 *   - how much of it was waiting on others: maintenance_at, the VNFMs' replies (round open → last
 *     reply) and Nova (each action from its start to the time Nova recorded it done, from
 *     os-migrations `updated_at`); the rest is the engine's share (Lambda steps, Wait states, polls);
 *   - per action, Nova done → INSTANCE_ACTION_DONE (how late the poll saw it), and per host, the
 *     last of its actions done in Nova → the host's IN_MAINTENANCE (the next step).
 * --poll sets FENIX_ACTION_POLL_SECONDS, the longest wait between polls (default 5, as in the product).
 */
import { parseArgs } from 'node:util';
import type { CloudAction, Round } from '../functions/core/model.js';
import { fenixTimeIn } from '../test/helpers/runtime.js';
import { startOnLocalCloud } from '../test/openstack/fixture.js';
import { median, round } from './lib/stats.js';

const { values: args } = parseArgs({
  options: { servers: { type: 'string', default: '8' }, poll: { type: 'string', default: '5' } },
});
const count = Number(args.servers);
// The handlers' logs (read when the runtime imports them) would drown the report.
process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
const LEAD_SECONDS = 8;

const os = await startOnLocalCloud(
  { FENIX_ACTION_POLL_SECONDS: String(args.poll), FENIX_PROJECT_MAINTENANCE_REPLY: '5' },
  { keystoneAuth: true },
);
try {
  const { cloud, fx, projects } = os;
  const computes = await cloud.computes();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const project = i % 2 === 0 ? projects.a : projects.b;
    // Leave the last compute lighter, so the session starts with PREPARE and then alternates PLANNED.
    const host = computes[i % (computes.length - 1)] as string;
    ids.push((await cloud.boot(project, host, `bench-${i + 1}`)).id);
  }
  const arrivals: { at: number; type: string; state: string; host?: string; instance?: string }[] = [];
  fx.runtime.bus.onEvent((event) =>
    arrivals.push({
      at: Date.now(),
      type: event['detail-type'],
      state: String(event.detail.state),
      ...(typeof event.detail.host === 'string' ? { host: event.detail.host } : {}),
      ...(Array.isArray(event.detail.instance_ids) ? { instance: String(event.detail.instance_ids[0]) } : {}),
    }),
  );

  const created = Date.now();
  const response = await os.api('POST', '/v1/maintenance', {
    state: 'MAINTENANCE',
    maintenance_at: fenixTimeIn(LEAD_SECONDS),
    hosts: [],
  });
  const id = response.body.session_id as string;
  const end = await os.endOf(id, 600_000);
  const done = Date.now();
  if (end.detail.state !== 'MAINTENANCE_DONE') throw new Error(`session ended ${end.detail.state}`);

  const session = await fx.runtime.store.getSession(id);
  const rounds: Round[] = [];
  for (let seq = 1; seq <= (session?.round_seq ?? 0); seq++) {
    const r = await fx.runtime.store.getRound(id, seq);
    if (r) rounds.push(r);
  }
  // Nova's own record of when each move ended (the latest migration of each server).
  const { body } = await cloud.admin.request<{
    migrations: { instance_uuid: string; status: string; updated_at: string; migration_type: string }[];
  }>('compute', 'GET', '/os-migrations?limit=1000', { microversion: 'compute 2.88' });
  const novaDone = new Map<string, number>();
  for (const m of body.migrations)
    if (ids.includes(m.instance_uuid) && ['completed', 'confirmed'].includes(m.status))
      novaDone.set(m.instance_uuid, Math.max(novaDone.get(m.instance_uuid) ?? 0, Date.parse(`${m.updated_at}Z`)));

  const intervals: [number, number][] = [[created, Date.parse(session?.maintenance_at ?? '')]];
  const actions: (CloudAction & { round: Round })[] = [];
  for (const r of rounds) {
    const members = await fx.runtime.store.listMembers(id, r.seq);
    const replies = members.map((m) => (m.replied_at ? Date.parse(m.replied_at) : 0)).filter(Boolean);
    if (replies.length > 0) intervals.push([Date.parse(r.opened_at), Math.max(...replies)]);
    for (const action of Object.values(r.actions ?? {})) {
      actions.push({ ...action, round: r });
      const ended = novaDone.get(action.instance_id);
      if (ended) intervals.push([Date.parse(action.started_at), ended]);
    }
  }
  const union = intervals
    .sort((a, b) => a[0] - b[0])
    .reduce<[number, number][]>((merged, [from, to]) => {
      const last = merged[merged.length - 1];
      if (last && from <= last[1]) last[1] = Math.max(last[1], to);
      else merged.push([from, to]);
      return merged;
    }, []);
  const waiting = union.reduce((sum, [from, to]) => sum + (to - from), 0);
  const total = done - created;

  const seen: number[] = [];
  for (const action of actions) {
    const ended = novaDone.get(action.instance_id);
    const told = arrivals.find((a) => a.state === 'INSTANCE_ACTION_DONE' && a.instance === action.instance_id);
    if (ended && told) seen.push(told.at - ended);
  }
  const nextStep: number[] = [];
  for (const r of rounds.filter((x) => x.host && x.actions)) {
    const ends = Object.values(r.actions ?? {}).map((a) => novaDone.get(a.instance_id) ?? 0);
    const start = arrivals.find(
      (a) => a.type === 'maintenance.host' && a.state === 'IN_MAINTENANCE' && a.host === r.host,
    );
    if (start && ends.length > 0) nextStep.push(start.at - Math.max(...ends));
  }
  const novaTime = actions
    .map((a) => (novaDone.get(a.instance_id) ?? 0) - Date.parse(a.started_at))
    .filter((ms) => ms > 0);
  const s = (ms: number) => `${round(ms / 1000, 1)} s`;
  console.log(`servers ${count} on ${computes.length} computes, ${actions.length} actions, poll ${args.poll} s`);
  console.log(`create → MAINTENANCE_DONE: ${s(total)} (maintenance_at was create + ${LEAD_SECONDS} s)`);
  console.log(
    `waiting on others (maintenance_at, VNFM replies, Nova): ${s(waiting)}; engine share ${s(total - waiting)} (${round(((total - waiting) / total) * 100, 0)} %)`,
  );
  console.log(`Nova per action, start → done: median ${s(median(novaTime))}, max ${s(Math.max(...novaTime))}`);
  console.log(
    `Nova done → INSTANCE_ACTION_DONE: median ${s(median(seen))}, max ${s(Math.max(...seen))} (n=${seen.length})`,
  );
  console.log(
    `last move of a host done in Nova → that host IN_MAINTENANCE: median ${s(median(nextStep))}, max ${s(Math.max(...nextStep))} (n=${nextStep.length})`,
  );
} finally {
  await os.stop();
}
