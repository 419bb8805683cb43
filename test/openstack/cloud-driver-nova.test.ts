import { LocalCloud, requireLocalCloud } from '../../scripts/openstack/local-cloud.js';
import { cloudDriverContract } from '../contract/cloud-driver.js';

cloudDriverContract('OpenStack Nova (the local test cloud)', async () => {
  requireLocalCloud();
  const cloud = await new LocalCloud().init();
  const hosts = await cloud.driver.listHosts();
  const controller = hosts.find((h) => h.type === 'controller')?.name;
  if (!controller) throw new Error('the local cloud reports no controller (nova-conductor host)');
  const computes = await cloud.computes();
  // The contract starts from an empty cloud with every compute enabled.
  await cloud.remove((await cloud.allServers()).map((s) => s.id));
  for (const host of computes) await cloud.setDisabled(host, false, '');
  return {
    driver: cloud.driver,
    computes,
    controller,
    projects: [cloud.projectIds['vnf-a'], cloud.projectIds['vnf-b']],
    createInstance: (project, host, name) => cloud.boot(project, host, name),
    cleanup: (ids) => cloud.remove(ids),
    operatorSetDisabled: (host, disabled, reason) => cloud.setDisabled(host, disabled, reason),
    pollSeconds: 0.5,
  };
});
