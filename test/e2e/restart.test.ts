import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalKeys } from '../../local/jwt.js';
import { fenixTimeIn } from '../helpers/runtime.js';

/**
 * Restarts lose nothing: the real `npm start` process is killed with SIGKILL in the middle of a
 * session and started again on the same data directory; the session resumes from its persisted
 * state and completes, each host maintained once, no instance lost.
 */

const dataDir = mkdtempSync(join(tmpdir(), 'fenix-restart-'));
const children: ChildProcess[] = [];
let webhook: Server | undefined;
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await new Promise((done) => (webhook ? webhook.close(done) : done(undefined)));
  rmSync(dataDir, { recursive: true, force: true });
});

const freePort = async () => {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
};

/** Starts `local/main.ts` as its own process; resolves when it prints its ready line. */
const startFenix = (port: number, env: Record<string, string>, dir = dataDir) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
      env: { ...process.env, PORT: String(port), FENIX_DATA_DIR: dir, POWERTOOLS_LOG_LEVEL: 'ERROR', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`Fenix API listening on http://127.0.0.1:${port}`)) resolve(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`fenix exited with ${code} before it was ready:\n${output}`)));
  });

describe('restart', () => {
  it('resumes a session after SIGKILL and completes it, maintaining each host once', async () => {
    const hosts = Array.from({ length: 5 }, (_, i) => ({ name: `c-${i + 1}`, type: 'compute', vcpus: 4 }));
    const inventory = {
      hosts,
      instances: hosts
        .slice(0, 4)
        .map((host, i) => ({ id: `vm-${i}`, name: `vm-${i}`, project_id: 'tenant', host: host.name, vcpus: 2 })),
    };
    writeFileSync(join(dataDir, 'inventory.json'), JSON.stringify(inventory));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const keys = LocalKeys.load(dataDir);
    const admin = { authorization: `Bearer ${await keys.issue({ admin: true })}` };
    const tenant = { authorization: `Bearer ${await keys.issue({ project: 'tenant' })}` };

    // A webhook VNFM: ACKs every round, MIGRATE for every instance; and it tells the test what happens.
    const seen: Record<string, any>[] = [];
    const waiters: { test: (d: Record<string, any>) => boolean; resolve: () => void }[] = [];
    webhook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        response.end('{}');
        const event = JSON.parse(body);
        const d = { type: event['detail-type'], ...event.detail };
        seen.push(d);
        for (const w of waiters.splice(0)) (w.test(d) ? w.resolve : () => waiters.push(w))();
        if (d.type !== 'maintenance.scheduled' || d.state === 'INSTANCE_ACTION_DONE') return;
        void (async () => {
          let instance_actions: Record<string, string> | undefined;
          if (d.allowed_actions.length) {
            const ids = (
              (await (await fetch(d.instance_ids, { headers: tenant })).json()) as { instance_ids: string[] }
            ).instance_ids;
            instance_actions = Object.fromEntries(ids.map((id) => [id, 'MIGRATE']));
          }
          await fetch(d.reply_url, {
            method: 'PUT',
            headers: { ...tenant, 'content-type': 'application/json' },
            body: JSON.stringify({ state: `ACK_${d.state}`, ...(instance_actions ? { instance_actions } : {}) }),
          }).catch(() => undefined); // the runtime may be down for a moment: the round's deadline decides
        })();
      });
    });
    await new Promise<void>((done) => webhook?.listen(0, '127.0.0.1', done));
    const hook = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}`;
    writeFileSync(join(dataDir, 'subscriptions.json'), JSON.stringify([{ pattern: { source: ['fenix'] }, url: hook }]));
    const until = (test: (d: Record<string, any>) => boolean) =>
      seen.some(test) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve }));

    const env = {
      FENIX_INVENTORY: join(dataDir, 'inventory.json'),
      FENIX_SUBSCRIPTIONS: join(dataDir, 'subscriptions.json'),
      FENIX_PROJECT_MAINTENANCE_REPLY: '3',
      FENIX_PROJECT_SCALE_IN_REPLY: '3',
      FENIX_EMPTY_CHECK_SECONDS: '1',
    };
    const first = await startFenix(port, env);
    const created = await fetch(`${base}/v1/maintenance`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        state: 'MAINTENANCE',
        maintenance_at: fenixTimeIn(5),
        hosts: [],
        actions: [{ plugin: 'dummy', type: 'host' }],
      }),
    });
    const { session_id: id } = (await created.json()) as { session_id: string };

    // Kill it hard once the second host is done: in the middle of the rolling maintenance.
    await until(
      (d) =>
        d.type === 'maintenance.host' &&
        d.state === 'MAINTENANCE_COMPLETE' &&
        seen.filter((e) => e.type === 'maintenance.host' && e.state === 'MAINTENANCE_COMPLETE').length >= 2,
    );
    first.kill('SIGKILL');
    await new Promise((done) => first.once('exit', done));

    await startFenix(port, env);
    await until(
      (d) => d.type === 'maintenance.session' && (d.state === 'MAINTENANCE_DONE' || d.state === 'MAINTENANCE_FAILED'),
    );
    const state = (
      (await (await fetch(`${base}/v1/maintenance/${id}`, { headers: admin })).json()) as { state: string }
    ).state;
    expect(state).toBe('MAINTENANCE_DONE');

    // Every event, both runs, from the runtime's own log: each host completed exactly once
    // (a re-sent event carries the same event_seq, so consumers see it once).
    const logged = readFileSync(join(dataDir, 'events.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const completions = new Map<number, string>();
    for (const e of logged) {
      if (
        e['detail-type'] === 'maintenance.host' &&
        e.detail.session_id === id &&
        e.detail.state === 'MAINTENANCE_COMPLETE'
      )
        completions.set(e.detail.event_seq, e.detail.host);
    }
    expect([...completions.values()].sort()).toEqual(hosts.map((h) => h.name).sort());
    const instances = (
      (await (await fetch(`${base}/sim/v1/instances`, { headers: admin })).json()) as { instances: { id: string }[] }
    ).instances;
    expect(instances.map((i) => i.id).sort()).toEqual(inventory.instances.map((i) => i.id).sort());
  }, 120_000);

  it('restarts the hosts that were in flight when killed, and completes each host once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fenix-restart-rollout-'));
    const hosts = Array.from({ length: 6 }, (_, i) => ({ name: `c-${i + 1}`, type: 'compute', vcpus: 4 }));
    const inventory = {
      hosts,
      instances: [0, 1].map((i) => ({
        id: `vm-${i}`,
        name: `vm-${i}`,
        project_id: 'tenant',
        host: `c-${i + 1}`,
        vcpus: 1,
      })),
    };
    // A webhook for host and session events only: no project is interacting (default actions).
    const seen: Record<string, any>[] = [];
    const waiters: { test: () => boolean; resolve: () => void }[] = [];
    const hookServer = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        response.end('{}');
        const event = JSON.parse(body);
        seen.push({ type: event['detail-type'], ...event.detail });
        for (const w of waiters.splice(0)) (w.test() ? w.resolve : () => waiters.push(w))();
      });
    });
    await new Promise<void>((done) => hookServer.listen(0, '127.0.0.1', done));
    const until = (test: () => boolean) =>
      test() ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve }));
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify(inventory));
    writeFileSync(
      join(dir, 'subscriptions.json'),
      JSON.stringify([
        {
          pattern: { source: ['fenix'], 'detail-type': ['maintenance.host', 'maintenance.session'] },
          url: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}`,
        },
      ]),
    );
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const admin = { authorization: `Bearer ${await LocalKeys.load(dir).issue({ admin: true })}` };
    const env = {
      FENIX_INVENTORY: join(dir, 'inventory.json'),
      FENIX_SUBSCRIPTIONS: join(dir, 'subscriptions.json'),
      FENIX_PROJECT_MAINTENANCE_REPLY: '2',
      FENIX_EMPTY_CHECK_SECONDS: '1',
    };
    const first = await startFenix(port, env, dir);
    const created = await fetch(`${base}/v1/maintenance`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        state: 'MAINTENANCE',
        maintenance_at: fenixTimeIn(3),
        actions: [{ plugin: 'dummy', type: 'compute', metadata: { seconds: 4 } }],
        rollout: { max_parallel_hosts: 2 },
      }),
    });
    expect(created.status).toBe(200);
    const { session_id: id } = (await created.json()) as { session_id: string };
    const hostEvents = (state: string) =>
      seen.filter((d) => d.type === 'maintenance.host' && d.session_id === id && d.state === state);

    // Kill it hard while two hosts are in their 4-second plug-in.
    await until(() => hostEvents('IN_MAINTENANCE').length >= 2);
    first.kill('SIGKILL');
    await new Promise((done) => first.once('exit', done));
    expect(hostEvents('MAINTENANCE_COMPLETE')).toEqual([]);

    await startFenix(port, env, dir);
    await until(() =>
      seen.some(
        (d) =>
          d.type === 'maintenance.session' &&
          d.session_id === id &&
          (d.state === 'MAINTENANCE_DONE' || d.state === 'MAINTENANCE_FAILED'),
      ),
    );
    const detail = (await (await fetch(`${base}/v1/maintenance/${id}/detail`, { headers: admin })).json()) as {
      session: { state: string };
      hosts: { name: string; phase: string }[];
    };
    expect(detail.session.state).toBe('MAINTENANCE_DONE');
    expect(detail.hosts.every((h) => h.phase === 'MAINTAINED')).toBe(true);
    // Each host completed once (a re-sent event carries the same event_seq).
    const completions = new Map(hostEvents('MAINTENANCE_COMPLETE').map((d) => [d.event_seq, d.host]));
    expect([...completions.values()].sort()).toEqual(hosts.map((h) => h.name).sort());
    await new Promise((done) => hookServer.close(done));
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
