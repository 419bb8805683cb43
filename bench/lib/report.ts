import type { ApiBenchResult, LoadResult } from '../api.js';
import type { BundleResult } from '../bundles.js';
import type { Fleet, Size } from './inventory.js';
import type { priceSession } from './price.js';
import type { Summary } from './stats.js';

type Dist = Summary;

interface DynamoBucket {
  requests: number;
  readUnits: number;
  writeUnits: number;
  byOperation: Record<string, { requests: number; readUnits: number; writeUnits: number }>;
}

/** What bench/workflow.ts writes (status 'ok'), or how far a crashed run got. */
export type WorkflowRun =
  | {
      status: 'ok';
      size: Size;
      outcome: string;
      failure: { reason: string } | null;
      hostsMaintained: number;
      createSessionMs: number;
      wallMs: number;
      overheadPerHostMs: number;
      startLatencyMs: number | null;
      hostCycleMs: Dist & { firstTenthMean: number; lastTenthMean: number };
      reactionMs: Dist;
      replyPhaseMs?: Dist;
      roundsByState: Record<string, number>;
      memory: {
        baselineRssMb: number;
        peakRssMb: number;
        peakHeapUsedMb: number;
        baselineHeapUsedMb: number;
        heapUsedAfterGcMb: number | null;
      };
      stepFunctions: {
        executions: number;
        sessionExecutions: number;
        hostExecutions: number;
        transitions: number;
        transitionsPerHost: number;
        sessionTransitions: number;
        hostTransitions: number;
        largestHistory: { name: string; events: number } | null;
        sessionExecutionHistories: number[];
        historyEventsTotal: number;
      };
      lambda: {
        workflowInvocations: number;
        workflowTotalMs: number;
        workflowMeanMs: number;
        actions: Record<
          string,
          {
            calls: number;
            totalMs: number;
            meanMs: number;
            firstTenthMeanMs: number;
            lastTenthMeanMs: number;
            maxMs: number;
            dynamoRequestsPerCall?: number;
          }
        >;
      };
      api: { requests: number; getMs: Dist; putMs: Dist; meanMs: number };
      dynamodb: { workflow: DynamoBucket; api: DynamoBucket };
      eventBridge: { entries: number; chunks64k: number; byType: Record<string, number> };
      largestBytes?: {
        dynamoItem: number;
        dynamoItemKey: string;
        lambdaPayload: number;
        lambdaResult: number;
        event: number;
        eventType: string;
        apiResponse: number;
        apiRequest: number;
      };
      price?: ReturnType<typeof priceSession>;
      /** The fleet scenario only (bench/workflow.ts `fleetResult`). */
      fleet?: FleetResult;
    }
  | {
      status: 'crashed';
      size: Size;
      exit: string | number | null;
      progress: Record<string, unknown> | null;
      lastLines: string[];
    };

/** A parallel rollout against its capacity bound (bench/workflow.ts --fleet). */
export interface FleetResult extends Fleet {
  /** Plug-in seconds + one instance action: the least a loaded host takes. */
  hostSeconds: number;
  waves: number;
  /** waves × hostSeconds, in ms. */
  boundMs: number;
  /** Wall time over the bound; null when the session did not reach MAINTENANCE_DONE. */
  ratio: number | null;
  peakInMaintenanceFromEvents: number;
  peakInFlightSampled: number;
  hostsFailed: number;
  hostMs: Dist;
}

/** The targets of the fleet scenario. */
export const FLEET_MAX_RATIO = 1.2;

type Ok = Extract<WorkflowRun, { status: 'ok' }>;

export interface Report {
  generatedAt: string;
  machine: { node: string; cpus: number; cpuModel: string; memoryGb: number };
  options: { quick: boolean; sizes: string[]; capSeconds: number };
  durationSeconds: number;
  workflow: WorkflowRun[];
  api?: ApiBenchResult;
  bundles?: BundleResult[];
}

const n = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const usd = (value: number) => (value >= 0.1 ? `$${value.toFixed(2)}` : `$${value.toFixed(4)}`);
const verdict = (ok: boolean | undefined) => (ok === undefined ? '–' : ok ? '✅' : '❌');
const dims = (s: Size) => `${n(s.hosts)} × ${n(s.instances)} × ${s.projects}`;
const done = (run: WorkflowRun): run is Ok => run.status === 'ok' && run.outcome === 'MAINTENANCE_DONE';

export const renderMarkdown = (report: Report): string => {
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  // The fleet is a parallel rollout with hosts that take real time: its own section and targets.
  const runs = report.workflow.filter((run) => !run.size.fleet);
  const fleets = report.workflow.filter((run) => run.size.fleet);
  const ok = runs.filter(done);
  push(
    '# Fenix Serverless — benchmark',
    '',
    `Generated ${report.generatedAt.slice(0, 19).replace('T', ' ')} UTC by \`npm run bench${report.options.quick ? ' -- --quick' : ''}\` on ${report.machine.cpus} × ${report.machine.cpuModel}, ${report.machine.memoryGb} GB, Node ${report.machine.node} (${report.durationSeconds} s). ` +
      `Everything runs in one process per size: dynalite, the SFN and EventBridge shims, the API handlers and one auto-replying VNFM per project (ACK, MIGRATE every instance, replies sent as soon as the notification arrives). Migrations are instant, so the wall time is all engine${fleets.length ? ' (the fleet scenario excepted: see its section)' : ''}.`,
    '',
  );

  if (runs.length) {
    push(
      '## Workflow',
      '',
      '| Session (hosts × instances × projects) | Outcome | Wall time `maintenance_at` → DONE | Engine overhead / host | Reaction p50 / p99 | Peak RSS / heap | Transitions / host (session) | Largest history | Price / session |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const run of runs) {
      if (run.status !== 'ok') {
        const p = run.progress as {
          hostsMaintained?: number;
          secondsSinceMaintenanceAt?: number;
          rssMb?: number;
        } | null;
        push(
          `| ${dims(run.size)} | crashed (${run.exit}) after ${p?.hostsMaintained ?? '?'} hosts, ${p?.secondsSinceMaintenanceAt ?? '?'} s | | | | ${p?.rssMb ?? '?'} MB | | | |`,
        );
        continue;
      }
      const outcome =
        run.outcome === 'CAPPED'
          ? `capped at ${report.options.capSeconds} s: ${run.hostsMaintained}/${run.size.hosts} hosts`
          : run.outcome === 'MAINTENANCE_DONE'
            ? 'DONE'
            : `${run.outcome}: ${run.failure?.reason ?? ''}`;
      const sfn = run.stepFunctions;
      push(
        `| ${dims(run.size)} | ${outcome} | ${n(run.wallMs / 1000, 1)} s | ${n(run.overheadPerHostMs, 0)} ms | ${n(run.reactionMs.p50, 0)} / ${n(run.reactionMs.p99, 0)} ms | ${n(run.memory.peakRssMb)} / ${n(run.memory.peakHeapUsedMb)} MB | ${n(sfn.transitionsPerHost, 1)} (${n(sfn.transitions)}) | ${n(sfn.largestHistory?.events ?? 0)} events | ${run.price ? `${usd(run.price.total)}${run.outcome === 'CAPPED' ? ` (${run.hostsMaintained} hosts)` : ''}` : '–'} |`,
      );
    }
    push('');
  }

  // ------------------------------------------------------------------ targets
  const bySize = (name: string) => ok.find((r) => r.size.name === name);
  const small = bySize('small');
  const medium = bySize('medium');
  const large = runs.find((r): r is Ok => r.status === 'ok' && r.size.name === 'large');
  const rateGet = report.api?.runtime.get?.rate;
  const ratePut = report.api?.runtime.put?.rate;
  const burstGet = report.api?.runtime.get?.rateBursts;
  const burstPut = report.api?.runtime.put?.rateBursts;
  const bundleMax = report.bundles?.length ? Math.max(...report.bundles.map((b) => b.kb)) : undefined;
  const importMax = report.bundles?.length ? Math.max(...report.bundles.map((b) => b.importMs)) : undefined;
  const worst = (values: number[]) => (values.length ? Math.max(...values) : undefined);
  const overhead = worst(ok.map((r) => r.overheadPerHostMs));
  const reactionP50 = worst(ok.map((r) => r.reactionMs.p50));
  const perHost = worst(runs.filter((r): r is Ok => r.status === 'ok').map((r) => r.stepFunctions.transitionsPerHost));
  const ratio = (a?: Ok, b?: Ok) => (a && b ? b.wallMs / a.wallMs : undefined);
  const memRatio = (a?: Ok, b?: Ok) =>
    a && b
      ? (b.memory.peakRssMb - b.memory.baselineRssMb) / Math.max(1, a.memory.peakRssMb - a.memory.baselineRssMb)
      : undefined;
  const timeRatios = [ratio(small, medium), ratio(medium, bySize('large'))].filter((x): x is number => x !== undefined);
  // A capped large run: its time to finish is at least the wall time so far × hosts / hosts done.
  const largeProjected =
    large && large.outcome !== 'MAINTENANCE_DONE' && medium && large.hostsMaintained > 0
      ? (large.wallMs * (large.size.hosts / large.hostsMaintained)) / medium.wallMs
      : undefined;
  const memRatios = [memRatio(small, medium), memRatio(medium, bySize('large'))].filter(
    (x): x is number => x !== undefined,
  );
  const memProjected =
    large && large.outcome !== 'MAINTENANCE_DONE' && medium && large.hostsMaintained > 0
      ? ((large.memory.peakRssMb - large.memory.baselineRssMb) * (large.size.hosts / large.hostsMaintained)) /
        Math.max(1, medium.memory.peakRssMb - medium.memory.baselineRssMb)
      : undefined;
  // A fleet-only run measured none of these.
  const sizeTargets =
    runs.length || report.api || report.bundles
      ? [
          `| Engine overhead ≤ 50 ms per host | ${[...ok.map((r) => `${r.size.name} ${n(r.overheadPerHostMs)} ms`), ...(large && large.outcome !== 'MAINTENANCE_DONE' ? [`large ${n(large.overheadPerHostMs)} ms (capped, ${large.hostsMaintained} hosts)`] : [])].join(', ') || '–'} | ${verdict(overhead === undefined ? undefined : overhead <= 50 && (!large || large.overheadPerHostMs <= 50))} |`,
          `| Reaction latency p50 ≤ 100 ms | ${ok.map((r) => `${r.size.name} ${n(r.reactionMs.p50)} ms (p99 ${n(r.reactionMs.p99)})`).join(', ') || '–'} | ${verdict(reactionP50 === undefined ? undefined : reactionP50 <= 100)} |`,
          `| API p99 ≤ 20 ms at 200 req/s | ${rateGet && ratePut ? `2 connections: GET ${rateGet.p99Ms} ms, PUT reply ${ratePut.p99Ms} ms ${verdict(rateGet.p99Ms <= 20 && ratePut.p99Ms <= 20)}; ${report.api?.connections} connections (bursts): GET ${burstGet?.p99Ms} ms, PUT reply ${burstPut?.p99Ms} ms ${verdict((burstGet?.p99Ms ?? Infinity) <= 20 && (burstPut?.p99Ms ?? Infinity) <= 20)}` : '–'} | ${verdict(rateGet && ratePut ? rateGet.p99Ms <= 20 && ratePut.p99Ms <= 20 && (burstGet?.p99Ms ?? Infinity) <= 20 && (burstPut?.p99Ms ?? Infinity) <= 20 : undefined)} |`,
          `| No execution history > 5,000 events at 1,000 hosts | ${large ? `${n(large.stepFunctions.largestHistory?.events ?? 0)} events (${large.hostsMaintained} hosts done)` : medium ? `not run; ${n(medium.stepFunctions.largestHistory?.events ?? 0)} at 100 hosts (one execution holds ≤ 100 hosts)` : '–'} | ${verdict(large ? (large.stepFunctions.largestHistory?.events ?? 0) <= 5000 : undefined)} |`,
          `| ≤ 20 state transitions per host | ${
            runs
              .filter((r): r is Ok => r.status === 'ok')
              .map((r) => `${r.size.name} ${n(r.stepFunctions.transitionsPerHost, 1)}`)
              .join(', ') || '–'
          } | ${verdict(perHost === undefined ? undefined : perHost <= 20)} |`,
          `| Bundles ≤ 300 KB (SDK excluded) | ${bundleMax !== undefined ? `largest ${n(bundleMax, 1)} KB` : '–'} | ${verdict(bundleMax === undefined ? undefined : bundleMax <= 300)} |`,
          `| Bundle cold import ≤ 150 ms | ${importMax !== undefined ? `slowest ${n(importMax)} ms (median of 5)` : '–'} | ${verdict(importMax === undefined ? undefined : importMax <= 150)} |`,
          `| 10× hosts → ≤ 11× time | ${[...timeRatios.map((x, i) => `${i === 0 && small ? 'small → medium' : 'medium → large'} ${n(x, 1)}×`), ...(largeProjected ? [`medium → large ≥ ${n(largeProjected, 1)}× (projected from the capped run: wall × hosts / hosts done)`] : [])].join(', ') || '–'} | ${verdict(timeRatios.length || largeProjected ? [...timeRatios, largeProjected ?? 0].every((x) => x <= 11) : undefined)} |`,
          `| 10× hosts → ≤ 11× memory (peak RSS above baseline, local runtime) | ${[...memRatios.map((x, i) => `${i === 0 && small ? 'small → medium' : 'medium → large'} ${n(x, 1)}×`), ...(memProjected ? [`medium → large ≈ ${n(memProjected, 1)}× (projected linearly from the capped run)`] : [])].join(', ') || '–'} | ${verdict(memRatios.length || memProjected ? [...memRatios, memProjected ?? 0].every((x) => x <= 11) : undefined)} |`,
        ]
      : [];
  push('## Targets', '', '| Target | Measured | |', '|---|---|:-:|', ...sizeTargets, ...fleetTargets(fleets), '');

  // ------------------------------------------------------------------ details per size
  const detailed = runs.filter((r): r is Ok => r.status === 'ok');
  if (detailed.length) {
    push(
      '## Where the time goes (workflow Lambda, per task action)',
      '',
      `| Action | ${detailed.map((r) => `${r.size.name}: calls · mean ms (first → last tenth) · DynamoDB requests per call`).join(' | ')} |`,
      `|---|${detailed.map(() => '---:').join('|')}|`,
    );
    const actions = [...new Set(detailed.flatMap((r) => Object.keys(r.lambda.actions)))];
    for (const action of actions) {
      push(
        `| \`${action}\` | ${detailed
          .map((r) => {
            const a = r.lambda.actions[action];
            return a
              ? `${n(a.calls)} · ${n(a.meanMs, 1)} (${n(a.firstTenthMeanMs, 1)} → ${n(a.lastTenthMeanMs, 1)}) · ${n(a.dynamoRequestsPerCall ?? 0, 1)}`
              : '–';
          })
          .join(' | ')} |`,
      );
    }
    push(
      `| **share of wall time in the workflow Lambda** | ${detailed.map((r) => `${n((100 * r.lambda.workflowTotalMs) / Math.max(1, r.wallMs))} %`).join(' | ')} |`,
      `| reply phase of a round (notifications out → completing reply sent), p50 · p99 | ${detailed.map((r) => (r.replyPhaseMs ? `${n(r.replyPhaseMs.p50)} · ${n(r.replyPhaseMs.p99)} ms` : '–')).join(' | ')} |`,
      `| host cycle (host done → next host done), mean first → last tenth | ${detailed.map((r) => `${n(r.hostCycleMs.firstTenthMean)} → ${n(r.hostCycleMs.lastTenthMean)} ms`).join(' | ')} |`,
      `| VNFM GET / PUT latency during the run, p50 · p99 | ${detailed.map((r) => `${n(r.api.getMs.p50)} · ${n(r.api.getMs.p99)} / ${n(r.api.putMs.p50)} · ${n(r.api.putMs.p99)} ms`).join(' | ')} |`,
      `| create session (POST) | ${detailed.map((r) => `${n(r.createSessionMs)} ms`).join(' | ')} |`,
      `| largest DynamoDB item / Lambda payload · result / event / API response · request (bytes) | ${detailed
        .map((r) =>
          r.largestBytes
            ? `${n(r.largestBytes.dynamoItem)} / ${n(r.largestBytes.lambdaPayload)} · ${n(r.largestBytes.lambdaResult)} / ${n(r.largestBytes.event)} / ${n(r.largestBytes.apiResponse)} · ${n(r.largestBytes.apiRequest)}`
            : '–',
        )
        .join(' | ')} |`,
      `| memory: baseline RSS → peak RSS; heap after GC at the end | ${detailed.map((r) => `${n(r.memory.baselineRssMb)} → ${n(r.memory.peakRssMb)} MB; ${r.memory.heapUsedAfterGcMb ?? '–'} MB`).join(' | ')} |`,
      '',
      '## Step Functions and the bill per session',
      '',
      `| | ${detailed.map((r) => r.size.name).join(' | ')} |`,
      `|---|${detailed.map(() => '---:').join('|')}|`,
      `| executions (session + host children) | ${detailed.map((r) => `${r.stepFunctions.sessionExecutions} + ${n(r.stepFunctions.hostExecutions)}`).join(' | ')} |`,
      `| state transitions: session executions / host executions / total | ${detailed.map((r) => `${n(r.stepFunctions.sessionTransitions)} / ${n(r.stepFunctions.hostTransitions)} / ${n(r.stepFunctions.transitions)}`).join(' | ')} |`,
      `| transitions per host | ${detailed.map((r) => n(r.stepFunctions.transitionsPerHost, 1)).join(' | ')} |`,
      `| history events of each session execution | ${detailed.map((r) => r.stepFunctions.sessionExecutionHistories.map((h) => n(h)).join(', ')).join(' | ')} |`,
      `| rounds (by state) | ${detailed
        .map((r) =>
          Object.entries(r.roundsByState)
            .map(([s, c]) => `${s} ${c}`)
            .join(', '),
        )
        .join(' | ')} |`,
      `| workflow Lambda invocations · total duration | ${detailed.map((r) => `${n(r.lambda.workflowInvocations)} · ${n(r.lambda.workflowTotalMs / 1000, 1)} s`).join(' | ')} |`,
      `| API requests (VNFM GET + PUT, create) | ${detailed.map((r) => n(r.api.requests)).join(' | ')} |`,
      `| DynamoDB requests: workflow / API (per host) | ${detailed.map((r) => `${n(r.dynamodb.workflow.requests)} / ${n(r.dynamodb.api.requests)} (${n(r.dynamodb.workflow.requests / Math.max(1, r.hostsMaintained))} / ${n(r.dynamodb.api.requests / Math.max(1, r.hostsMaintained))})`).join(' | ')} |`,
      `| DynamoDB WRU / RRU (workflow + API) | ${detailed.map((r) => `${n(r.dynamodb.workflow.writeUnits + r.dynamodb.api.writeUnits)} / ${n(r.dynamodb.workflow.readUnits + r.dynamodb.api.readUnits)}`).join(' | ')} |`,
      `| EventBridge entries (session / host / scheduled) | ${detailed.map((r) => `${n(r.eventBridge.entries)} (${r.eventBridge.byType['maintenance.session'] ?? 0} / ${r.eventBridge.byType['maintenance.host'] ?? 0} / ${r.eventBridge.byType['maintenance.scheduled'] ?? 0})`).join(' | ')} |`,
    );
    const priceLine = (label: string, key: keyof NonNullable<Ok['price']>) =>
      push(`| ${label} | ${detailed.map((r) => (r.price ? usd(r.price[key]) : '–')).join(' | ')} |`);
    priceLine('Step Functions transitions ($0.025 / 1,000)', 'stepFunctions');
    priceLine('Lambda requests ($0.20 / M)', 'lambdaRequests');
    priceLine('Lambda duration (512 MB arm64, local durations)', 'lambdaDuration');
    priceLine('HTTP API ($1.00 / M)', 'httpApi');
    priceLine('DynamoDB on demand ($0.625 / M WRU, $0.125 / M RRU)', 'dynamoDb');
    priceLine('EventBridge ($1.00 / M, per 64 KB)', 'eventBridge');
    priceLine('Step Functions logs, level ALL without data (~350 B / history event, $0.50 / GB)', 'sfnLogs');
    push(
      `| **total per session** | ${detailed.map((r) => (r.price ? `**${usd(r.price.total)}**` : '–')).join(' | ')} |`,
      `| per host | ${detailed.map((r) => (r.price ? usd(r.price.total / Math.max(1, r.hostsMaintained)) : '–')).join(' | ')} |`,
      '',
      "Unit prices: us-east-1 list prices from `../shared/reference/aws-facts.md` (§1.6, §4, §6); free tiers not applied; X-Ray traces and the handlers' own CloudWatch logs not included. DynamoDB units are what dynalite reports as ConsumedCapacity (1 KB write units, 4 KB read units, GSI writes not counted), a failed conditional write counted as 1 WRU.",
      '',
    );
  }

  // ------------------------------------------------------------------ fleet
  if (fleets.length) push(...fleetSection(fleets));

  // ------------------------------------------------------------------ API
  if (report.api) {
    const { api } = report;
    const row = (label: string, server: 'runtime' | 'bare', op: 'get' | 'put', mode: 'rate' | 'rateBursts' | 'max') => {
      const r = api[server][op]?.[mode] as LoadResult | undefined;
      const bare = api.bare[op]?.[mode] as LoadResult | undefined;
      if (!r) return;
      let ratio = ' | ';
      if (server === 'runtime' && bare) {
        ratio =
          mode === 'max'
            ? ` | ${n(bare.requestsPerSecond / Math.max(1, r.requestsPerSecond))}× fewer req/s; mean latency +${n(r.meanMs - bare.meanMs, 1)} ms`
            : ` | mean latency +${n(r.meanMs - bare.meanMs, 1)} ms, p99 +${n(r.p99Ms - bare.p99Ms)} ms`;
      }
      push(
        `| ${label} | ${n(r.requestsPerSecond)} | ${n(r.meanMs, 2)} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.non2xx + r.errors}${ratio} |`,
      );
    };
    push(
      '## API under load (autocannon)',
      '',
      `${api.seconds} s per run, after a 2 s warm-up; at ~200 req/s with 2 connections (arrivals close to evenly spaced) and with ${api.connections} (autocannon paces each connection with its own timer, so ${api.connections} connections send bursts of ${api.connections} simultaneous requests); max with ${api.connections} connections. The runtime holds the medium inventory (100 hosts, 2,000 instances, 20 projects) and one session parked in its MAINTENANCE round; GET /v1/maintenance/{s}/{p} returns ${api.payloadBytes} bytes; PUT repeats an accepted reply (idempotent 200). The bare server is node:http answering the same bytes. Latencies in ms (autocannon resolution 1 ms).`,
      '',
      '| Run | req/s | mean | p50 | p99 | max | non-2xx + errors | vs bare node:http |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const [server, name] of [
      ['runtime', 'runtime'],
      ['bare', 'bare node:http'],
    ] as const) {
      for (const [op, label] of [
        ['get', 'GET'],
        ['put', server === 'runtime' ? 'PUT reply' : 'PUT'],
      ] as const) {
        row(`${name} ${label}, ~200 req/s, 2 connections`, server, op, 'rate');
        row(`${name} ${label}, ~200 req/s, ${api.connections} connections (bursts)`, server, op, 'rateBursts');
        row(`${name} ${label}, max`, server, op, 'max');
      }
    }
    push('');
  }

  // ------------------------------------------------------------------ bundles
  if (report.bundles) {
    push(
      '## Lambda bundles',
      '',
      'esbuild with the options of `infra/constructs/service-function.ts` (ESM, node22, minify, keepNames, createRequire banner, `@aws-sdk/*` external). Import time: a fresh `node` process importing the bundle, median of 5; the SDK clients it imports load from node_modules (as from the Lambda runtime), shown alone in the last column.',
      '',
      '| Function | Bundle | Import | with --enable-source-maps | SDK imports alone | Largest parts |',
      '|---|---:|---:|---:|---:|---|',
    );
    for (const b of report.bundles) {
      push(
        `| \`${b.entry}\` | ${n(b.kb, 1)} KB | ${n(b.importMs)} ms | ${n(b.importWithSourceMapsMs)} ms | ${n(b.sdkOnlyImportMs)} ms | ${b.largestParts
          .slice(0, 3)
          .map((p) => `${p.part} ${n(p.kb, 0)} KB`)
          .join(', ')} |`,
      );
    }
    push('');
  }
  push(
    'Reproduce: `npm run bench` (all sizes; the 1,000-host run is capped by `--cap`, default 1,200 s) or `npm run bench -- --quick`. Raw numbers: `bench/results/latest.json`.',
    '',
  );
  return out.join('\n');
};

const fleetOf = (run: WorkflowRun): FleetResult | undefined => (run.status === 'ok' ? run.fleet : undefined);

/** Rows of the Targets table: the rollout's wall time against its bound, and its width never exceeded. */
const fleetTargets = (fleets: WorkflowRun[]): string[] =>
  fleets.flatMap((run) => {
    const fleet = fleetOf(run);
    const spec = run.size.fleet;
    if (!spec) return [];
    const label = `${n(run.size.hosts)} hosts, ${spec.maxParallel} at a time`;
    if (!fleet || run.status !== 'ok')
      return [`| Fleet rollout ≤ ${FLEET_MAX_RATIO}× the capacity bound | ${label}: did not finish | ❌ |`];
    const peak = Math.max(fleet.peakInMaintenanceFromEvents, fleet.peakInFlightSampled);
    return [
      `| Fleet rollout ≤ ${FLEET_MAX_RATIO}× the capacity bound (${fleet.waves} waves × ${n(fleet.hostSeconds, 1)} s) | ${label}: ${
        fleet.ratio === null
          ? `${run.outcome}`
          : `${n(run.wallMs / 1000, 1)} s = ${n(fleet.ratio, 2)}× ${n(fleet.boundMs / 1000)} s`
      } | ${verdict(fleet.ratio === null ? false : fleet.ratio <= FLEET_MAX_RATIO)} |`,
      `| Fleet: never more than max_parallel_hosts in flight | ${label}: at most ${fleet.peakInMaintenanceFromEvents} in maintenance (events), ${fleet.peakInFlightSampled} in flight (sampled each second) | ${verdict(peak <= spec.maxParallel)} |`,
    ];
  });

/** The fleet scenario's own section: what it is, the bound, what was measured. */
const fleetSection = (fleets: WorkflowRun[]): string[] => {
  const out = [
    '## Fleet: a parallel rollout',
    '',
    "A fleet of computes with room to drain (as many empty as the rollout is wide, since instances move only onto maintained computes; the others half full: 2 instances of 2 vCPUs on 8), no project waited for (every instance gets the default action, LIVE_MIGRATE), every instance action taking `FENIX_SIM_ACTION_SECONDS`, and the dummy plug-in taking `metadata.seconds` on every compute, with `rollout.max_parallel_hosts`. The capacity bound is what the width allows at best: ceil(hosts / max_parallel_hosts) waves × host time (the plug-in's seconds + one instance action). Wall time is `maintenance_at` → MAINTENANCE_DONE from the events. In flight: hosts between their `maintenance.host` IN_MAINTENANCE and MAINTENANCE_COMPLETE / MAINTENANCE_FAILED events, and (sampled each second from the session's records) hosts DRAINING or IN_MAINTENANCE.",
    '',
    '| Fleet (hosts, empty) | At a time | Plug-in · action | Outcome | Wall time | Bound | Ratio (≤ 1.2) | Peak in flight: events · sampled | Host time p50 · max | Transitions / host | Price / session |',
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const run of fleets) {
    const spec = run.size.fleet;
    if (!spec) continue;
    const head = `| ${n(run.size.hosts)} (${spec.empty} empty) | ${spec.maxParallel} | ${n(spec.pluginSeconds, 1)} · ${n(spec.simActionSeconds, 1)} s`;
    if (run.status !== 'ok') {
      out.push(`${head} | crashed (${run.exit}): ${run.lastLines.at(-1) ?? ''} | | | | | | | |`);
      continue;
    }
    const fleet = run.fleet;
    const outcome = run.outcome === 'MAINTENANCE_DONE' ? 'DONE' : `${run.outcome}: ${run.failure?.reason ?? ''}`;
    out.push(
      `${head} | ${outcome} | ${n(run.wallMs / 1000, 1)} s | ${fleet ? `${n(fleet.boundMs / 1000)} s` : '–'} | ${fleet?.ratio != null ? `${n(fleet.ratio, 2)}× ${verdict(fleet.ratio <= FLEET_MAX_RATIO)}` : '–'} | ${fleet ? `${fleet.peakInMaintenanceFromEvents} · ${fleet.peakInFlightSampled} ${verdict(Math.max(fleet.peakInMaintenanceFromEvents, fleet.peakInFlightSampled) <= spec.maxParallel)}` : '–'} | ${fleet ? `${n(fleet.hostMs.p50 / 1000, 1)} · ${n(fleet.hostMs.max / 1000, 1)} s` : '–'} | ${n(run.stepFunctions.transitionsPerHost, 1)} | ${run.price ? usd(run.price.total) : '–'} |`,
    );
  }
  out.push(
    '',
    'Run it alone: `npm run bench -- --fleet-only` (writes `bench/results/fleet.json` and `fleet.md`; `--fleet-hosts`, `--fleet-seconds` to vary it).',
    '',
  );
  return out;
};
