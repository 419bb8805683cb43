import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { round } from './lib/stats.js';

/**
 * API under load: autocannon (in this process) against the local runtime (its own process), GET
 * /v1/maintenance/{s}/{p} and the idempotent repeat of a reply, at ~200 req/s and flat out; then the
 * same against a bare node:http server answering the same payload, for the ratio.
 */

const SERVER = fileURLToPath(new URL('./api-server.ts', import.meta.url));

interface Started {
  child: ChildProcess;
  info: Record<string, string>;
}

const startServer = (args: string[], log: (line: string) => void, nodeFlags: string[] = []): Promise<Started> =>
  new Promise((resolve, reject) => {
    let stopping = false;
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', SERVER, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => resolve({ child, info: JSON.parse(line) as Record<string, string> }));
    child.stderr?.on('data', (chunk: Buffer) => {
      // Once stopping, requests autocannon left in flight fail against the closing emulators: not news.
      if (stopping) return;
      for (const line of chunk.toString().split('\n').filter(Boolean)) log(`api server: ${line}`);
    });
    child.once('exit', (code) => reject(new Error(`API server exited with ${code}`)));
    child.once('stopping', () => (stopping = true));
  });

const stopServer = async ({ child }: Started) => {
  if (child.exitCode !== null) return;
  child.emit('stopping');
  await new Promise((resolve) => setTimeout(resolve, 500)); // let requests still in flight finish
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
};

export interface LoadResult {
  requestsPerSecond: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  non2xx: number;
  errors: number;
}

const load = async (options: {
  url: string;
  method: 'GET' | 'PUT';
  token?: string;
  body?: string;
  rate?: number;
  seconds: number;
  connections: number;
}): Promise<LoadResult> => {
  const result = await autocannon({
    url: options.url,
    method: options.method,
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body ? { body: options.body } : {}),
  });
  return {
    requestsPerSecond: round(result.requests.average, 1),
    meanMs: round(result.latency.average, 2),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
};

export interface ApiBenchResult {
  seconds: number;
  connections: number;
  payloadBytes: number;
  runtime: Record<string, Record<string, LoadResult>>;
  bare: Record<string, Record<string, LoadResult>>;
}

export const benchApi = async (options: {
  seconds: number;
  rate: number;
  connections: number;
  log: (line: string) => void;
  /** Extra flags: node's for the runtime process (e.g. --cpu-prof), the server's. */
  nodeFlags?: string[];
  serverFlags?: string[];
}): Promise<ApiBenchResult> => {
  const { seconds, rate, connections, log } = options;
  const runtime = await startServer(['runtime', '{}', ...(options.serverFlags ?? [])], log, options.nodeFlags);
  const info = runtime.info as {
    url: string;
    token: string;
    getPath: string;
    putPath: string;
    putBody: string;
    getBody: string;
  };
  log(`API server ready (GET payload ${info.getBody.length} bytes)`);
  const scenarios = async (label: string, base: string, token?: string) => {
    const get = { url: `${base}${info.getPath}`, method: 'GET' as const, token };
    const put = { url: `${base}${info.putPath}`, method: 'PUT' as const, token, body: info.putBody };
    await load({ ...get, seconds: 2, connections }); // warm-up (JIT, connection pools)
    const out: Record<string, Record<string, LoadResult>> = { get: {}, put: {} };
    for (const [name, target] of [
      ['get', get],
      ['put', put],
    ] as const) {
      // autocannon paces each connection with its own timer, all started together: at a fixed rate,
      // 10 connections send bursts of 10 simultaneous requests. Both are reported: 2 connections
      // (close to evenly spaced arrivals) and 10 (bursts).
      out[name] = {
        rate: await load({ ...target, rate, seconds, connections: 2 }),
        rateBursts: await load({ ...target, rate, seconds, connections }),
        max: await load({ ...target, seconds, connections }),
      };
      const r = out[name];
      log(
        `${label} ${name.toUpperCase()} at ~${rate} req/s: p50 ${r.rate?.p50Ms} ms p99 ${r.rate?.p99Ms} ms (2 connections), p50 ${r.rateBursts?.p50Ms} ms p99 ${r.rateBursts?.p99Ms} ms (${connections} connections); max ${r.max?.requestsPerSecond} req/s p50 ${r.max?.p50Ms} ms p99 ${r.max?.p99Ms} ms`,
      );
    }
    return out;
  };
  let runtimeResults: ApiBenchResult['runtime'];
  try {
    runtimeResults = await scenarios('runtime', info.url, info.token);
  } finally {
    await stopServer(runtime);
  }
  const bare = await startServer(['bare', info.getBody], log);
  let bareResults: ApiBenchResult['bare'];
  try {
    bareResults = await scenarios('bare node:http', bare.info.url as string);
  } finally {
    await stopServer(bare);
  }
  return { seconds, connections, payloadBytes: info.getBody.length, runtime: runtimeResults, bare: bareResults };
};
