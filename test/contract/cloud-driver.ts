import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudAction, CloudInstance } from '../../functions/core/model.js';
import type { ActionProgress, CloudDriver } from '../../functions/core/ports.js';

/**
 * The one contract every cloud driver passes (DESIGN §13): run against the simulated cloud in
 * `npm test`, and against a real Nova in `npm run test:openstack`. A fixture gives the driver and
 * the few things only an operator or a tenant can do to that cloud.
 */
export interface DriverFixture {
  driver: CloudDriver;
  /** Three or more computes, each with room for a few small instances. */
  computes: string[];
  /** A host the driver reports as a controller. */
  controller: string;
  /** Two projects (ids as the cloud knows them). */
  projects: [string, string];
  /** Boots an instance of `project` on `host` and waits until it runs there. */
  createInstance(project: string, host: string, name: string): Promise<CloudInstance>;
  /** Removes what the tests made (instances), whatever state they are in. */
  cleanup(ids: string[]): Promise<void>;
  /** An operator disables or enables a host outside Fenix. */
  operatorSetDisabled(host: string, disabled: boolean, reason: string): Promise<void>;
  /** Seconds between polls of an action. */
  pollSeconds: number;
}

/** Starts an action and polls it to its end, as the workflow does (a refusal at start counts as FAILED). */
export const runAction = async (
  driver: CloudDriver,
  instance: CloudInstance,
  action: CloudAction['action'],
  pollSeconds: number,
  target?: string,
): Promise<ActionProgress> => {
  const record: CloudAction = {
    instance_id: instance.id,
    project_id: instance.project_id,
    action,
    from: instance.host,
    started_at: new Date().toISOString(),
    status: 'RUNNING',
  };
  try {
    Object.assign(record, await driver.startAction(instance, action, target));
  } catch (error) {
    return { status: 'FAILED', reason: error instanceof Error ? error.message : String(error) };
  }
  for (let poll = 0; poll < 600 / pollSeconds; poll++) {
    const progress = await driver.pollAction(record);
    if (progress.status !== 'RUNNING') return progress;
    if (progress.driver) record.driver = progress.driver;
    await new Promise((done) => setTimeout(done, pollSeconds * 1000));
  }
  throw new Error(`${action} of ${instance.id} still running after 600 s`);
};

export const cloudDriverContract = (name: string, setup: () => Promise<DriverFixture>) => {
  describe(`cloud driver contract: ${name}`, () => {
    let f: DriverFixture;
    const made: string[] = [];
    const reason = 'fenix maintenance 00000000-0000-4000-8000-000000000001';
    const boot = async (project: string, host: string) => {
      const instance = await f.createInstance(project, host, `contract-${made.length + 1}`);
      made.push(instance.id);
      return instance;
    };

    beforeAll(async () => {
      f = await setup();
    }, 300_000);
    afterAll(async () => {
      if (!f) return;
      for (const host of f.computes) await f.operatorSetDisabled(host, false, '');
      await f.cleanup(made);
    }, 300_000);

    it('discovers computes with their capacity, and controllers', async () => {
      const hosts = await f.driver.listHosts();
      for (const name of f.computes) {
        const host = hosts.find((h) => h.name === name);
        expect(host, name).toMatchObject({ type: 'compute', disabled: false });
        expect(host?.vcpus).toBeGreaterThan(0);
      }
      expect(hosts.find((h) => h.name === f.controller)?.type).toBe('controller');
      const [one, missing] = await f.driver.getHosts([f.computes[0] as string, 'no-such-host']);
      expect(one?.name).toBe(f.computes[0]);
      expect(missing).toBeUndefined();
    });

    it('counts an instance in its host usage, lists it by host and by project, and finds it by id', async () => {
      const host = f.computes[0] as string;
      const before = (await f.driver.getHost(host))?.used_vcpus ?? 0;
      const instance = await boot(f.projects[0], host);
      expect(instance.host).toBe(host);
      expect((await f.driver.getHost(host))?.used_vcpus).toBe(before + instance.vcpus);
      expect((await f.driver.listInstancesOnHost(host)).map((i) => i.id)).toContain(instance.id);
      const mine = await f.driver.listInstances(f.projects[0]);
      expect(mine.find((i) => i.id === instance.id)).toMatchObject({ project_id: f.projects[0], host });
      expect((await f.driver.listInstances(f.projects[1])).map((i) => i.id)).not.toContain(instance.id);
      expect(await f.driver.getInstance(instance.id)).toMatchObject({ id: instance.id, vcpus: instance.vcpus });
      expect(await f.driver.getInstance('00000000-0000-4000-8000-00000000dead')).toBeUndefined();
    });

    it('disables with a reason, and enables only what it disabled', async () => {
      const [a, b] = f.computes as [string, string];
      expect(await f.driver.disableHost(a, reason)).toBe(true);
      expect(await f.driver.getHost(a)).toMatchObject({ disabled: true, disabled_reason: reason });
      expect(await f.driver.disableHost(a, reason)).toBe(false);
      expect(await f.driver.enableHost(a, 'fenix maintenance another-session')).toBe(false);
      expect((await f.driver.getHost(a))?.disabled).toBe(true);
      expect(await f.driver.enableHost(a, reason)).toBe(true);
      expect((await f.driver.getHost(a))?.disabled).toBe(false);
      // A host an operator disabled keeps its state and reason whatever Fenix asks.
      await f.operatorSetDisabled(b, true, 'broken fan');
      expect(await f.driver.disableHost(b, reason)).toBe(false);
      expect(await f.driver.enableHost(b, reason)).toBe(false);
      expect(await f.driver.getHost(b)).toMatchObject({ disabled: true, disabled_reason: 'broken fan' });
      await f.operatorSetDisabled(b, false, '');
      expect((await f.driver.getHost(b))?.disabled).toBe(false);
    });

    it('carries out MIGRATE, LIVE_MIGRATE (to a host, or where the cloud chooses) and EVICTION to the end', async () => {
      const [a, b, c] = f.computes as [string, string, string];
      const one = await boot(f.projects[0], a);
      const migrated = await runAction(f.driver, one, 'MIGRATE', f.pollSeconds, b);
      expect(migrated).toEqual({ status: 'DONE', host: b });
      expect((await f.driver.getInstance(one.id))?.host).toBe(b);

      const moved = (await f.driver.getInstance(one.id)) as CloudInstance;
      const live = await runAction(f.driver, moved, 'LIVE_MIGRATE', f.pollSeconds, c);
      expect(live).toEqual({ status: 'DONE', host: c });

      const two = await boot(f.projects[1], a);
      const chosen = await runAction(f.driver, two, 'LIVE_MIGRATE', f.pollSeconds);
      expect(chosen.status).toBe('DONE');
      expect(chosen.status === 'DONE' && chosen.host).not.toBe(a);
      const cold = await runAction(
        f.driver,
        (await f.driver.getInstance(two.id)) as CloudInstance,
        'MIGRATE',
        f.pollSeconds,
      );
      expect(cold.status).toBe('DONE');

      const three = await boot(f.projects[1], a);
      expect(await runAction(f.driver, three, 'EVICTION', f.pollSeconds)).toEqual({ status: 'DONE' });
      expect(await f.driver.getInstance(three.id)).toBeUndefined();
    });

    it('reports a move that cannot succeed as FAILED, naming why, and leaves the instance where it was', async () => {
      const [a, ...others] = f.computes as [string, ...string[]];
      const instance = await boot(f.projects[0], a);
      for (const host of others) await f.operatorSetDisabled(host, true, 'contract: no room anywhere');
      try {
        for (const action of ['MIGRATE', 'LIVE_MIGRATE'] as const) {
          const result = await runAction(f.driver, instance, action, f.pollSeconds);
          expect(result.status, action).toBe('FAILED');
          expect(result.status === 'FAILED' && result.reason.length, action).toBeGreaterThan(10);
          expect((await f.driver.getInstance(instance.id))?.host, action).toBe(a);
        }
      } finally {
        for (const host of others) await f.operatorSetDisabled(host, false, '');
      }
    });

    it('finds a host empty once every instance has left it', async () => {
      const host = f.computes[1] as string;
      for (const instance of await f.driver.listInstancesOnHost(host)) {
        const result = await runAction(f.driver, instance, 'EVICTION', f.pollSeconds);
        expect(result.status).toBe('DONE');
      }
      const instance = await boot(f.projects[0], host);
      expect((await f.driver.listInstancesOnHost(host)).length).toBe(1);
      expect((await runAction(f.driver, instance, 'LIVE_MIGRATE', f.pollSeconds)).status).toBe('DONE');
      expect(await f.driver.listInstancesOnHost(host)).toEqual([]);
      expect((await f.driver.getHost(host))?.used_vcpus).toBe(0);
    });
  });
};
