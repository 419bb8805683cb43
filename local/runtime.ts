import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import './dynalite-fix.js';
import { cloudFromFile } from '../functions/adapters/openstack/clouds.js';
import { KeystoneTokens } from '../functions/adapters/openstack/keystone-tokens.js';
import { bearerAuthenticator, createGateway, keystoneAuthenticator, type Route } from './api-gateway.js';
import { startAwsJsonServer } from './aws-json-server.js';
import { LocalEventBridge, loadSubscriptions } from './eventbridge-shim.js';
import { LocalKeys, type TokenRequest } from './jwt.js';
import { type LocalFunction, LocalStepFunctions } from './sfn-shim.js';
import { simApi } from './sim-api.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEMO_INVENTORY = join(ROOT, 'local', 'demo-inventory.json');
export const TABLE_NAME = 'fenix';
export const BUS_NAME = 'fenix';

export interface RuntimeOptions {
  /** API port; 0 picks a free one. */
  port: number;
  dataDir: string;
  /** Inventory file of the simulated cloud; the built-in demo inventory when undefined. */
  inventoryFile?: string;
  subscriptionsFile?: string;
  /** Extra environment for the handlers (reply windows, check intervals …), as Lambda env would be. */
  env?: Record<string, string>;
  /** Extra action plug-ins (name → handler), besides the modules under functions/plugins/. */
  plugins?: Record<string, LocalFunction>;
  log?: (line: string) => void;
  /** How callers authenticate. @default local JWTs (`{mode: 'jwt'}`) */
  auth?: RuntimeAuth;
}

/**
 * `jwt`: bearer tokens this runtime signs (`npm run token`), checked as API Gateway's JWT authorizer
 * checks them. `keystone`: `X-Auth-Token: <Keystone token>`, validated against Keystone at
 * `keystoneUrl` (its identity endpoint, `…/v3`), as the Keystone Lambda authorizer does in AWS.
 */
export type RuntimeAuth = { mode: 'jwt' } | { mode: 'keystone'; keystoneUrl: string };

/** `FENIX_AUTH` (`jwt`, the default, or `keystone`) and, with `keystone`, `FENIX_KEYSTONE_URL`. */
export const authFromEnv = (env: NodeJS.ProcessEnv = process.env): RuntimeAuth => {
  const mode = env.FENIX_AUTH || 'jwt';
  if (mode === 'jwt') return { mode };
  if (mode !== 'keystone') throw new Error(`FENIX_AUTH must be jwt or keystone, not "${mode}"`);
  // The Keystone of the cloud being maintained, unless another is named.
  const keystoneUrl = env.FENIX_KEYSTONE_URL || (env.OS_CLOUD ? cloudFromFile(env.OS_CLOUD, env).auth.auth_url : '');
  if (!keystoneUrl) {
    throw new Error(
      "FENIX_AUTH=keystone needs FENIX_KEYSTONE_URL (Keystone's identity endpoint, e.g. http://127.0.0.1:5000/v3) or OS_CLOUD (its clouds.yaml entry's auth_url is used)",
    );
  }
  return { mode, keystoneUrl };
};

const listen = (server: Server, port: number): Promise<number> =>
  new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });

/**
 * The whole product on one machine: dynalite (persisted), the SFN and EventBridge shims, and an
 * HTTP gateway calling the same handler exports Lambda runs. Handlers find the emulators only
 * through AWS_ENDPOINT_URL_*, exactly as they find AWS in the cloud.
 */
export const startRuntime = async (options: RuntimeOptions) => {
  const log = options.log ?? ((line: string) => console.log(line));
  // Checked before anything starts: a bad Keystone URL is a configuration error, not a 503 later.
  const keystone =
    options.auth?.mode === 'keystone' ? new KeystoneTokens({ url: options.auth.keystoneUrl }) : undefined;
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'dynamodb'), { recursive: true });

  const dynamo = dynalite({ path: join(dataDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynamoPort = await listen(dynamo, 0);

  const subscriptions = options.subscriptionsFile ? loadSubscriptions(options.subscriptionsFile) : [];
  const bus = new LocalEventBridge(subscriptions, join(dataDir, 'events.ndjson'));
  const eventServer = await startAwsJsonServer('EventBridge', bus.operations);

  const functions = new Map<string, LocalFunction>();
  const sfn = new LocalStepFunctions(functions);
  const sfnServer = await startAwsJsonServer('SFN', sfn.operations);

  const api = createServer();
  // Requests Node's parser refuses (unknown method, oversized headers) still get the error shape.
  api.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({
      error: tooLarge ? 'headers_too_large' : 'bad_request',
      message: tooLarge ? 'request headers are too large' : 'malformed HTTP request',
    });
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  const apiPort = await listen(api, options.port);
  const url = `http://127.0.0.1:${apiPort}`;

  const plugins = readdirSync(join(ROOT, 'functions', 'plugins'))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => basename(file, '.ts'))
    .concat(Object.keys(options.plugins ?? {}));
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${dynamoPort}`,
    AWS_ENDPOINT_URL_SFN: sfnServer.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventServer.url,
    TABLE_NAME,
    EVENT_BUS_NAME: BUS_NAME,
    STATE_MACHINE_ARN: sfn.stateMachineArn('fenix-session'),
    API_BASE_URL: url,
    FENIX_ARTIFACTS_DIR: join(dataDir, 'artifacts'),
    FENIX_PLUGINS: JSON.stringify(Object.fromEntries(plugins.map((name) => [name, `fenix-plugin-${name}`]))),
    ...options.env,
  });

  // Imported only now: the handlers build their SDK clients from the environment set above.
  const { handler: workflow } = await import('../functions/workflow/handler.js');
  functions.set('fenix-workflow', (payload) => workflow(payload));
  for (const [name, handler] of Object.entries(options.plugins ?? {})) functions.set(`fenix-plugin-${name}`, handler);
  for (const name of plugins.filter((plugin) => !options.plugins?.[plugin])) {
    const module = (await import(
      /* @vite-ignore */ pathToFileURL(join(ROOT, 'functions', 'plugins', `${name}.ts`)).href
    )) as { handler: LocalFunction };
    functions.set(`fenix-plugin-${name}`, (payload) => module.handler(payload));
  }
  const hostMachine = sfn.register('fenix-host', join(ROOT, 'statemachines', 'host.asl.json'), {
    WorkflowFunctionArn: 'fenix-workflow',
  });
  sfn.register('fenix-session', join(ROOT, 'statemachines', 'session.asl.json'), {
    WorkflowFunctionArn: 'fenix-workflow',
    HostStateMachineArn: hostMachine,
  });

  await createTable(`http://127.0.0.1:${dynamoPort}`);
  const { dynamo: documentClient } = await import('../functions/shared/clients.js');
  const { SimCloud } = await import('../functions/adapters/sim-cloud.js');
  const { DynamoSessionStore } = await import('../functions/adapters/dynamo/session-store.js');
  const cloud = new SimCloud(documentClient(), TABLE_NAME);
  const store = DynamoSessionStore(documentClient(), TABLE_NAME);
  // FENIX_CLOUD=openstack: the handlers maintain the Nova of OS_CLOUD; the simulator and its API stay off.
  const openstack = process.env.FENIX_CLOUD === 'openstack';
  if (openstack) await checkOpenStack(log);
  else await loadInventory(options.inventoryFile ?? DEMO_INVENTORY, cloud, store, documentClient(), log);

  // Executions live in memory: every session that was running when the runtime stopped (or was
  // killed) continues in a fresh execution from its persisted state.
  const { startExecutionFrom } = await import('../functions/core/sessions.js');
  const { defaultDeps } = await import('../functions/shared/deps.js');
  for (const id of await store.listActiveSessionIds()) {
    const session = await store.getSession(id);
    if (!session) continue;
    await startExecutionFrom(session, session.state, defaultDeps());
    log(`fenix: resumed session ${id} in ${session.state}`);
  }

  const keys = LocalKeys.load(dataDir);
  const routes = await apiRoutes();
  api.on(
    'request',
    createGateway(
      routes,
      keystone ? keystoneAuthenticator(keystone) : bearerAuthenticator((token) => keys.verify(token)),
      openstack ? undefined : simApi(cloud),
    ),
  );

  const stop = async () => {
    // Stop taking requests and let those in flight finish, then stop the executions and let their
    // running steps finish, before the emulators they talk to go away.
    const apiClosed = new Promise((done) => api.close(() => done(undefined)));
    api.closeIdleConnections();
    await apiClosed;
    await sfn.stopAll();
    await sfn.settled();
    await bus.flush();
    for (const server of [sfnServer.server, eventServer.server, dynamo]) {
      server.closeAllConnections?.();
      await new Promise((done) => server.close(() => done(undefined)));
    }
  };
  /** Mints a token for this runtime (tests, the demo); `npm run token` does the same from a shell. */
  const token = (request: TokenRequest) => keys.issue(request);
  /** Where the runtime validates Keystone tokens (`…/v3`), when callers authenticate with them. */
  const keystoneEndpoint = keystone?.endpoint;
  return { url, port: apiPort, dataDir, sfn, bus, cloud, store, token, keystoneEndpoint, stop };
};

export type Runtime = Awaited<ReturnType<typeof startRuntime>>;

/** Every API route and the handler module behind it (static specifiers, so bundlers and vitest follow them). */
const API_ROUTES = [
  ['POST', '/v1/maintenance', () => import('../functions/api/create-session.js')],
  ['GET', '/v1/maintenance', () => import('../functions/api/list-sessions.js')],
  ['GET', '/v1/maintenance/{session_id}', () => import('../functions/api/get-session.js')],
  ['PUT', '/v1/maintenance/{session_id}', () => import('../functions/api/update-session.js')],
  // The API document names POST for update: the same handler.
  ['POST', '/v1/maintenance/{session_id}', () => import('../functions/api/update-session.js')],
  ['DELETE', '/v1/maintenance/{session_id}', () => import('../functions/api/delete-session.js')],
  ['GET', '/v1/maintenance/{session_id}/detail', () => import('../functions/api/get-session-detail.js')],
  ['GET', '/v1/maintenance/{session_id}/{project_id}', () => import('../functions/api/get-project.js')],
  ['PUT', '/v1/maintenance/{session_id}/{project_id}', () => import('../functions/api/put-project-reply.js')],
  [
    'PUT',
    '/v1/maintenance/{session_id}/{project_id}/{instance_id}',
    () => import('../functions/api/put-instance-reply.js'),
  ],
  // Instance constraints (DESIGN §12), apart from sessions.
  ['PUT', '/v1/instance/{instance_id}', () => import('../functions/api/put-instance-constraint.js')],
  ['GET', '/v1/instance/{instance_id}', () => import('../functions/api/get-instance-constraint.js')],
  ['DELETE', '/v1/instance/{instance_id}', () => import('../functions/api/delete-instance-constraint.js')],
  ['PUT', '/v1/instance_group/{group_id}', () => import('../functions/api/put-instance-group.js')],
  ['GET', '/v1/instance_group/{group_id}', () => import('../functions/api/get-instance-group.js')],
  ['DELETE', '/v1/instance_group/{group_id}', () => import('../functions/api/delete-instance-group.js')],
  ['GET', '/v1/openapi.json', () => import('../functions/api/get-openapi.js')],
] as const;

/** A handler module: the Lambda export, and the factory that builds it from other dependencies. */
export interface ApiModule {
  handler: unknown;
  makeHandler: (deps: never) => unknown;
}

/**
 * The gateway's routes. Each serves its module's Lambda `handler`, or what `handlerOf` makes of the
 * module (the contract test wires every route to dependencies that fail).
 */
export const apiRoutes = async (
  handlerOf: (module: ApiModule, path: string) => unknown = (module) => module.handler,
): Promise<Route[]> =>
  Promise.all(
    API_ROUTES.map(async ([method, path, load]) => ({
      method,
      path,
      handler: handlerOf((await load()) as ApiModule, path) as Route['handler'],
    })),
  );

const createTable = async (endpoint: string) => {
  const client = new DynamoDBClient({ endpoint });
  const index = (name: string) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: `${name}pk`, KeyType: 'HASH' as const },
      { AttributeName: `${name}sk`, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: TABLE_NAME,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk'].map((name) => ({
          AttributeName: name,
          AttributeType: 'S' as const,
        })),
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [index('gsi1'), index('gsi2')],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error; // the table survives restarts
  }
  // dynalite activates a new table on a timer: wait for it, as a real client would.
  await waitUntilTableExists(
    { client, maxWaitTime: 30, minDelay: 0.05 as never, maxDelay: 0.2 as never },
    { TableName: TABLE_NAME },
  );
  client.destroy();
};

/** Reaches the OpenStack cloud once at start, so a wrong clouds.yaml entry fails here, not in a session. */
const checkOpenStack = async (log: (line: string) => void) => {
  const { novaCloud } = await import('../functions/shared/clients.js');
  const hosts = await novaCloud().listHosts();
  const computes = hosts.filter((host) => host.type === 'compute');
  log(
    `fenix: OpenStack cloud ${process.env.OS_CLOUD ?? '(from FENIX_OPENSTACK_SECRET_ARN)'}: ${computes.length} computes (${computes.filter((h) => h.disabled).length} disabled), ${hosts.length - computes.length} controllers`,
  );
};

/**
 * Loads the inventory into the simulated cloud when it changed since the last start (its hash is
 * kept), so a restart keeps the cloud as the sessions left it, and a new inventory file takes effect.
 */
const loadInventory = async (
  file: string,
  cloud: import('../functions/adapters/sim-cloud.js').SimCloud,
  store: import('../functions/adapters/dynamo/session-store.js').DynamoSessionStore,
  db: import('@aws-sdk/lib-dynamodb').DynamoDBDocumentClient,
  log: (line: string) => void,
) => {
  const text = readFileSync(file, 'utf8');
  const hash = createHash('sha256').update(text).digest('hex');
  const key = { pk: 'LOCAL#META', sk: 'INVENTORY' };
  const current = await db.send(new GetCommand({ TableName: TABLE_NAME, Key: key }));
  if (current.Item?.hash === hash) return;
  if ((await store.listActiveSessionIds()).length > 0) {
    log(`fenix: ${file} changed, but sessions are running; keeping the simulated cloud as it is`);
    return;
  }
  const inventory = await cloud.load(JSON.parse(text)).catch((error: Error) => {
    throw new Error(`${file}: ${error.message}`);
  });
  await db.send(new PutCommand({ TableName: TABLE_NAME, Item: { ...key, hash, file } }));
  log(
    `fenix: simulated cloud loaded from ${file} (${inventory.hosts.length} hosts, ${inventory.instances.length} instances)`,
  );
};
