/**
 * `npm run openstack:servers -- [count]`: boots `count` (default 6) fenix.small servers on the local
 * test cloud, alternately for vnf-a and vnf-b, spread over the computes, so there is something to
 * maintain. Prints each server, its project id and host.
 */
import { LocalCloud, requireLocalCloud } from './local-cloud.js';

const count = Number(process.argv[2] ?? 6);
if (!Number.isInteger(count) || count < 1 || count > 64) {
  console.error('usage: npm run openstack:servers -- [count 1..64]');
  process.exit(2);
}
try {
  requireLocalCloud();
  const cloud = await new LocalCloud().init();
  const computes = await cloud.computes();
  const projects = Object.entries(cloud.projectIds);
  console.log(`projects: ${projects.map(([name, id]) => `${name} = ${id}`).join(', ')}`);
  const existing = (await cloud.allServers()).length;
  for (let i = 0; i < count; i++) {
    const [name, id] = projects[i % projects.length] as [string, string];
    const host = computes[i % computes.length] as string;
    const server = await cloud.boot(id, host, `${name}-${existing + i + 1}`);
    console.log(`${server.name}  ${server.id}  ${name}  ${server.host}`);
  }
} catch (error) {
  console.error(`openstack:servers: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
