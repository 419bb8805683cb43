/**
 * Download throughput and memory: `tsx bench/download.ts [--mb 200]`.
 * Serves a generated body of N MB from a local http server (streamed in 64 KiB chunks, never whole in
 * memory), fetches it with `fetchDownload` into `LocalArtifacts` in a temporary folder, and prints
 * MB/s, the RSS before, the peak RSS sampled every 50 ms and the process's maxRSS. Server and client
 * share this process, so the RSS covers both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { LocalArtifacts } from '../functions/adapters/artifacts/local-artifacts.js';
import { fetchDownload } from '../functions/core/downloads.js';
import { mb, round } from './lib/stats.js';

const { values: args } = parseArgs({ options: { mb: { type: 'string', default: '200' } } });
const megabytes = Number(args.mb);
if (!Number.isFinite(megabytes) || megabytes <= 0) throw new Error(`--mb must be a positive number, got "${args.mb}"`);
const size = Math.round(megabytes * 1024 * 1024);

const CHUNK = Buffer.alloc(64 * 1024, 'fenix-download-bench ');
/** `size` bytes of the repeated chunk, produced as they are read. */
const generated = (bytes: number) =>
  Readable.from(
    (function* () {
      for (let sent = 0; sent < bytes; sent += CHUNK.length)
        yield CHUNK.subarray(0, Math.min(CHUNK.length, bytes - sent));
    })(),
  );

const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
  generated(size).pipe(response);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
const root = mkdtempSync(join(tmpdir(), 'fenix-bench-download-'));

const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

const started = performance.now();
const record = await fetchDownload(
  'bench',
  { url: `http://127.0.0.1:${port}/body.bin`, name: 'body.bin' },
  new LocalArtifacts(root),
  { allow: [`127.0.0.1:${port}`], maxBytes: 2 * 1024 ** 3 },
);
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);

server.close();
rmSync(root, { recursive: true, force: true });

if (record.status !== 'DONE' || record.size !== size) {
  console.error(record);
  process.exit(1);
}
console.log(`download of ${mb(size)} MB: ${round(seconds, 2)} s, ${round(size / 1024 / 1024 / seconds, 1)} MB/s`);
console.log(`sha256 ${record.sha256}`);
console.log(`RSS before ${mb(rssBefore)} MB, peak sampled every 50 ms ${mb(peakRss)} MB`);
console.log(`maxRSS (process.resourceUsage) ${mb(process.resourceUsage().maxRSS * 1024)} MB`);
