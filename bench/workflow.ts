/**
 * One workflow benchmark run, in its own process (so memory peaks belong to one size):
 *   tsx bench/workflow.ts --name medium --hosts 100 --instances 2000 --projects 20 --out file.json [--cap 1200]
 * Starts the local runtime in-process with a generated inventory, creates a session over every
 * host, lets auto-replying in-process VNFMs answer each round at once (MIGRATE everything), and
 * records timings, memory, Step Functions counts and billable requests. Progress goes to stderr;
 * the result (also a partial one, when the time cap is hit) goes to --out.
 * --interacting all (default): every project is subscribed (a catch-all subscription to a sink), so
 * the session waits for the VNFMs' replies; none: no subscription, so no project is waited for and
 * the engine gives every instance the default action (LIVE_MIGRATE).
 * --fleet '<json>' (bench/lib/inventory.ts `Fleet`): the parallel rollout scenario instead — the fleet
 * inventory, no project waited for, instance actions taking `simActionSeconds`, the dummy plug-in
 * `pluginSeconds` on every compute, `rollout.max_parallel_hosts` = `maxParallel`; the result then
 * has a `fleet` part: the wall time against the capacity bound and the hosts in flight at most.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { EventEnvelope } from '../local/eventbridge-shim.js';
import { attribute, instrument } from './lib/instrument.js';
import { type Fleet, generateFleetInventory, generateInventory, type Size } from './lib/inventory.js';
import { countBy, mb, peakRss, round, summarize } from './lib/stats.js';
import { AutoVnfms } from './lib/vnfms.js';

const { values: args } = parseArgs({
  options: {
    name: { type: 'string', default: 'run' },
    hosts: { type: 'string', default: '10' },
    instances: { type: 'string', default: '100' },
    projects: { type: 'string', default: '5' },
    out: { type: 'string' },
    cap: { type: 'string', default: '1200' },
    'reply-window': { type: 'string', default: '10' },
    'history-events': { type: 'string' },
    'trace-callers': { type: 'boolean', default: false },
    'heap-snapshot': { type: 'string' },
    action: { type: 'string', default: 'MIGRATE' },
    'own-action-delay': { type: 'string', default: '0' },
    'empty-check-seconds': { type: 'string', default: '0' },
    'host-plugins': { type: 'string', default: '0' },
    interacting: { type: 'string', default: 'all' },
    fleet: { type: 'string' },
  },
});
const fleet = args.fleet ? (JSON.parse(args.fleet) as Fleet) : undefined;
// A fleet waits for no project: the default action applies to every instance.
const interacting = fleet ? 'none' : args.interacting;
if (interacting !== 'all' && interacting !== 'none')
  throw new Error(`--interacting must be all or none, got "${args.interacting}"`);
const size: Size = {
  name: args.name,
  hosts: Number(args.hosts),
  instances: Number(args.instances),
  projects: Number(args.projects),
  ...(fleet ? { fleet } : {}),
};
const capMs = Number(args.cap) * 1000;
const replyWindow = Number(args['reply-window']);
const progress = (line: string) => process.stderr.write(`[${size.name}] ${line}\n`);

const dataDir = mkdtempSync(join(tmpdir(), `fenix-bench-${size.name}-`));
const inventoryFile = join(dataDir, 'inventory.json');
writeFileSync(
  inventoryFile,
  JSON.stringify(fleet ? generateFleetInventory({ ...size, fleet }) : generateInventory(size)),
);
// The VNFMs answer in-process; a subscription is what makes the session wait for them.
const sink = createServer((request, response) => request.resume().on('end', () => response.writeHead(204).end()));
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const subscriptionsFile = join(dataDir, 'subscriptions.json');
writeFileSync(
  subscriptionsFile,
  JSON.stringify(
    interacting === 'all'
      ? [
          {
            pattern: { source: ['fenix'], 'detail-type': ['maintenance.scheduled'] },
            url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`,
          },
        ]
      : [],
  ),
);

// Memory: sampled often enough to catch the peaks of the big batch writes.
const memory = { peakHeapUsed: 0, peakRss: 0, peakExternal: 0, baselineRss: 0, baselineHeapUsed: 0 };
const sampleMemory = () => {
  const usage = process.memoryUsage();
  memory.peakHeapUsed = Math.max(memory.peakHeapUsed, usage.heapUsed);
  memory.peakRss = Math.max(memory.peakRss, usage.rss);
  memory.peakExternal = Math.max(memory.peakExternal, usage.external);
};
const sampler = setInterval(sampleMemory, 100);

const t = () => performance.now();
const startedAt = t();
const { startRuntime } = await import('../local/runtime.js');
const runtime = await startRuntime({
  port: 0,
  dataDir,
  inventoryFile,
  subscriptionsFile,
  env: {
    FENIX_PROJECT_MAINTENANCE_REPLY: String(replyWindow),
    FENIX_PROJECT_SCALE_IN_REPLY: String(replyWindow),
    FENIX_EMPTY_CHECK_SECONDS: args['empty-check-seconds'],
    ...(args['history-events'] ? { FENIX_HISTORY_EVENTS: args['history-events'] } : {}),
    // Instance actions that take time, polled as soon as the engine polls at all (after 1 s).
    ...(fleet ? { FENIX_SIM_ACTION_SECONDS: String(fleet.simActionSeconds), FENIX_ACTION_POLL_SECONDS: '1' } : {}),
  },
  log: (line) => progress(line),
});
const runtimeStartMs = t() - startedAt;
progress(
  `runtime up with ${size.hosts} hosts, ${size.instances} instances, ${size.projects} projects in ${(runtimeStartMs / 1000).toFixed(1)} s`,
);
const tools = await instrument(runtime, { traceCallers: args['trace-callers'] });
global.gc?.();
sampleMemory();
memory.baselineRss = process.memoryUsage().rss;
memory.baselineHeapUsed = process.memoryUsage().heapUsed;

// ------------------------------------------------------------------ the session
const admin = await runtime.token({ admin: true });
// maintenance_at: just after the reply window, plus the time the MAINTENANCE step needs to take its
// snapshot (it grows with the inventory; too short and the session fails its own window check).
const margin = Math.max(2, Math.ceil(size.instances / 1000) + Math.ceil(size.hosts / 100));
const maintenanceAtMs = (Math.ceil(Date.now() / 1000) + replyWindow + margin) * 1000;
const maintenanceAt = new Date(maintenanceAtMs).toISOString().slice(0, 19).replace('T', ' ');
// Both clocks: events are timestamped with performance.now(); maintenance_at is wall-clock.
const perfAt = (epochMs: number) => epochMs - performance.timeOrigin;

const sessionEvents: { at: number; type: string; state: string; host?: string }[] = [];
let sessionId = '';
let vnfms: AutoVnfms | undefined;
const early: [EventEnvelope, number][] = [];
let finished: (outcome: string) => void = () => undefined;
const outcome = new Promise<string>((resolve) => (finished = resolve));
let hostsDone = 0;
/** Hosts between their IN_MAINTENANCE and their MAINTENANCE_COMPLETE / MAINTENANCE_FAILED events. */
const inMaintenance = new Set<string>();
const hostEventsSeen = new Set<string>();
let peakInMaintenance = 0;
let hostsFailed = 0;
runtime.bus.onEvent((event) => {
  const at = t();
  if (!sessionId) {
    early.push([event, at]);
    return;
  }
  record(event, at);
});
const record = (event: EventEnvelope, at: number) => {
  const detail = event.detail as Record<string, unknown>;
  if (detail.session_id !== sessionId) return;
  sessionEvents.push({
    at,
    type: event['detail-type'],
    state: String(detail.state),
    ...(detail.host ? { host: String(detail.host) } : {}),
  });
  // A retried step repeats its event: each host's states count once.
  if (event['detail-type'] === 'maintenance.host' && !hostEventsSeen.has(`${detail.host}|${detail.state}`)) {
    hostEventsSeen.add(`${detail.host}|${detail.state}`);
    const host = String(detail.host);
    if (detail.state === 'IN_MAINTENANCE') inMaintenance.add(host);
    else inMaintenance.delete(host);
    if (detail.state === 'MAINTENANCE_COMPLETE') hostsDone++;
    if (detail.state === 'MAINTENANCE_FAILED') hostsFailed++;
    peakInMaintenance = Math.max(peakInMaintenance, inMaintenance.size);
  }
  vnfms?.onEvent(event, at);
  if (
    event['detail-type'] === 'maintenance.session' &&
    (detail.state === 'MAINTENANCE_DONE' || detail.state === 'MAINTENANCE_FAILED')
  ) {
    finished(String(detail.state));
  }
};

const createStarted = t();
const created = await fetch(`${runtime.url}/v1/maintenance`, {
  method: 'POST',
  headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
  body: JSON.stringify({
    state: 'MAINTENANCE',
    maintenance_at: maintenanceAt,
    hosts: [],
    // Optional: the built-in dummy plug-in on every host, N times (to see what plug-ins cost in transitions);
    // in a fleet, once on every compute, taking its seconds.
    ...(Number(args['host-plugins']) > 0 || fleet
      ? {
          actions: [
            ...Array.from({ length: Number(args['host-plugins']) }, () => ({ plugin: 'dummy', type: 'host' })),
            ...(fleet ? [{ plugin: 'dummy', type: 'compute', metadata: { seconds: fleet.pluginSeconds } }] : []),
          ],
        }
      : {}),
    ...(fleet ? { rollout: { max_parallel_hosts: fleet.maxParallel, max_failed_hosts: 0 } } : {}),
  }),
});
const createMs = t() - createStarted;
const createdBody = (await created.json()) as { session_id?: string; message?: string };
if (created.status !== 200 || !createdBody.session_id) {
  // One line for the parent's log (it records the run as crashed, with these last lines).
  progress(`create session refused: ${created.status} ${JSON.stringify(createdBody)}`);
  await runtime.stop();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
}
sessionId = createdBody.session_id;
vnfms = new AutoVnfms(runtime, sessionId, (message) => progress(`VNFM error: ${message}`), {
  action: args.action as 'MIGRATE' | 'OWN_ACTION',
  ownActionDelayMs: Number(args['own-action-delay']) * 1000,
  reply: interacting === 'all',
});
for (const [event, at] of early.splice(0)) record(event, at);
progress(
  `session ${sessionId} created in ${createMs.toFixed(0)} ms; maintenance_at ${maintenanceAt} (in ${((maintenanceAtMs - Date.now()) / 1000).toFixed(1)} s)`,
);

/**
 * The hosts in flight as the session's own records say (DRAINING or IN_MAINTENANCE), sampled each
 * second: the events show only the IN_MAINTENANCE part of a host's time in flight.
 */
let peakInFlightSampled = 0;
const inFlightSampler = fleet
  ? setInterval(() => {
      void attribute('bench', () => runtime.store.listHosts(sessionId)).then(
        (hosts) => {
          const inFlight = hosts.filter((h) => h.phase === 'DRAINING' || h.phase === 'IN_MAINTENANCE').length;
          peakInFlightSampled = Math.max(peakInFlightSampled, inFlight);
        },
        () => undefined,
      );
    }, 1000)
  : undefined;

const ticker = setInterval(() => {
  const sinceStart = (Date.now() - maintenanceAtMs) / 1000;
  const phase =
    sinceStart < 0
      ? `${(-sinceStart).toFixed(1)} s before maintenance_at`
      : `${sinceStart.toFixed(1)} s since maintenance_at`;
  const last = sessionEvents.filter((e) => e.type === 'maintenance.session').at(-1)?.state ?? '-';
  progress(
    `${hostsDone}/${size.hosts} hosts maintained${fleet ? `, ${inMaintenance.size} in maintenance (peak ${peakInMaintenance})` : ''}, state ${last}, ${phase}, rss ${mb(process.memoryUsage().rss)} MB`,
  );
  // If this process dies (out of memory …), the parent still knows how far it got.
  if (args.out) {
    const snapshot = {
      hostsMaintained: hostsDone,
      state: last,
      secondsSinceMaintenanceAt: round(sinceStart, 1),
      rssMb: mb(process.memoryUsage().rss),
      heapUsedMb: mb(process.memoryUsage().heapUsed),
    };
    writeFileSync(`${args.out}.progress`, JSON.stringify(snapshot));
  }
}, 5000);

const capped = new Promise<string>((resolve) =>
  setTimeout(() => resolve('CAPPED'), Math.max(0, maintenanceAtMs - Date.now()) + capMs).unref(),
);
const result = await Promise.race([outcome, capped]);
const endedAt = t();
clearInterval(ticker);
clearInterval(inFlightSampler);
clearInterval(sampler);
sampleMemory();
// What stays after a full GC (with --expose-gc): retained memory, as opposed to garbage not yet collected.
global.gc?.();
const heapAfterGc = process.memoryUsage().heapUsed;
if (args['heap-snapshot']) (await import('node:v8')).writeHeapSnapshot(args['heap-snapshot']);

// ------------------------------------------------------------------ results
const sessionState = async () => attribute('bench', () => runtime.store.getSession(sessionId));
const session = await sessionState();
const startPerf = perfAt(maintenanceAtMs);
const doneEvent = sessionEvents.find((e) => e.type === 'maintenance.session' && e.state === 'MAINTENANCE_DONE');
const wallMs = (doneEvent?.at ?? endedAt) - startPerf;
const firstAfterStart = sessionEvents.find((e) => e.at >= startPerf);
const hostCompletions = sessionEvents
  .filter((e) => e.type === 'maintenance.host' && e.state === 'MAINTENANCE_COMPLETE')
  .map((e) => e.at);
// Each completion minus the one before it.
const hostIntervals = hostCompletions.slice(1).map((at, i) => at - (hostCompletions[i] ?? at));
const tenth = Math.max(1, Math.floor(hostIntervals.length / 10));

const rounds = vnfms.rounds;
const reactions = rounds
  .filter((r) => r.state !== 'MAINTENANCE' && r.completingReplyAt !== undefined && r.nextEventAt !== undefined)
  .map((r) => (r.nextEventAt as number) - (r.completingReplyAt as number));
const maintenanceRound = rounds.find((r) => r.state === 'MAINTENANCE');

const executions = runtime.sfn.list().filter((e) => e.name.startsWith(sessionId));
const sessionExecutions = executions.filter((e) => e.arn.includes(':fenix-session:'));
const hostExecutions = executions.filter((e) => e.arn.includes(':fenix-host:'));
const transitions = executions.reduce((sum, e) => sum + e.transitions, 0);
const largest = [...executions].sort((a, b) => b.historyEvents - a.historyEvents)[0];

const actions = Object.fromEntries(
  [...tools.actions].map(([action, stats]) => {
    const n = stats.durations.length;
    const db = tools.dynamoByAction[action];
    const slice = Math.max(1, Math.floor(n / 10));
    return [
      action,
      {
        calls: stats.calls,
        errors: stats.errors,
        totalMs: round(stats.totalMs),
        meanMs: round(stats.totalMs / Math.max(1, stats.calls), 2),
        firstTenthMeanMs: round(summarize(stats.durations.slice(0, slice)).mean, 2),
        lastTenthMeanMs: round(summarize(stats.durations.slice(-slice)).mean, 2),
        maxMs: round(summarize(stats.durations).max, 1),
        dynamoRequestsPerCall: db ? round(db.requests / Math.max(1, stats.calls), 1) : 0,
        dynamoUnitsPerCall: db ? round(db.units / Math.max(1, stats.calls), 1) : 0,
      },
    ];
  }),
);
const workflowInvocations = [...tools.actions.values()].reduce((sum, s) => sum + s.calls, 0);
const workflowMs = [...tools.actions.values()].reduce((sum, s) => sum + s.totalMs, 0);

const get = summarize(vnfms.latencies.GET);
const put = summarize(vnfms.latencies.PUT);
const reaction = summarize(reactions);
const output = {
  size,
  outcome: result,
  failure: session?.failure ?? null,
  finalState: session?.state ?? null,
  hostsMaintained: hostsDone,
  runtimeStartMs: round(runtimeStartMs),
  createSessionMs: round(createMs),
  maintenanceAt: new Date(maintenanceAtMs).toISOString(),
  replyWindowSeconds: replyWindow,
  /** maintenance_at → MAINTENANCE_DONE (or → the cap). */
  wallMs: round(wallMs),
  overheadPerHostMs: round(wallMs / Math.max(1, result === 'MAINTENANCE_DONE' ? size.hosts : hostsDone), 2),
  /** The MAINTENANCE round must be settled before maintenance_at, or the wall time starts late. */
  maintenanceRoundSettledBeforeStartMs: maintenanceRound?.completingReplyAt
    ? round(startPerf - maintenanceRound.completingReplyAt)
    : null,
  startLatencyMs: firstAfterStart ? round(firstAfterStart.at - startPerf) : null,
  hostCycleMs: {
    ...mapSummary(summarize(hostIntervals)),
    firstTenthMean: round(summarize(hostIntervals.slice(0, tenth)).mean, 1),
    lastTenthMean: round(summarize(hostIntervals.slice(-tenth)).mean, 1),
  },
  reactionMs: mapSummary(reaction),
  /** Round notification → the completing reply sent: the VNFMs' GETs and PUTs through the API. */
  replyPhaseMs: mapSummary(
    summarize(
      rounds
        .filter((r) => r.state !== 'MAINTENANCE' && r.completingReplyAt !== undefined)
        .map((r) => (r.completingReplyAt as number) - r.firstEventAt),
    ),
  ),
  roundsByState: countBy(rounds, (r) => r.state),
  reactionNextEvents: [...new Set(rounds.map((r) => r.nextEvent).filter(Boolean))],
  memory: {
    baselineRssMb: mb(memory.baselineRss),
    peakRssMb: mb(Math.max(memory.peakRss, await peakRss())),
    peakHeapUsedMb: mb(memory.peakHeapUsed),
    baselineHeapUsedMb: mb(memory.baselineHeapUsed),
    heapUsedAfterGcMb: global.gc ? mb(heapAfterGc) : null,
    peakExternalMb: mb(memory.peakExternal),
  },
  stepFunctions: {
    executions: executions.length,
    sessionExecutions: sessionExecutions.length,
    hostExecutions: hostExecutions.length,
    transitions,
    transitionsPerHost: round(transitions / Math.max(1, hostsDone), 2),
    sessionTransitions: sessionExecutions.reduce((sum, e) => sum + e.transitions, 0),
    hostTransitions: hostExecutions.reduce((sum, e) => sum + e.transitions, 0),
    largestHistory: largest ? { name: largest.name, events: largest.historyEvents } : null,
    sessionExecutionHistories: sessionExecutions.map((e) => e.historyEvents),
    historyEventsTotal: executions.reduce((sum, e) => sum + e.historyEvents, 0),
    statuses: countBy(executions, (e) => e.status),
  },
  lambda: {
    workflowInvocations,
    workflowTotalMs: round(workflowMs),
    workflowMeanMs: round(workflowMs / Math.max(1, workflowInvocations), 2),
    actions,
  },
  api: {
    requests: vnfms.latencies.GET.length + vnfms.latencies.PUT.length + 1,
    statusCounts: vnfms.statusCounts,
    getMs: mapSummary(get),
    putMs: mapSummary(put),
    meanMs: round((get.mean * get.count + put.mean * put.count) / Math.max(1, get.count + put.count), 2),
  },
  dynamodb: {
    workflow: pickDynamo('workflow'),
    api: pickDynamo('api'),
    bench: pickDynamo('bench'),
  },
  eventBridge: tools.events,
  /** Largest DynamoDB item written, Lambda payload/result (= Task input/output), event: bounds to keep under 256 KB / 400 KB. */
  largestBytes: { ...tools.largest, apiResponse: vnfms.largestResponseBytes, apiRequest: vnfms.largestRequestBytes },
  /** With --trace-callers: DynamoDB requests by workflow action and calling product functions. */
  dynamoByCaller: Object.fromEntries(
    Object.entries(tools.dynamoByCaller)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 60),
  ),
  dynamoApiRequestsPerCall: round(
    (tools.dynamoByAction.api?.requests ?? 0) /
      Math.max(1, vnfms.latencies.GET.length + vnfms.latencies.PUT.length + 1),
    1,
  ),
  instanceActionDone: vnfms.instanceActionDone,
  vnfmFailures: vnfms.failures.slice(0, 20),
  ...(fleet ? { fleet: await fleetResult(fleet) } : {}),
};

/**
 * The rollout against its capacity bound: `maxParallel` hosts at a time, each taking at least its
 * plug-in's seconds plus one instance action, is ceil(hosts / maxParallel) waves of that.
 */
async function fleetResult(spec: Fleet) {
  const hostSeconds = spec.pluginSeconds + spec.simActionSeconds;
  const waves = Math.ceil(size.hosts / spec.maxParallel);
  const boundMs = waves * hostSeconds * 1000;
  const hosts = await attribute('bench', () => runtime.store.listHosts(sessionId));
  const took = hosts
    .filter((h) => h.started_at && h.finished_at)
    .map((h) => Date.parse(h.finished_at as string) - Date.parse(h.started_at as string));
  return {
    ...spec,
    hostSeconds,
    waves,
    boundMs,
    /** maintenance_at → MAINTENANCE_DONE over the bound (target ≤ 1.2). */
    ratio: result === 'MAINTENANCE_DONE' ? round(wallMs / boundMs, 3) : null,
    peakInMaintenanceFromEvents: peakInMaintenance,
    peakInFlightSampled,
    hostsFailed,
    /** A host's started_at → finished_at, as the session records them. */
    hostMs: mapSummary(summarize(took)),
  };
}

function mapSummary(s: ReturnType<typeof summarize>) {
  return {
    count: s.count,
    mean: round(s.mean, 2),
    p50: round(s.p50, 2),
    p90: round(s.p90, 2),
    p99: round(s.p99, 2),
    max: round(s.max, 2),
  };
}
function pickDynamo(origin: 'workflow' | 'api' | 'bench') {
  const bucket = tools.dynamo.byOrigin[origin];
  return {
    requests: bucket.requests,
    readUnits: round(bucket.readUnits, 1),
    writeUnits: round(bucket.writeUnits, 1),
    byOperation: bucket.byOperation,
  };
}

if (args.out) writeFileSync(args.out, JSON.stringify(output, null, 2));
progress(
  `${result}: ${hostsDone}/${size.hosts} hosts in ${(wallMs / 1000).toFixed(1)} s (${output.overheadPerHostMs} ms/host), reaction p50 ${output.reactionMs.p50} ms p99 ${output.reactionMs.p99} ms, ${transitions} transitions, largest history ${largest?.historyEvents ?? 0}, peak rss ${output.memory.peakRssMb} MB`,
);
if (result === 'CAPPED') {
  // Don't wait for the engine to finish a capped run: the parent only needs the numbers.
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}
await runtime.stop();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
