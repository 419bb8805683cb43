import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenStackClient } from '../../functions/adapters/openstack/client.js';
import { type CloudConfig, cloudFromFile } from '../../functions/adapters/openstack/clouds.js';
import { NovaCloud } from '../../functions/adapters/openstack/nova-cloud.js';
import type { CloudInstance } from '../../functions/core/model.js';

/**
 * The local test cloud of `npm run openstack:up` (DESIGN §13), as the tests and
 * `npm run openstack:servers` use it: the admin's driver, tenant project ids, and what only an
 * operator or a tenant does (boot a server on a host, disable a compute by hand), through the same
 * REST client the driver uses.
 */
export const CLOUDS_YAML = join(fileURLToPath(new URL('../..', import.meta.url)), '.openstack', 'clouds.yaml');

export const requireLocalCloud = () => {
  if (!existsSync(CLOUDS_YAML))
    throw new Error(`${CLOUDS_YAML} is missing: run \`npm run openstack:up\` first (it prints "OpenStack ready")`);
};

export const cloudEntry = (name: string): CloudConfig =>
  cloudFromFile(name, { OS_CLIENT_CONFIG_FILE: CLOUDS_YAML } as NodeJS.ProcessEnv);

const COMPUTE = { microversion: 'compute 2.88' };

export class LocalCloud {
  readonly admin = new OpenStackClient(cloudEntry('fenix-admin'));
  readonly driver = new NovaCloud(() => this.admin);
  /** The admin acting inside a tenant project (admin role there): may pin a server to a host. */
  private readonly inProject = new Map<string, OpenStackClient>();
  projectIds: Record<'vnf-a' | 'vnf-b', string> = { 'vnf-a': '', 'vnf-b': '' };
  private flavor = '';
  private image = '';

  async init(): Promise<this> {
    for (const name of ['vnf-a', 'vnf-b'] as const) {
      const tenant = new OpenStackClient(cloudEntry(name));
      this.projectIds[name] = (await tenant.projectId()) ?? '';
      const admin = cloudEntry('fenix-admin');
      this.inProject.set(
        this.projectIds[name],
        new OpenStackClient({ ...admin, auth: { ...admin.auth, project_name: name } }),
      );
    }
    const flavors = await this.admin.request<{ flavors: { id: string; name: string }[] }>(
      'compute',
      'GET',
      '/flavors',
      COMPUTE,
    );
    this.flavor = flavors.body.flavors.find((f) => f.name === 'fenix.small')?.id ?? '';
    const images = await this.admin.request<{ images: { id: string; name: string }[] }>(
      'image',
      'GET',
      '/v2/images?name=fenix-image',
    );
    this.image = images.body.images[0]?.id ?? '';
    if (!this.flavor || !this.image) throw new Error('the local cloud has no fenix.small flavor or fenix-image');
    return this;
  }

  async computes(): Promise<string[]> {
    return (await this.driver.listHosts()).filter((h) => h.type === 'compute').map((h) => h.name);
  }

  /** Boots a fenix.small server of `projectId` on `host` (admin-pinned) and waits until it is ACTIVE there. */
  async boot(projectId: string, host: string, name: string): Promise<CloudInstance> {
    const client = this.inProject.get(projectId);
    if (!client) throw new Error(`unknown project ${projectId}`);
    const created = await client.request<{ server: { id: string } }>('compute', 'POST', '/servers', {
      ...COMPUTE,
      body: {
        server: {
          name,
          flavorRef: this.flavor,
          imageRef: this.image,
          networks: 'none',
          availability_zone: `nova:${host}`,
        },
      },
    });
    const id = created.body.server.id;
    for (let i = 0; i < 300; i++) {
      const { body } = await this.admin.request<{ server: { status: string; fault?: { message: string } } }>(
        'compute',
        'GET',
        `/servers/${id}`,
        COMPUTE,
      );
      if (body.server.status === 'ACTIVE') return (await this.driver.getInstance(id)) as CloudInstance;
      if (body.server.status === 'ERROR')
        throw new Error(`server ${name} went to ERROR: ${body.server.fault?.message}`);
      await new Promise((done) => setTimeout(done, 200));
    }
    throw new Error(`server ${name} not ACTIVE after 60 s`);
  }

  /** Deletes servers and waits until Nova no longer lists them. */
  async remove(ids: string[]): Promise<void> {
    for (const id of ids)
      await this.admin.request('compute', 'DELETE', `/servers/${id}`, { ...COMPUTE, accept: [404] });
    for (const id of ids) {
      for (let i = 0; i < 300; i++) {
        const { status } = await this.admin.request('compute', 'GET', `/servers/${id}`, { ...COMPUTE, accept: [404] });
        if (status === 404) break;
        await new Promise((done) => setTimeout(done, 200));
      }
    }
  }

  /** Every server of the test projects (to leave the cloud empty). */
  async allServers(): Promise<CloudInstance[]> {
    return this.driver.listInstances();
  }

  /** An operator's own disable/enable of a compute, outside Fenix. */
  async setDisabled(host: string, disabled: boolean, reason: string): Promise<void> {
    const { body } = await this.admin.request<{ services: { id: string; binary: string }[] }>(
      'compute',
      'GET',
      `/os-services?host=${host}&binary=nova-compute`,
      COMPUTE,
    );
    const service = body.services[0];
    if (!service) throw new Error(`no nova-compute on ${host}`);
    await this.admin.request('compute', 'PUT', `/os-services/${service.id}`, {
      ...COMPUTE,
      body: disabled ? { status: 'disabled', disabled_reason: reason } : { status: 'enabled' },
    });
  }
}
