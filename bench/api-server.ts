/**
 * The server side of the API benchmark, in its own process (autocannon runs in the parent):
 *   tsx bench/api-server.ts runtime  — the local runtime with the medium inventory and one session
 *       parked in its MAINTENANCE round (a long reply window); one project has replied, so the
 *       same reply again is an idempotent 200. Prints one JSON line: url, token, paths, bodies.
 *   tsx bench/api-server.ts bare '<get body>' — a bare node:http server answering GET with the
 *       same payload and PUT with {} (after reading the body), for the ratio.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateInventory, projectName, type Size } from './lib/inventory.js';

const [mode = 'runtime', payload = '{}'] = process.argv.slice(2);

if (mode === 'bare') {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = request.method === 'GET' ? payload : '{}';
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  });
} else {
  const size: Size = { name: 'api', hosts: 100, instances: 2000, projects: 20 };
  const dataDir = mkdtempSync(join(tmpdir(), 'fenix-bench-api-'));
  const inventoryFile = join(dataDir, 'inventory.json');
  writeFileSync(inventoryFile, JSON.stringify(generateInventory(size)));
  const { startRuntime } = await import('../local/runtime.js');
  const window = 3600;
  const runtime = await startRuntime({
    port: 0,
    dataDir,
    inventoryFile,
    env: { FENIX_PROJECT_MAINTENANCE_REPLY: String(window), FENIX_PROJECT_SCALE_IN_REPLY: String(window) },
    log: () => undefined,
  });
  const admin = await runtime.token({ admin: true });
  const project = projectName(1);
  const token = await runtime.token({ project });
  const call = async (method: string, path: string, auth: string, body?: unknown) => {
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, text: await response.text() };
  };
  const maintenanceAt = new Date((Math.ceil(Date.now() / 1000) + window + 60) * 1000)
    .toISOString()
    .slice(0, 19)
    .replace('T', ' ');
  const created = await call('POST', '/v1/maintenance', admin, {
    state: 'MAINTENANCE',
    maintenance_at: maintenanceAt,
    hosts: [],
  });
  if (created.status !== 200) throw new Error(`create: ${created.status} ${created.text}`);
  const sessionId = (JSON.parse(created.text) as { session_id: string }).session_id;
  const projectPath = `/v1/maintenance/${sessionId}/${project}`;
  // Wait until the MAINTENANCE round is open and the project is asked to reply.
  const reply = { state: 'ACK_MAINTENANCE' };
  for (let attempt = 0; ; attempt++) {
    const put = await call('PUT', projectPath, token, reply);
    if (put.status === 200) break;
    if (attempt > 200) throw new Error(`the round never opened: ${put.status} ${put.text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const get = await call('GET', projectPath, token);
  if (get.status !== 200) throw new Error(`GET: ${get.status} ${get.text}`);
  process.stdout.write(
    `${JSON.stringify({ url: runtime.url, token, getPath: projectPath, putPath: projectPath, putBody: JSON.stringify(reply), getBody: get.text })}\n`,
  );
  const stop = async () => {
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
