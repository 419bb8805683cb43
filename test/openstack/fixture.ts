import { startVnfm, type Vnfm } from '../../examples/vnfm/vnfm.js';
import { OpenStackClient } from '../../functions/adapters/openstack/client.js';
import type { EventEnvelope } from '../../local/eventbridge-shim.js';
import { CLOUDS_YAML, cloudEntry, LocalCloud, requireLocalCloud } from '../../scripts/openstack/local-cloud.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

export interface OpenStackFixture {
  cloud: LocalCloud;
  fx: TestRuntime;
  projects: { a: string; b: string };
  /** The API as the admin (a Keystone token of fenix-admin with Keystone identity, else a local JWT). */
  api: TestRuntime['api'];
  /** Lines the sample VNFMs logged. */
  log: string[];
  /** Deletes every session (re-enabling what they disabled), then every server; every compute enabled. */
  reset: () => Promise<void>;
  /** Waits for the session's next MAINTENANCE_DONE or MAINTENANCE_FAILED from now on. */
  endOf: (sessionId: string, timeoutMs?: number) => Promise<EventEnvelope>;
  stop: () => Promise<void>;
}

/**
 * The local runtime on the local OpenStack (FENIX_CLOUD=openstack, OS_CLOUD=fenix-admin), with the
 * sample VNFMs of vnf-a (LIVE_MIGRATE) and vnf-b (MIGRATE) subscribed. The cloud starts empty,
 * every compute enabled; `stop` leaves it so.
 */
export const startOnLocalCloud = async (
  env: Record<string, string> = {},
  options: { keystoneAuth?: boolean } = {},
): Promise<OpenStackFixture> => {
  requireLocalCloud();
  const cloud = await new LocalCloud().init();
  const projects = { a: cloud.projectIds['vnf-a'], b: cloud.projectIds['vnf-b'] };
  const reset = async () => {
    await cloud.remove((await cloud.allServers()).map((s) => s.id));
    for (const host of await cloud.computes()) await cloud.setDisabled(host, false, '');
  };
  await reset();
  const tenants = {
    a: new OpenStackClient(cloudEntry('vnf-a')),
    b: new OpenStackClient(cloudEntry('vnf-b')),
  };
  const log: string[] = [];
  let fx: TestRuntime | undefined;
  const vnfms: Vnfm[] = [];
  for (const [key, mode] of [
    ['a', 'live_migrate'],
    ['b', 'migrate'],
  ] as const) {
    vnfms.push(
      await startVnfm({
        fenixUrl: () => (fx as TestRuntime).url,
        // With Keystone identity, each VNFM uses its project's own Keystone credentials.
        ...(options.keystoneAuth
          ? { token: () => tenants[key].authToken(), tokenType: 'keystone' as const }
          : { token: () => (fx as TestRuntime).runtime.token({ project: projects[key] }) }),
        projectId: projects[key],
        mode,
        log: (line) => log.push(line),
        backoffMs: 50,
      }),
    );
  }
  fx = await startTestRuntime({
    ...(options.keystoneAuth
      ? { auth: { mode: 'keystone', keystoneUrl: cloudEntry('fenix-admin').auth.auth_url } }
      : {}),
    subscriptions: vnfms.map((vnfm, i) => ({
      pattern: {
        source: ['fenix'],
        'detail-type': ['maintenance.scheduled'],
        detail: { project_id: [i === 0 ? projects.a : projects.b] },
      },
      url: vnfm.url,
    })),
    env: {
      FENIX_CLOUD: 'openstack',
      OS_CLOUD: 'fenix-admin',
      OS_CLIENT_CONFIG_FILE: CLOUDS_YAML,
      FENIX_PROJECT_MAINTENANCE_REPLY: '4',
      FENIX_PROJECT_SCALE_IN_REPLY: '4',
      FENIX_EMPTY_CHECK_SECONDS: '1',
      FENIX_EMPTY_CHECK_ATTEMPTS: '10',
      FENIX_ACTION_POLL_SECONDS: '1',
      FENIX_ACTION_TIMEOUT_SECONDS: '120',
      ...env,
    },
  });
  const running = fx;
  const adminHeaders = async (): Promise<Record<string, string>> =>
    options.keystoneAuth ? { authorization: '', 'x-auth-token': await cloud.admin.authToken() } : {};
  return {
    cloud,
    fx: running,
    projects,
    api: async (method, path, body, headers = {}) =>
      running.api(method, path, body, { ...(await adminHeaders()), ...headers }),
    log,
    endOf: (sessionId, timeoutMs = 240_000) =>
      running.waitForEvent(
        (e) =>
          e['detail-type'] === 'maintenance.session' &&
          e.detail.session_id === sessionId &&
          ['MAINTENANCE_DONE', 'MAINTENANCE_FAILED'].includes(e.detail.state as string),
        timeoutMs,
        running.events.length,
      ),
    reset: async () => {
      const { body } = await running.api('GET', '/v1/maintenance', undefined, await adminHeaders());
      for (const id of body.session_id as string[])
        await running.api('DELETE', `/v1/maintenance/${id}`, undefined, await adminHeaders());
      await reset();
    },
    stop: async () => {
      await running.stop();
      for (const vnfm of vnfms) await vnfm.stop();
      await reset();
    },
  };
};
