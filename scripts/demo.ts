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
 * Environment: PORT (API port, default a free one), DEMO_REPLY_SECONDS (reply windows, default 5),
 * DEMO_TIMEOUT_SECONDS (default 90), DEMO_KEEP_DATA=1 to keep the data dir.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deduper, parseMaintenanceEvent, type SimInstance } from '../examples/vnfm/client.js';
import { startVnfm, type Vnfm } from '../examples/vnfm/vnfm.js';
import { LocalKeys } from '../local/jwt.js';

process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

const REPLY_SECONDS = Number(process.env.DEMO_REPLY_SECONDS ?? 5);
const TIMEOUT_SECONDS = Number(process.env.DEMO_TIMEOUT_SECONDS ?? 90);
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

const { startRuntime, DEMO_INVENTORY } = await import('../local/runtime.js');
const runtime = await startRuntime({
  port,
  dataDir,
  inventoryFile: DEMO_INVENTORY,
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
    print(`host ${host} ${state}  [${hostsDone.size}/${hostCount} hosts maintained]`);
  }
});

let exitCode = 1;
const timer = setTimeout(() => settle?.('TIMEOUT'), TIMEOUT_SECONDS * 1000);
try {
  const maintenanceAt = new Date(Date.now() + START_IN_SECONDS * 1000);
  const response = await fetch(`${runtime.url}/v1/maintenance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await keys.issue({ admin: true })}` },
    body: JSON.stringify({
      state: 'MAINTENANCE',
      maintenance_at: fenixTime(maintenanceAt),
      hosts: [],
      metadata: { openstack_version: 'demo' },
      download: [{ url: firmwareUrl, sha256: createHash('sha256').update(firmware).digest('hex') }],
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

  const outcome = await ended;
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
  } else {
    const session = await runtime.store.getSession(sessionId);
    print(`timed out after ${TIMEOUT_SECONDS} s in state ${session?.state ?? 'unknown'}`);
  }
} catch (error) {
  print(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  clearTimeout(timer);
  for (const vnfm of vnfms.values()) await vnfm.stop();
  await runtime.stop();
  mirror.close();
  if (exitCode === 0 && process.env.DEMO_KEEP_DATA !== '1') rmSync(dataDir, { recursive: true, force: true });
  else print(`data kept in ${dataDir} (events in events.ndjson)`);
}
process.exit(exitCode);
