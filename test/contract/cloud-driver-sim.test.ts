import { afterAll } from 'vitest';
import { SimCloud } from '../../functions/adapters/sim-cloud.js';
import { dynamo } from '../../functions/shared/clients.js';
import { TABLE_NAME } from '../../local/runtime.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { cloudDriverContract } from './cloud-driver.js';

let t: TestRuntime | undefined;
afterAll(async () => t?.stop());

cloudDriverContract('simulated cloud (actions take 1 s, so they are polled)', async () => {
  t = await startTestRuntime({
    inventory: {
      hosts: [
        ...[1, 2, 3].map((n) => ({ name: `compute-${n}`, type: 'compute', vcpus: 8 })),
        { name: 'controller-1', type: 'controller' },
      ],
      instances: [],
    },
  });
  const sim = t.runtime.cloud;
  return {
    driver: new SimCloud(dynamo(), TABLE_NAME, { actionSeconds: 1 }),
    computes: ['compute-1', 'compute-2', 'compute-3'],
    controller: 'controller-1',
    projects: ['vnf-a', 'vnf-b'],
    createInstance: (project_id, host, name) => sim.createInstance({ name, project_id, vcpus: 2, host }),
    cleanup: async (ids) => {
      for (const id of ids) await sim.deleteInstance(id).catch(() => undefined);
    },
    operatorSetDisabled: (host, disabled, reason) => sim.setDisabled(host, disabled, reason),
    pollSeconds: 0.2,
  };
});
