/**
 * A minimal VNFM with the typed client (examples/vnfm/client.ts), for docs/vnfm-guide.md: it
 * receives the EventBridge envelopes POSTed to its webhook, drops repeats, and ACKs every round —
 * asking Fenix to MIGRATE each instance when the round allows instance actions.
 *
 *   npx tsx docs/examples/minimal-vnfm.ts --fenix http://127.0.0.1:12347 --project shop --port 12350 --token "$TOKEN"
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Deduper, FenixClient, InvalidEventError, parseMaintenanceEvent } from '../../examples/vnfm/client.js';

export const startMinimalVnfm = async (options: {
  fenixUrl: string;
  projectId: string;
  token?: string;
  port?: number;
  log?: (line: string) => void;
}) => {
  const log = options.log ?? console.log;
  const fenix = new FenixClient({ baseUrl: options.fenixUrl, token: options.token });
  const deduper = new Deduper();

  const handle = async (body: string) => {
    const event = parseMaintenanceEvent(body); // throws InvalidEventError naming each bad field
    if (event['detail-type'] !== 'maintenance.scheduled' || event.detail.project_id !== options.projectId) return;
    if (!deduper.firstTime(event)) return; // EventBridge delivers at least once
    const { state, session_id: session } = event.detail;
    if (state === 'INSTANCE_ACTION_DONE')
      return log(`${session}: Fenix moved ${[event.detail.instance_ids].flat().join(', ')}`);
    if (event.detail.allowed_actions.length === 0) {
      await fenix.reply(event, 'ACK');
      return log(`${session}: ACK_${state}`);
    }
    const ids = await fenix.getInstanceIds(event);
    await fenix.reply(event, 'ACK', Object.fromEntries(ids.map((id) => [id, 'MIGRATE' as const])));
    log(`${session}: ACK_${state} with MIGRATE for ${ids.length} instance(s)`);
  };

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      handle(Buffer.concat(chunks).toString('utf8')).then(
        () => response.writeHead(200).end(),
        (error: Error) => {
          log(`refused: ${error.message}`);
          response.writeHead(error instanceof InvalidEventError ? 400 : 500).end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, stop: () => new Promise((resolve) => server.close(resolve)) };
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      fenix: { type: 'string' },
      project: { type: 'string' },
      port: { type: 'string' },
      token: { type: 'string' },
    },
  });
  if (!values.project) throw new Error('--project is required');
  const vnfm = await startMinimalVnfm({
    fenixUrl: values.fenix ?? 'http://127.0.0.1:12347',
    projectId: values.project,
    token: values.token ?? process.env.FENIX_TOKEN,
    port: Number(values.port ?? 0),
  });
  console.log(`VNFM of ${values.project} listening on ${vnfm.url}`);
}
