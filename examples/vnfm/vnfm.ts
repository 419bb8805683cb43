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
 * Workflow `vnf`: a PREPARE/PLANNED event about one instance (`instance_ids` a one-id list, `reply_url`
 * ending with that id) is answered on that reply_url with the instance's `migration_type` and ACK
 * (an OWN_ACTION instance is first moved by the VNFM itself, through the sim API).
 *
 * Constraints (DESIGN §12), as the Doctor sample pushed them: at start — or, when the API URL is only
 * known later, before the first event — the VNFM PUTs its instance groups and one instance constraint
 * per instance it has (listed through the sim API). By default (`defaultConstraints`): an HA group
 * (instances named "-ha-": anti-affinity, one per host, one impacted at a time, 4 s recovery) and a
 * non-HA group (the rest: two impacted at a time, 2 s recovery), every instance with the mode's
 * action as `migration_type`. `constraints` (`--constraints <file.json>`) replaces them, `false`
 * (`--no-constraints`) pushes none. Scaling in deletes the removed instance's constraint, scaling
 * out stores the new one's. Nothing else is deleted on stop, unless `deleteConstraintsOnStop`
 * (`--delete-constraints-on-exit`).
 *
 * The webhook answers 200 at once and handles events one at a time in arrival order, after dropping
 * repeats by (session_id, event_seq). Other projects' events and non-scheduled types are ignored.
 *
 * Command line:
 *   npx tsx examples/vnfm/vnfm.ts --fenix http://127.0.0.1:12347 --project vnf-a --port 12348 [--own-action | --live-migrate] [--token T]
 *     [--constraints file.json | --no-constraints] [--delete-constraints-on-exit]
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  Deduper,
  FenixClient,
  type InstanceAction,
  type InstanceConstraintBody,
  type InstanceGroupConstraintBody,
  InvalidEventError,
  instanceOfEvent,
  type MaintenanceEvent,
  parseMaintenanceEvent,
  type ScheduledEvent,
  type ScheduledState,
  SimClient,
  type SimInstance,
} from './client.js';

export type VnfmMode = 'migrate' | 'live_migrate' | 'own_action';

/** The action each mode asks for, and the `migration_type` its instances get by default. */
const MODE_ACTION: Record<VnfmMode, InstanceAction> = {
  migrate: 'MIGRATE',
  live_migrate: 'LIVE_MIGRATE',
  own_action: 'OWN_ACTION',
};

/** An instance group the VNFM pushes, and which of its instances belong to it. */
export interface VnfmGroup extends InstanceGroupConstraintBody {
  group_id: string;
  /** Instances whose name contains this are members ('' = every instance no earlier group took). */
  name_contains: string;
}

/** The constraints a VNFM pushes (the shape of `--constraints <file.json>`). */
export interface VnfmConstraints {
  /** In order: an instance joins the first group whose `name_contains` its name contains. */
  groups: VnfmGroup[];
  /** Fields every instance constraint gets; `migration_type` defaults to the mode's action. */
  instance?: Pick<
    InstanceConstraintBody,
    'max_interruption_time' | 'migration_type' | 'resource_mitigation' | 'lead_time'
  >;
}

const seconds = z.number().int().min(0).nullable();
/** `--constraints <file.json>`: the shape of VnfmConstraints (Fenix checks the values). */
export const vnfmConstraintsSchema = z.strictObject({
  groups: z.array(
    z.strictObject({
      group_id: z.string().min(1),
      name_contains: z.string().default(''),
      group_name: z.string().optional(),
      anti_affinity_group: z.boolean().optional(),
      max_instances_per_host: z.number().int().optional(),
      max_impacted_members: z.number().int().optional(),
      recovery_time: z.number().int().optional(),
      resource_mitigation: z.boolean().optional(),
    }),
  ),
  instance: z
    .strictObject({
      max_interruption_time: seconds.optional(),
      migration_type: z.enum(['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION', 'EVICTION']).nullable().optional(),
      resource_mitigation: z.boolean().optional(),
      lead_time: seconds.optional(),
    })
    .optional(),
});

/**
 * Doctor's sample app: an HA pair that must never share a host nor be down together, and non-HA
 * workers that tolerate two at a time. Group ids are derived from the project, so a restarted VNFM
 * replaces its own groups.
 */
export const defaultConstraints = (projectId: string, mode: VnfmMode = 'migrate'): VnfmConstraints => ({
  groups: [
    {
      group_id: `${projectId}-ha`,
      group_name: `${projectId} HA`,
      name_contains: '-ha-',
      anti_affinity_group: true,
      max_instances_per_host: 1,
      max_impacted_members: 1,
      recovery_time: 4,
      resource_mitigation: true,
    },
    {
      group_id: `${projectId}-non-ha`,
      group_name: `${projectId} non-HA`,
      name_contains: '',
      anti_affinity_group: false,
      max_instances_per_host: 0,
      max_impacted_members: 2,
      recovery_time: 2,
      resource_mitigation: true,
    },
  ],
  instance: { migration_type: MODE_ACTION[mode], max_interruption_time: 120, resource_mitigation: true },
});

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
  /** The constraints to push (default `defaultConstraints(projectId, mode)`); false: none. */
  constraints?: VnfmConstraints | false;
  /** Delete the constraints it pushed when stopped (default false: they outlive the VNFM, as its VNF does). */
  deleteConstraintsOnStop?: boolean;
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
  /** The constraints pushed so far (group and instance ids). */
  constraints: { groups: string[]; instances: string[] };
  /** Resolves when every event received so far has been handled. */
  settled: () => Promise<void>;
  stop: () => Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
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

  // ---------------------------------------------------------------- constraints

  const config =
    options.constraints === false ? undefined : (options.constraints ?? defaultConstraints(projectId, mode));
  const pushed = { groups: [] as string[], instances: [] as string[] };
  const groupOf = (name: string) => config?.groups.find((group) => name.includes(group.name_contains));

  const putInstanceConstraint = async (fenix: FenixClient, instance: { id: string; name: string }) => {
    if (!config) return;
    await fenix.putInstanceConstraint(instance.id, {
      ...config.instance,
      migration_type: config.instance?.migration_type ?? MODE_ACTION[mode],
      project_id: projectId,
      group_id: groupOf(instance.name)?.group_id ?? null,
      instance_name: instance.name,
    });
    if (!pushed.instances.includes(instance.id)) pushed.instances.push(instance.id);
  };

  /** The groups, then one constraint per instance the sim API lists (without it, the groups only). */
  const pushConstraints = async (fenix: FenixClient, sim: SimClient) => {
    if (!config) return;
    for (const { name_contains: _, ...group } of config.groups) {
      await fenix.putInstanceGroup(group.group_id, { ...group, project_id: projectId });
      if (!pushed.groups.includes(group.group_id)) pushed.groups.push(group.group_id);
    }
    let instances: SimInstance[];
    try {
      instances = await sim.listInstances(projectId);
    } catch (error) {
      say(
        `constraints: ${pushed.groups.length} groups stored; no instance constraints (cannot list the instances: ${message(error)})`,
      );
      return;
    }
    for (const instance of instances) await putInstanceConstraint(fenix, instance);
    say(`constraints: ${pushed.groups.length} groups and ${pushed.instances.length} instances stored`);
  };

  /** Pushes once; a failure is logged and tried again before the next event. */
  let constraintsPushed: Promise<void> | undefined;
  const ensureConstraints = (fenix: FenixClient, sim: SimClient): Promise<void> => {
    constraintsPushed ??= pushConstraints(fenix, sim).catch((error: unknown) => {
      constraintsPushed = undefined;
      say(`constraints not stored: ${message(error)}`);
    });
    return constraintsPushed;
  };

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
        if (pushed.instances.includes(victim.id)) {
          await fenix.deleteInstanceConstraint(victim.id);
          pushed.instances.splice(pushed.instances.indexOf(victim.id), 1);
        }
      }
      await fenix.reply(event, 'ACK');
      return `removed ${victims.map((v) => `${v.name} (${v.host})`).join(', ') || 'nothing (no non-HA instance left)'} → ACK`;
    },
    PREPARE_MAINTENANCE: (event, fenix, sim) =>
      instanceOfEvent(event) ? answerInstance(event, fenix, sim) : emptyHost(event, fenix, sim),
    PLANNED_MAINTENANCE: (event, fenix, sim) =>
      instanceOfEvent(event) ? answerInstance(event, fenix, sim) : emptyHost(event, fenix, sim),
    MAINTENANCE_COMPLETE: async (event, fenix, sim) => {
      const list = removed.get(event.detail.session_id) ?? [];
      const back: string[] = [];
      while (list.length > 0) {
        const { name, vcpus } = list[0] as { name: string; vcpus: number };
        // In its group again (the simulator keeps the group's placement rules for it).
        const group = groupOf(name)?.group_id;
        const instance = await sim.createInstance({
          name,
          project_id: projectId,
          vcpus,
          ...(group && pushed.groups.includes(group) ? { group_id: group } : {}),
        });
        created.push(instance.id);
        await putInstanceConstraint(fenix, instance);
        list.shift();
        back.push(`${name} (${instance.host})`);
      }
      removed.delete(event.detail.session_id);
      await fenix.reply(event, 'ACK');
      return `${back.length > 0 ? `re-created ${back.join(', ')}` : 'nothing to scale out'} → ACK`;
    },
    INSTANCE_ACTION_DONE: async (event) => `instance ${[event.detail.instance_ids].flat().join(', ')} moved by Fenix`,
  };

  /** Workflow `vnf`: one instance, answered on its own reply_url with its migration_type. */
  const answerInstance = async (event: ScheduledEvent, fenix: FenixClient, sim: SimClient): Promise<string> => {
    const id = instanceOfEvent(event) as string;
    let action = (await fenix.getInstanceConstraint(id))?.migration_type ?? MODE_ACTION[mode];
    let note = '';
    if (action === 'OWN_ACTION') {
      try {
        note = `${id} moved to ${(await sim.moveInstance(id)).host}; `;
      } catch (error) {
        action = 'MIGRATE';
        note = `${id} could not move (${message(error)}), asking MIGRATE; `;
      }
    }
    await fenix.replyInstanceEvent(event, 'ACK', action);
    return `${note}ACK ${id}=${action}`;
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
      await ensureConstraints(fenix, sim);
      const outcome = await handlers[state](event, fenix, sim);
      stats.handled[state] = (stats.handled[state] ?? 0) + 1;
      say(`${state} session ${session} seq ${seq}: ${outcome}`);
    } catch (error) {
      stats.errors += 1;
      say(`${state} session ${session} seq ${seq}: FAILED ${message(error)}`);
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
  // With the API's URL known now, the constraints are in place before the first event.
  if (typeof options.fenixUrl === 'string') {
    const { fenix, sim } = api();
    await ensureConstraints(fenix, sim);
  }

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
    constraints: pushed,
    settled,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(() => done(undefined)));
      await settled();
      if (options.deleteConstraintsOnStop && clients) {
        const { fenix } = clients;
        try {
          for (const id of pushed.instances.splice(0)) await fenix.deleteInstanceConstraint(id);
          for (const id of pushed.groups.splice(0)) await fenix.deleteInstanceGroup(id);
        } catch (error) {
          say(`constraints not deleted: ${message(error)}`);
        }
      }
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
      constraints: { type: 'string' },
      'no-constraints': { type: 'boolean', default: false },
      'delete-constraints-on-exit': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const usage =
    'usage: npx tsx examples/vnfm/vnfm.ts --project <id> [--fenix http://127.0.0.1:12347] [--port 12348] [--own-action | --live-migrate] [--token T | env FENIX_TOKEN] [--keystone-token] [--scale-in-count 1] [--constraints file.json | --no-constraints] [--delete-constraints-on-exit]';
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
  let constraints: VnfmConstraints | false | undefined;
  try {
    constraints = values['no-constraints']
      ? false
      : values.constraints
        ? vnfmConstraintsSchema.parse(JSON.parse(readFileSync(values.constraints, 'utf8')))
        : undefined;
  } catch (error) {
    console.error(
      `vnfm: --constraints ${values.constraints}: ${error instanceof z.ZodError ? z.prettifyError(error) : message(error)}`,
    );
    process.exit(2);
  }
  try {
    const vnfm = await startVnfm({
      fenixUrl: values.fenix,
      projectId: values.project,
      port,
      mode,
      scaleInCount,
      ...(constraints !== undefined ? { constraints } : {}),
      deleteConstraintsOnStop: values['delete-constraints-on-exit'],
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
