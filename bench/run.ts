/**
 * `npm run bench` — the performance and scale benchmark (issue 6). Writes bench/results/latest.json
 * and bench/results/latest.md.
 *   --quick              the small session size only (10 hosts × 100 instances × 5 projects)
 *   --sizes a,b          pick sizes by name: small, medium, large, fleet (default: all four)
 *   --fleet-only         only the fleet scenario (a parallel rollout, DESIGN §12), written to
 *                        bench/results/fleet.json and fleet.md (latest.* keep the full run)
 *   --fleet-hosts <n>    computes in the fleet (default 100, 10 of them empty)
 *   --fleet-seconds <s>  the dummy plug-in's seconds on each fleet host (default 10)
 *   --out <name>         write bench/results/<name>.json and <name>.md (default latest; fleet with --fleet-only)
 *   --cap <seconds>      time cap per workflow run after maintenance_at (default 1200)
 *   --api-seconds <s>    duration of each autocannon run (default 10; 5 with --quick)
 *   --skip-api, --skip-bundles, --skip-workflow
 *   --profile            run the workflow and API processes under --cpu-prof (profiles in bench/results/profiles/<run>/, one per thread: the largest is the main thread)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type ApiBenchResult, benchApi } from './api.js';
import { type BundleResult, benchBundles } from './bundles.js';
import { fleetSize, type Size } from './lib/inventory.js';
import { priceSession } from './lib/price.js';
import { renderMarkdown, type WorkflowRun } from './lib/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
const SIZES: Size[] = [
  { name: 'small', hosts: 10, instances: 100, projects: 5 },
  { name: 'medium', hosts: 100, instances: 2000, projects: 20 },
  { name: 'large', hosts: 1000, instances: 20000, projects: 50 },
];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    'fleet-only': { type: 'boolean', default: false },
    'fleet-hosts': { type: 'string', default: '100' },
    'fleet-seconds': { type: 'string', default: '10' },
    out: { type: 'string' },
    cap: { type: 'string', default: '1200' },
    'api-seconds': { type: 'string' },
    'skip-api': { type: 'boolean', default: false },
    'skip-bundles': { type: 'boolean', default: false },
    'skip-workflow': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
  },
});

const fleetHosts = Number(args['fleet-hosts']);
const fleetSeconds = Number(args['fleet-seconds']);
if (!Number.isInteger(fleetHosts) || fleetHosts < 1) throw new Error(`--fleet-hosts must be ≥ 1, got ${fleetHosts}`);
if (!Number.isFinite(fleetSeconds) || fleetSeconds < 0) throw new Error(`--fleet-seconds must be ≥ 0`);
/** 10 at a time over a fleet with room: the wall time should be the waves of host time, little more. */
// As many empty computes as the rollout's width, so that even its first wave is full (instances move
// only onto maintained computes); then each wave leaves room for the next.
const FLEET = fleetSize(fleetHosts, {
  empty: Math.min(fleetHosts, 10),
  instancesPerHost: 2,
  maxParallel: 10,
  pluginSeconds: fleetSeconds,
  simActionSeconds: 0.5,
});
const SCENARIOS = [...SIZES, FLEET];

const started = Date.now();
const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
const selected = args['fleet-only']
  ? [FLEET]
  : args.quick
    ? SCENARIOS.slice(0, 1)
    : args.sizes
      ? SCENARIOS.filter((s) => args.sizes?.split(',').includes(s.name))
      : SCENARIOS;
const outName = args.out ?? (args['fleet-only'] ? 'fleet' : 'latest');
mkdirSync(RESULTS, { recursive: true });

/** One size, in a child process (its own heap, so peaks are per size), cut off at the cap. */
const runWorkflow = (size: Size): Promise<WorkflowRun> =>
  new Promise((resolve) => {
    const out = join(RESULTS, `workflow-${size.name}.json`);
    rmSync(out, { force: true });
    rmSync(`${out}.progress`, { force: true });
    const flags = [
      '--expose-gc',
      ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS, 'profiles', size.name)}`] : []),
    ];
    const child = spawn(
      process.execPath,
      [
        ...flags,
        '--import',
        'tsx',
        join(ROOT, 'bench', 'workflow.ts'),
        ...[
          '--name',
          size.name,
          '--hosts',
          String(size.hosts),
          '--instances',
          String(size.instances),
          '--projects',
          String(size.projects),
          ...(size.fleet ? ['--fleet', JSON.stringify(size.fleet)] : []),
        ],
        ...['--out', out, '--cap', args.cap],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT },
    );
    let lastLines: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        log(line);
        lastLines = [...lastLines, line].slice(-5);
      }
    });
    // The child stops itself at the cap; this is the backstop if it hangs.
    const killer = setTimeout(() => child.kill('SIGKILL'), (Number(args.cap) + 600) * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      if (existsSync(out)) {
        resolve({ status: 'ok', ...(JSON.parse(readFileSync(out, 'utf8')) as object) } as WorkflowRun);
        return;
      }
      const progress = existsSync(`${out}.progress`)
        ? (JSON.parse(readFileSync(`${out}.progress`, 'utf8')) as Record<string, unknown>)
        : null;
      resolve({ status: 'crashed', size, exit: signal ?? code, progress, lastLines } as unknown as WorkflowRun);
    });
  });

const workflow: WorkflowRun[] = [];
if (!args['skip-workflow']) {
  for (const size of selected) {
    log(
      `workflow ${size.name}: ${size.hosts} hosts × ${size.instances} instances × ${size.projects} projects${
        size.fleet
          ? `, ${size.fleet.maxParallel} hosts at a time, dummy plug-in ${size.fleet.pluginSeconds} s, instance actions ${size.fleet.simActionSeconds} s`
          : ''
      }`,
    );
    const run = await runWorkflow(size);
    if (run.status === 'ok') {
      run.price = priceSession({
        transitions: run.stepFunctions.transitions,
        historyEvents: run.stepFunctions.historyEventsTotal,
        workflowInvocations: run.lambda.workflowInvocations,
        workflowMs: run.lambda.workflowTotalMs,
        apiRequests: run.api.requests,
        apiMeanMs: run.api.meanMs,
        wru: run.dynamodb.workflow.writeUnits + run.dynamodb.api.writeUnits,
        rru: run.dynamodb.workflow.readUnits + run.dynamodb.api.readUnits,
        eventChunks: run.eventBridge.chunks64k,
      });
    }
    workflow.push(run);
  }
}

let api: ApiBenchResult | undefined;
if (!args['skip-api'] && !args['fleet-only']) {
  log('API: autocannon against the local runtime and a bare node:http server');
  const seconds = Number(args['api-seconds'] ?? (args.quick ? 5 : 10));
  api = await benchApi({
    seconds,
    rate: 200,
    connections: 10,
    log,
    nodeFlags: args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS, 'profiles', 'api')}`] : [],
    serverFlags: [],
  });
}

let bundles: BundleResult[] | undefined;
if (!args['skip-bundles'] && !args['fleet-only']) {
  log('Lambda bundles: esbuild as CDK does, cold import in fresh node processes (median of 5)');
  bundles = await benchBundles({ runs: 5, log });
}

const report = {
  generatedAt: new Date().toISOString(),
  machine: {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 1024 ** 3),
  },
  options: { quick: args.quick, sizes: selected.map((s) => s.name), capSeconds: Number(args.cap) },
  durationSeconds: Math.round((Date.now() - started) / 1000),
  workflow,
  api,
  bundles,
};
writeFileSync(join(RESULTS, `${outName}.json`), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(join(RESULTS, `${outName}.md`), renderMarkdown(report));
for (const size of selected) rmSync(join(RESULTS, `workflow-${size.name}.json.progress`), { force: true });
log(`wrote bench/results/${outName}.json and bench/results/${outName}.md (${report.durationSeconds} s)`);
