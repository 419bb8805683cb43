/**
 * A sample VNFM ("app manager") for one project, behaving like the OPNFV Doctor sample app manager
 * (reference/fenix-inventory.md §8): it receives Fenix events as EventBridge envelopes POSTed to a
 * webhook (an API destination, or the local runtime's FENIX_SUBSCRIPTIONS) and answers each round:
 *
 *   MAINTENANCE           → ACK
 *   SCALE_IN              → delete its newest non-HA instance(s) (name without "-ha-"), remember them → ACK
 *   PREPARE_MAINTENANCE,
 *   PLANNED_MAINTENANCE   → read the affected instances → ACK with MIGRATE for each (mode `migrate`), or
 *                           LIVE_MIGRATE (mode `live_migrate`), or move each one itself through the sim
 *                           API and ACK with OWN_ACTION (mode `own_action`, simulated cloud only)
 *   MAINTENANCE_COMPLETE  → re-create what it removed (same names and vCPUs; the simulator places them) → ACK
 *   INSTANCE_ACTION_DONE  → log only
 *
 * The webhook answers 200 at once and handles events one at a time in arrival order, after dropping
 * repeats by (session_id, event_seq). Other projects' events and non-scheduled types are ignored.
 *
 * Command line:
 *   npx tsx examples/vnfm/vnfm.ts --fenix http://127.0.0.1:12347 --project vnf-a --port 12348 [--own-action | --live-migrate] [--token T]
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Deduper,
  FenixClient,
  type InstanceAction,
  InvalidEventError,
  type MaintenanceEvent,
  parseMaintenanceEvent,
  type ScheduledEvent,
  type ScheduledState,
  SimClient,
  type SimInstance,
} from './client.js';

export type VnfmMode = 'migrate' | 'live_migrate' | 'own_action';

export interface VnfmOptions {
  /**
   * Fenix API base URL; the sim API is served there too. A function is read at the first event, for
   * when the API starts after the VNFM (its subscriptions must name the VNFM's URL at start-up).
   */
  fenixUrl: string | (() => string);
  projectId: string;
  /** Webhook port; 0 (default) picks a free one. */
  port?: number;
  /** Bind address (default 127.0.0.1). */
  host?: string;
  /** Bearer token for the Fenix and sim APIs (a function is asked before each request). */
  token?: string | (() => string | Promise<string>);
  /** `keystone`: the token is a Keystone token, sent as `X-Auth-Token` (a Fenix with FENIX_AUTH=keystone). */
  tokenType?: 'bearer' | 'keystone';
  /** How PREPARE/PLANNED instances are moved: by Fenix (MIGRATE or LIVE_MIGRATE) or by the VNFM itself (OWN_ACTION). */
  mode?: VnfmMode;
  /** Instances removed per SCALE_IN round (default 1). */
  scaleInCount?: number;
  /** One line per event handled (default console.log). */
  log?: (line: string) => void;
  /** Retry settings of the API calls (default: 3 retries, 250 ms first backoff). */
  retries?: number;
  backoffMs?: number;
}

export interface VnfmStats {
  /** Events handled, by `maintenance.scheduled` state. */
  handled: Partial<Record<ScheduledState, number>>;
  /** Repeats dropped by (session_id, event_seq). */
  duplicates: number;
  /** Valid events not for this VNFM (other projects, host and session events). */
  ignored: number;
  /** Bodies that were not Fenix events (answered 400). */
  invalid: number;
  /** Events whose handling failed (the error is logged). */
  errors: number;
}

export interface Vnfm {
  /** The webhook URL to subscribe (POST). */
  url: string;
  port: number;
  stats: VnfmStats;
  /** Resolves when every event received so far has been handled. */
  settled: () => Promise<void>;
  stop: () => Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const isHa = (instance: { name: string }) => instance.name.includes('-ha-');
const naturalDesc = (a: string, b: string) => b.localeCompare(a, 'en', { numeric: true });

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        fail(new Error(`body over ${MAX_BODY_BYTES} bytes`));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    request.on('error', fail);
  });

export const startVnfm = async (options: VnfmOptions): Promise<Vnfm> => {
  const { projectId, mode = 'migrate', scaleInCount = 1 } = options;
  const log = options.log ?? ((line: string) => console.log(line));
  const http = () => ({
    ...(options.token ? { token: options.token } : {}),
    ...(options.tokenType ? { tokenType: options.tokenType } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
  });
  let clients: { fenix: FenixClient; sim: SimClient } | undefined;
  const api = () => {
    if (!clients) {
      const baseUrl = typeof options.fenixUrl === 'function' ? options.fenixUrl() : options.fenixUrl;
      clients = { fenix: new FenixClient({ baseUrl, ...http() }), sim: new SimClient(baseUrl, http()) };
    }
    return clients;
  };
  const deduper = new Deduper();
  const stats: VnfmStats = { handled: {}, duplicates: 0, ignored: 0, invalid: 0, errors: 0 };
  const say = (line: string) => log(`[vnfm ${projectId}] ${line}`);

  /** What each session's SCALE_IN rounds removed, to re-create at MAINTENANCE_COMPLETE. */
  const removed = new Map<string, { name: string; vcpus: number }[]>();
  /** Ids this VNFM created, oldest first: the newest go first when scaling in. */
  const created: string[] = [];

  const newestNonHa = (instances: SimInstance[]): SimInstance[] =>
    instances
      .filter((instance) => !isHa(instance))
      .sort((a, b) => created.indexOf(b.id) - created.indexOf(a.id) || naturalDesc(a.name, b.name));

  const handlers: Record<
    ScheduledState,
    (event: ScheduledEvent, fenix: FenixClient, sim: SimClient) => Promise<string>
  > = {
    MAINTENANCE: async (event, fenix) => {
      await fenix.reply(event, 'ACK');
      return 'ACK';
    },
    SCALE_IN: async (event, fenix, sim) => {
      const victims = newestNonHa(await sim.listInstances(projectId)).slice(0, scaleInCount);
      const list = removed.get(event.detail.session_id) ?? [];
      removed.set(event.detail.session_id, list);
      for (const victim of victims) {
        await sim.deleteInstance(victim.id);
        list.push({ name: victim.name, vcpus: victim.vcpus });
      }
      await fenix.reply(event, 'ACK');
      return `removed ${victims.map((v) => `${v.name} (${v.host})`).join(', ') || 'nothing (no non-HA instance left)'} → ACK`;
    },
    PREPARE_MAINTENANCE: (event, fenix, sim) => emptyHost(event, fenix, sim),
    PLANNED_MAINTENANCE: (event, fenix, sim) => emptyHost(event, fenix, sim),
    MAINTENANCE_COMPLETE: async (event, fenix, sim) => {
      const list = removed.get(event.detail.session_id) ?? [];
      const back: string[] = [];
      while (list.length > 0) {
        const { name, vcpus } = list[0] as { name: string; vcpus: number };
        const instance = await sim.createInstance({ name, project_id: projectId, vcpus });
        created.push(instance.id);
        list.shift();
        back.push(`${name} (${instance.host})`);
      }
      removed.delete(event.detail.session_id);
      await fenix.reply(event, 'ACK');
      return `${back.length > 0 ? `re-created ${back.join(', ')}` : 'nothing to scale out'} → ACK`;
    },
    INSTANCE_ACTION_DONE: async (event) => `instance ${[event.detail.instance_ids].flat().join(', ')} moved by Fenix`,
  };

  const emptyHost = async (event: ScheduledEvent, fenix: FenixClient, sim: SimClient): Promise<string> => {
    const ids = await fenix.getInstanceIds(event);
    const actions: Record<string, InstanceAction> = {};
    const notes: string[] = [];
    for (const id of ids) {
      if (mode === 'own_action') {
        try {
          const moved = await sim.moveInstance(id);
          actions[id] = 'OWN_ACTION';
          notes.push(`${id} moved to ${moved.host}`);
          continue;
        } catch (error) {
          // No room for it now: let Fenix try (and fall back to SCALE_IN if it cannot either).
          notes.push(
            `${id} could not move (${error instanceof Error ? error.message : String(error)}), asking MIGRATE`,
          );
        }
      }
      actions[id] = mode === 'live_migrate' ? 'LIVE_MIGRATE' : 'MIGRATE';
    }
    await fenix.reply(event, 'ACK', actions);
    const summary = Object.entries(actions)
      .map(([id, action]) => `${id}=${action}`)
      .join(', ');
    return `${notes.length > 0 ? `${notes.join('; ')}; ` : ''}ACK {${summary}}`;
  };

  const handle = async (event: ScheduledEvent) => {
    const { state, session_id: session, event_seq: seq } = event.detail;
    try {
      const { fenix, sim } = api();
      const outcome = await handlers[state](event, fenix, sim);
      stats.handled[state] = (stats.handled[state] ?? 0) + 1;
      say(`${state} session ${session} seq ${seq}: ${outcome}`);
    } catch (error) {
      stats.errors += 1;
      say(`${state} session ${session} seq ${seq}: FAILED ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  let queue: Promise<void> = Promise.resolve();
  const accept = (event: MaintenanceEvent): string => {
    if (event['detail-type'] !== 'maintenance.scheduled' || event.detail.project_id !== projectId) {
      stats.ignored += 1;
      return 'ignored';
    }
    if (!deduper.firstTime(event)) {
      stats.duplicates += 1;
      return 'duplicate';
    }
    queue = queue.then(() => handle(event));
    return 'accepted';
  };

  const server = createServer((request, response) => {
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method === 'GET') return send(200, { project_id: projectId, mode, stats });
    if (request.method !== 'POST')
      return send(405, { error: 'method_not_allowed', message: 'POST EventBridge envelopes here' });
    readBody(request).then(
      (body) => {
        try {
          send(200, { result: accept(parseMaintenanceEvent(body)) });
        } catch (error) {
          stats.invalid += 1;
          const message = error instanceof Error ? error.message : String(error);
          say(`refused a body: ${message}`);
          send(400, { error: error instanceof InvalidEventError ? 'invalid_event' : 'bad_request', message });
        }
      },
      (error: Error) => send(413, { error: 'too_large', message: error.message }),
    );
  });
  const port = await new Promise<number>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });
  const url = `http://${options.host ?? '127.0.0.1'}:${port}/maintenance`;

  const settled = async () => {
    let current: Promise<void>;
    do {
      current = queue;
      await current;
    } while (current !== queue);
  };
  return {
    url,
    port,
    stats,
    settled,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(() => done(undefined)));
      await settled();
    },
  };
};

// ---------------------------------------------------------------- command line

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      fenix: { type: 'string', default: 'http://127.0.0.1:12347' },
      project: { type: 'string' },
      port: { type: 'string', default: '12348' },
      'own-action': { type: 'boolean', default: false },
      'live-migrate': { type: 'boolean', default: false },
      token: { type: 'string' },
      'keystone-token': { type: 'boolean', default: false },
      'scale-in-count': { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const usage =
    'usage: npx tsx examples/vnfm/vnfm.ts --project <id> [--fenix http://127.0.0.1:12347] [--port 12348] [--own-action | --live-migrate] [--token T | env FENIX_TOKEN] [--keystone-token] [--scale-in-count 1]';
  if (values.help || !values.project) {
    console.error(usage);
    process.exit(values.help ? 0 : 2);
  }
  const port = Number(values.port);
  const scaleInCount = Number(values['scale-in-count']);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isInteger(scaleInCount) || scaleInCount < 0) {
    console.error(usage);
    process.exit(2);
  }
  const token = values.token ?? process.env.FENIX_TOKEN;
  const mode: VnfmMode = values['own-action'] ? 'own_action' : values['live-migrate'] ? 'live_migrate' : 'migrate';
  try {
    const vnfm = await startVnfm({
      fenixUrl: values.fenix,
      projectId: values.project,
      port,
      mode,
      scaleInCount,
      ...(values['keystone-token'] ? { tokenType: 'keystone' as const } : {}),
      ...(token ? { token } : {}),
    });
    console.log(`VNFM for project ${values.project} (${mode}) listening on ${vnfm.url}`);
    console.log(
      `subscribe it with FENIX_SUBSCRIPTIONS: ${JSON.stringify([
        {
          pattern: {
            source: ['fenix'],
            'detail-type': ['maintenance.scheduled'],
            detail: { project_id: [values.project] },
          },
          url: vnfm.url,
        },
      ])}`,
    );
    const shutdown = async () => {
      await vnfm.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => void shutdown());
    process.on('SIGTERM', () => void shutdown());
  } catch (error) {
    console.error(`vnfm: could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
