/**
 * `npm run demo`: a whole maintenance session on one machine, in about half a minute.
 *
 * Starts the local runtime in this process (fresh temp data dir, the demo inventory: 4 full computes,
 * projects vnf-a and vnf-b), two sample VNFMs (examples/vnfm/vnfm.ts) subscribed by webhook — vnf-a
 * lets Fenix MIGRATE its instances, vnf-b moves its own (OWN_ACTION) — then creates a session over
 * every host and prints each maintenance.session / maintenance.host event until the session ends.
 * The session also downloads a (generated) firmware image from a local mirror before anyone is
 * notified, as `download` does; the demo prints where it was stored and its sha256.
 * Exit 0 on MAINTENANCE_DONE; on MAINTENANCE_FAILED it prints the reason and exits 1.
 *
 * A parallel rollout (DESIGN §12): `npm run demo -- --parallel N [--host-seconds S] [--fail-host <name>]…`
 *   --parallel N       rollout.max_parallel_hosts N; the cloud gets N more computes, empty, so that
 *                      N full computes can be drained at once (the full demo cloud has room for none)
 *   --host-seconds S   the dummy plug-in runs on every compute and takes S seconds (default 3 with
 *                      --parallel or --fail-host, else no plug-in), so hosts spend real time in flight
 *   --fail-host NAME   the dummy plug-in answers FAILED on that host (metadata.fail_hosts), and
 *                      rollout.max_failed_hosts is the number of them, so the others go on; the
 *                      session then ends MAINTENANCE_FAILED naming them, and the demo exits 0 when
 *                      exactly those hosts failed
 * With a rollout, the hosts in flight, failed and held back are printed whenever they change.
 *
 * Environment: PORT (API port, default a free one), DEMO_REPLY_SECONDS (reply windows, default 5),
 * DEMO_TIMEOUT_SECONDS (default 90, plus the plug-in's seconds for every compute), DEMO_KEEP_DATA=1
 * to keep the data dir.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Detail, rolloutLines } from '../cli/render.js';
import { Deduper, parseMaintenanceEvent, type SimInstance } from '../examples/vnfm/client.js';
import { startVnfm, type Vnfm } from '../examples/vnfm/vnfm.js';
import { MAX_SECONDS } from '../functions/plugins/dummy.js';
import { LocalKeys } from '../local/jwt.js';

process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

const usage = (problem: string): never => {
  console.error(`demo: ${problem}\nusage: npm run demo [-- --parallel N] [--host-seconds S] [--fail-host <compute>]…`);
  process.exit(2);
};
const { values: flags } = (() => {
  try {
    return parseArgs({
      options: {
        parallel: { type: 'string' },
        'host-seconds': { type: 'string' },
        'fail-host': { type: 'string', multiple: true },
      },
    });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
})();
const PARALLEL = flags.parallel === undefined ? undefined : Number(flags.parallel);
if (PARALLEL !== undefined && !(Number.isInteger(PARALLEL) && PARALLEL >= 1))
  usage(`--parallel must be a whole number ≥ 1, got ${flags.parallel}`);
const FAIL_HOSTS = flags['fail-host'] ?? [];
/** A rollout is asked for: the session says so, and the hosts get a plug-in that takes time. */
const ROLLOUT = PARALLEL !== undefined || FAIL_HOSTS.length > 0;
const HOST_SECONDS = Number(flags['host-seconds'] ?? (ROLLOUT ? 3 : 0));
if (!(Number.isFinite(HOST_SECONDS) && HOST_SECONDS >= 0 && HOST_SECONDS <= MAX_SECONDS))
  usage(`--host-seconds must be a number from 0 to ${MAX_SECONDS}, got ${flags['host-seconds']}`);

/**
 * The demo cloud: OPNFV Doctor's full one, or for a rollout the same with `parallel` more computes,
 * empty, so that as many full computes fit elsewhere at once.
 */
type Inventory = { hosts: { name: string; type: string; vcpus?: number }[]; instances: unknown[] };
const DEMO_INVENTORY_FILE = fileURLToPath(new URL('../local/demo-inventory.json', import.meta.url));
const inventory = JSON.parse(readFileSync(DEMO_INVENTORY_FILE, 'utf8')) as Inventory;
const computes = inventory.hosts.filter((host) => host.type === 'compute');
const spare = PARALLEL ?? 0;
for (let i = 1; i <= spare; i++)
  inventory.hosts.push({ name: `compute-${computes.length + i}`, type: 'compute', vcpus: computes[0]?.vcpus ?? 4 });
const COMPUTES = inventory.hosts.filter((host) => host.type === 'compute').map((host) => host.name);
for (const host of FAIL_HOSTS)
  if (!COMPUTES.includes(host)) usage(`--fail-host ${host}: the demo cloud's computes are ${COMPUTES.join(', ')}`);

const REPLY_SECONDS = Number(process.env.DEMO_REPLY_SECONDS ?? 5);
const TIMEOUT_SECONDS = Number(process.env.DEMO_TIMEOUT_SECONDS ?? 90 + COMPUTES.length * HOST_SECONDS);
const START_IN_SECONDS = REPLY_SECONDS + 5;
const PROJECTS = ['vnf-a', 'vnf-b'] as const;

const started = Date.now();
const stamp = () => `+${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const print = (line: string) => console.log(`${stamp()} ${line}`);

const fenixTime = (date: Date) => date.toISOString().slice(0, 19).replace('T', ' ');

const layout = (instances: SimInstance[]) => {
  const byHost = new Map<string, string[]>();
  for (const instance of [...instances].sort((a, b) => a.name.localeCompare(b.name))) {
    byHost.set(instance.host, [...(byHost.get(instance.host) ?? []), instance.name]);
  }
  return [...byHost]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, names]) => `${host}: ${names.join(', ')}`)
    .join(' | ');
};

const dataDir = mkdtempSync(join(tmpdir(), 'fenix-demo-'));
const port = process.env.PORT ? Number(process.env.PORT) : 0;

// The VNFMs listen first, since the runtime reads their URLs (the subscriptions) at start-up; they
// learn the API's URL at their first event.
let fenixUrl = '';
// Tokens are minted with the runtime's keys, made here first (the runtime loads the same ones).
const keys = LocalKeys.load(dataDir);
/** The sample VNFMs by project. */
const vnfms = new Map<string, Vnfm>();
for (const [projectId, mode] of [
  ['vnf-a', 'migrate'],
  ['vnf-b', 'own_action'],
] as const) {
  const token = await keys.issue({ project: projectId });
  const vnfm = await startVnfm({ fenixUrl: () => fenixUrl, projectId, mode, token, log: (line) => print(`  ${line}`) });
  vnfms.set(projectId, vnfm);
}
const subscriptionsFile = join(dataDir, 'subscriptions.json');
writeFileSync(
  subscriptionsFile,
  JSON.stringify(
    [...vnfms].map(([projectId, { url }]) => ({
      pattern: { source: ['fenix'], 'detail-type': ['maintenance.scheduled'], detail: { project_id: [projectId] } },
      url,
    })),
    null,
    2,
  ),
);

// A firmware mirror on this machine. Downloads reach only https to public addresses unless the
// operator allows a host:port (FENIX_DOWNLOAD_ALLOW), as the runtime below does for this one.
const firmware = randomBytes(4 * 1024 * 1024);
const mirror = createServer((request, response) => {
  if (request.url === '/firmware-2.1.bin') response.writeHead(200).end(firmware);
  else response.writeHead(404).end();
});
await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
const mirrorHost = `127.0.0.1:${(mirror.address() as AddressInfo).port}`;
const firmwareUrl = `http://${mirrorHost}/firmware-2.1.bin`;

const inventoryFile = join(dataDir, 'inventory.json');
writeFileSync(inventoryFile, JSON.stringify(inventory, null, 2));

const { startRuntime } = await import('../local/runtime.js');
const runtime = await startRuntime({
  port,
  dataDir,
  inventoryFile,
  subscriptionsFile,
  env: {
    FENIX_PROJECT_MAINTENANCE_REPLY: String(REPLY_SECONDS),
    FENIX_PROJECT_SCALE_IN_REPLY: String(REPLY_SECONDS),
    FENIX_EMPTY_CHECK_SECONDS: '1',
    FENIX_DOWNLOAD_ALLOW: mirrorHost,
  },
  log: print,
});
fenixUrl = runtime.url;
print(`Fenix API on ${runtime.url}; data in ${dataDir}`);
print(`VNFMs: vnf-a (MIGRATE) on ${vnfms.get('vnf-a')?.url}, vnf-b (OWN_ACTION) on ${vnfms.get('vnf-b')?.url}`);

const instancesBefore = await runtime.cloud.listInstances();
print(`instances: ${layout(instancesBefore)}`);

// Progress: every session and host event, once each (the bus may repeat an event).
const deduper = new Deduper();
const hostCount = (await runtime.cloud.listHosts()).length;
const hostsDone = new Set<string>();
const hostsFailed = new Set<string>();
let sessionId: string | undefined;
const terminal = new Map<string, string>();
let settle: ((state: string) => void) | undefined;
const ended = new Promise<string>((resolve) => (settle = resolve));

runtime.bus.onEvent((raw) => {
  let event: ReturnType<typeof parseMaintenanceEvent>;
  try {
    event = parseMaintenanceEvent(raw);
  } catch (error) {
    print(
      `!! event off the contract: ${error instanceof Error ? error.message : String(error)}: ${JSON.stringify(raw)}`,
    );
    return;
  }
  if (event['detail-type'] === 'maintenance.scheduled' || !deduper.firstTime(event)) return;
  if (event['detail-type'] === 'maintenance.session') {
    const { state, previous_state: previous, percent_done: percent, session_id: id } = event.detail;
    print(`session ${previous ?? '(new)'} → ${state}  [${percent}% done]`);
    if (state === 'MAINTENANCE_DONE' || state === 'MAINTENANCE_FAILED') {
      terminal.set(id, state);
      if (id === sessionId) settle?.(state);
    }
  } else {
    const { host, state } = event.detail;
    if (state === 'MAINTENANCE_COMPLETE') hostsDone.add(host);
    if ((state as string) === 'MAINTENANCE_FAILED') hostsFailed.add(host);
    print(
      `host ${host} ${state}  [${hostsDone.size}/${hostCount} hosts maintained${hostsFailed.size ? `, ${hostsFailed.size} failed` : ''}]`,
    );
  }
});

/**
 * The rollout as the detail shows it (hosts in flight, failed, held back and why), printed when it
 * changes: the events tell when a host starts its plug-ins and ends, not when it starts draining or
 * why it waits.
 */
const followRollout = (id: string, admin: string) => {
  let last = '';
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      try {
        const response = await fetch(`${runtime.url}/v1/maintenance/${id}/detail?history_limit=1&instances_limit=1`, {
          headers: { authorization: `Bearer ${admin}` },
        });
        if (response.ok) {
          const lines = rolloutLines((await response.json()) as Detail, { now: Date.now(), live: false });
          const text = lines.join('\n');
          if (text !== last && lines.length) for (const line of lines) print(`  ${line}`);
          last = text;
        }
      } catch {
        // The runtime is stopping: the session's end is told by its event.
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  void poll();
  return () => {
    stopped = true;
  };
};

let exitCode = 1;
let stopFollowing: () => void = () => undefined;
const timer = setTimeout(() => settle?.('TIMEOUT'), TIMEOUT_SECONDS * 1000);
try {
  const maintenanceAt = new Date(Date.now() + START_IN_SECONDS * 1000);
  const admin = await keys.issue({ admin: true });
  const rollout = ROLLOUT ? { max_parallel_hosts: PARALLEL ?? 1, max_failed_hosts: FAIL_HOSTS.length } : undefined;
  const pluginMetadata = {
    ...(HOST_SECONDS > 0 ? { seconds: HOST_SECONDS } : {}),
    ...(FAIL_HOSTS.length ? { fail_hosts: FAIL_HOSTS } : {}),
  };
  if (rollout)
    print(
      `rollout: max_parallel_hosts ${rollout.max_parallel_hosts}, max_failed_hosts ${rollout.max_failed_hosts}${spare ? ` (${spare} empty compute${spare > 1 ? 's' : ''} added to the demo cloud for room)` : ''}`,
    );
  if (Object.keys(pluginMetadata).length)
    print(
      `dummy plug-in on every compute: ${HOST_SECONDS} s each${FAIL_HOSTS.length ? `, FAILED on ${FAIL_HOSTS.join(', ')}` : ''}`,
    );
  const response = await fetch(`${runtime.url}/v1/maintenance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({
      state: 'MAINTENANCE',
      maintenance_at: fenixTime(maintenanceAt),
      hosts: [],
      metadata: { openstack_version: 'demo' },
      download: [{ url: firmwareUrl, sha256: createHash('sha256').update(firmware).digest('hex') }],
      ...(Object.keys(pluginMetadata).length
        ? { actions: [{ plugin: 'dummy', type: 'compute', metadata: pluginMetadata }] }
        : {}),
      ...(rollout ? { rollout } : {}),
    }),
  });
  const body = (await response.json()) as { session_id?: string; message?: string };
  if (!response.ok || !body.session_id)
    throw new Error(`POST /v1/maintenance → ${response.status}: ${body.message ?? JSON.stringify(body)}`);
  sessionId = body.session_id;
  print(
    `created session ${sessionId} over all hosts, maintenance_at ${fenixTime(maintenanceAt)} (in ${START_IN_SECONDS} s)`,
  );
  const already = terminal.get(sessionId);
  if (already) settle?.(already);
  if (rollout) stopFollowing = followRollout(sessionId, admin);

  const outcome = await ended;
  stopFollowing();
  for (const download of (await runtime.store.getSession(sessionId))?.downloads ?? []) {
    print(
      download.status === 'DONE'
        ? `downloaded before the first notification: ${download.url} (${download.size} bytes, sha256 ${download.sha256?.slice(0, 16)}…) → ${download.location}`
        : `download FAILED: ${download.error}`,
    );
  }
  for (const vnfm of vnfms.values()) await vnfm.settled();
  const instancesAfter = await runtime.cloud.listInstances();
  print(`instances: ${layout(instancesAfter)}`);
  const counts = (list: SimInstance[], project: string) => list.filter((i) => i.project_id === project).length;
  print(
    `instances per project (before → after): ${PROJECTS.map((p) => `${p} ${counts(instancesBefore, p)} → ${counts(instancesAfter, p)}`).join(', ')}`,
  );
  if (outcome === 'MAINTENANCE_DONE') {
    print('MAINTENANCE_DONE');
    exitCode = 0;
  } else if (outcome === 'MAINTENANCE_FAILED') {
    const session = await runtime.store.getSession(sessionId);
    print(`MAINTENANCE_FAILED: ${session?.failure?.reason ?? '(no reason recorded)'}`);
    if (session?.failure?.details) print(`failure details: ${JSON.stringify(session.failure.details)}`);
    if (FAIL_HOSTS.length) {
      const hosts = await runtime.store.listHosts(sessionId);
      const failed = hosts.filter((host) => host.phase === 'FAILED').map((host) => host.name);
      const maintained = hosts.filter((host) => host.maintained).length;
      if ([...failed].sort().join() === [...FAIL_HOSTS].sort().join()) {
        print(
          `as asked: ${failed.join(', ')} failed, the other ${maintained} hosts were maintained (continue the session to retry the failed ones)`,
        );
        exitCode = 0;
      } else print(`failed hosts: ${failed.join(', ') || 'none'}, but --fail-host asked for ${FAIL_HOSTS.join(', ')}`);
    }
  } else {
    const session = await runtime.store.getSession(sessionId);
    print(`timed out after ${TIMEOUT_SECONDS} s in state ${session?.state ?? 'unknown'}`);
  }
} catch (error) {
  print(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  stopFollowing();
  clearTimeout(timer);
  for (const vnfm of vnfms.values()) await vnfm.stop();
  await runtime.stop();
  mirror.close();
  if (exitCode === 0 && process.env.DEMO_KEEP_DATA !== '1') rmSync(dataDir, { recursive: true, force: true });
  else print(`data kept in ${dataDir} (events in events.ndjson)`);
}
process.exit(exitCode);
