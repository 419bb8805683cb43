import { mapLimit } from '../../core/concurrency.js';
import { ConflictError } from '../../core/errors.js';
import type { CloudAction, CloudHost, CloudInstance } from '../../core/model.js';
import type { ActionProgress, CloudDriver } from '../../core/ports.js';
import { type OpenStackClient, OpenStackError } from './client.js';

/**
 * The OpenStack Nova driver (DESIGN §13): hosts from `os-services` (nova-compute → compute,
 * nova-conductor → controller, as Fenix decides), capacity from placement, servers across
 * projects, disable/enable by service id with a reason, and the instance actions as Nova carries
 * them out: asynchronously, followed by polls.
 */

/** The newest compute microversion this driver is written against; 2.53 is the least it needs. */
const WANTED = [2, 88] as const;
const LEAST = [2, 53] as const;
const PLACEMENT = 'placement 1.10';

interface Service {
  id: string;
  binary: string;
  host: string;
  status: 'enabled' | 'disabled';
  state: 'up' | 'down';
  disabled_reason: string | null;
}

interface Server {
  id: string;
  name: string;
  tenant_id: string;
  status: string;
  'OS-EXT-SRV-ATTR:host': string | null;
  'OS-EXT-STS:task_state': string | null;
  flavor: { vcpus: number };
  fault?: { message: string; code: number; details?: string };
}

interface Hypervisor {
  id: string;
  hypervisor_hostname: string;
  service: { host: string };
}

type Version = readonly [number, number];
const parseVersion = (text: string): Version => {
  const [major = 0, minor = 0] = text.split('.').map(Number);
  return [major, minor];
};
const atLeast = (a: Version, b: Version) => a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);

export class NovaCloud implements CloudDriver {
  private version?: Promise<Version>;
  private client?: Promise<OpenStackClient>;

  /** `connect` is called once, on the first call that needs the cloud (AWS reads a secret first). */
  constructor(private readonly connect: () => Promise<OpenStackClient> | OpenStackClient) {}

  private os(): Promise<OpenStackClient> {
    this.client ??= Promise.resolve()
      .then(this.connect)
      .catch((error) => {
        this.client = undefined;
        throw error;
      });
    return this.client;
  }

  // ---------------------------------------------------------------- plumbing

  /** Microversion negotiation: the newest both sides know, refusing a Nova older than 2.53. */
  private microversion(): Promise<Version> {
    this.version ??= (async () => {
      // The versioned endpoint (…/v2.1) describes itself: `version` is the newest microversion.
      const { body } = await (await this.os()).request<{ version?: { version?: string } }>('compute', 'GET', '');
      const max = body.version?.version;
      if (!max) throw new OpenStackError(0, 'nova', 'GET /', 'the compute endpoint named no microversion');
      const server = parseVersion(max);
      if (!atLeast(server, LEAST))
        throw new OpenStackError(0, 'nova', 'GET /', `Nova offers microversion ${max}; Fenix needs 2.53 or newer`);
      return atLeast(server, WANTED) ? WANTED : server;
    })().catch((error) => {
      this.version = undefined;
      throw error;
    });
    return this.version;
  }

  private async nova<T>(
    method: string,
    path: string,
    options: { body?: unknown; accept?: number[]; retryConflict?: boolean } = {},
  ) {
    const [major, minor] = await this.microversion();
    return (await this.os()).request<T>('compute', method, path, {
      ...options,
      microversion: `compute ${major}.${minor}`,
    });
  }

  private async placement<T>(path: string) {
    return (await this.os()).request<T>('placement', 'GET', path, { microversion: PLACEMENT });
  }

  private async services(host?: string): Promise<Service[]> {
    const query = host ? `?host=${encodeURIComponent(host)}` : '';
    return (await this.nova<{ services: Service[] }>('GET', `/os-services${query}`)).body.services;
  }

  private async computeService(host: string): Promise<Service | undefined> {
    return (await this.services(host)).find((service) => service.binary === 'nova-compute');
  }

  // ---------------------------------------------------------------- hosts

  async listHosts(): Promise<CloudHost[]> {
    return this.hostsFrom(await this.services());
  }

  async getHosts(names: string[]): Promise<(CloudHost | undefined)[]> {
    const wanted = new Set(names);
    const hosts = await this.hostsFrom((await this.services()).filter((service) => wanted.has(service.host)));
    return names.map((name) => hosts.find((host) => host.name === name));
  }

  async getHost(name: string): Promise<CloudHost | undefined> {
    return (await this.hostsFrom(await this.services(name)))[0];
  }

  /**
   * Hosts from their services: a host running nova-compute is a compute (its disabled state is that
   * service's), one running only nova-conductor a controller. Capacity of a compute comes from its
   * placement resource provider (the compute node's uuid = the hypervisor id from 2.53):
   * VCPU total × allocation_ratio − reserved, and the VCPU in use.
   */
  private async hostsFrom(services: Service[]): Promise<CloudHost[]> {
    const computes = services.filter((s) => s.binary === 'nova-compute');
    const controllers = services.filter(
      (s) => s.binary === 'nova-conductor' && !computes.some((c) => c.host === s.host),
    );
    const nodes =
      computes.length === 0
        ? []
        : (await this.nova<{ hypervisors: Hypervisor[] }>('GET', '/os-hypervisors/detail')).body.hypervisors;
    const capacity = await mapLimit(computes, 8, async (service) => {
      const node = nodes.find((n) => n.service.host === service.host);
      if (!node) return { vcpus: 0, used: 0 };
      const [inventories, usages] = await Promise.all([
        this.placement<{ inventories: Record<string, { total: number; reserved: number; allocation_ratio: number }> }>(
          `/resource_providers/${node.id}/inventories`,
        ),
        this.placement<{ usages: Record<string, number> }>(`/resource_providers/${node.id}/usages`),
      ]);
      const vcpu = inventories.body.inventories.VCPU;
      return {
        vcpus: vcpu ? Math.floor(vcpu.total * vcpu.allocation_ratio) - vcpu.reserved : 0,
        used: usages.body.usages.VCPU ?? 0,
      };
    });
    const hosts = new Map<string, CloudHost>();
    computes.forEach((service, index) => {
      hosts.set(service.host, {
        name: service.host,
        type: 'compute',
        vcpus: capacity[index]?.vcpus ?? 0,
        used_vcpus: capacity[index]?.used ?? 0,
        disabled: service.status === 'disabled',
        ...(service.disabled_reason ? { disabled_reason: service.disabled_reason } : {}),
        maintained: false,
      });
    });
    for (const service of controllers) {
      if (!hosts.has(service.host))
        hosts.set(service.host, {
          name: service.host,
          type: 'controller',
          vcpus: 0,
          used_vcpus: 0,
          disabled: false,
          maintained: false,
        });
    }
    return [...hosts.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Disables the host's nova-compute service (so the scheduler places nothing there) with our
   * reason. One already disabled is left alone. A controller has no scheduling switch: nothing to do.
   */
  async disableHost(name: string, reason: string): Promise<boolean> {
    const service = await this.computeService(name);
    if (!service) return true;
    if (service.status === 'disabled') return false;
    await this.nova('PUT', `/os-services/${service.id}`, {
      body: { status: 'disabled', disabled_reason: reason },
      retryConflict: true,
    });
    return true;
  }

  async enableHost(name: string, reason: string): Promise<boolean> {
    const service = await this.computeService(name);
    if (!service) return true;
    if (service.status !== 'disabled' || service.disabled_reason !== reason) return false;
    await this.nova('PUT', `/os-services/${service.id}`, { body: { status: 'enabled' }, retryConflict: true });
    return true;
  }

  // ---------------------------------------------------------------- instances

  private toInstance = (server: Server): CloudInstance => ({
    id: server.id,
    name: server.name,
    project_id: server.tenant_id,
    host: server['OS-EXT-SRV-ATTR:host'] ?? '',
    vcpus: server.flavor.vcpus,
  });

  /** Every page of `/servers/detail` across projects (any status, deleted ones excluded by Nova). */
  private async servers(filter: string): Promise<Server[]> {
    const all: Server[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = (
        await this.nova<{ servers: Server[] }>(
          'GET',
          `/servers/detail?all_tenants=1&limit=1000&${filter}${marker ? `&marker=${marker}` : ''}`,
        )
      ).body.servers;
      all.push(...page);
      if (page.length < 1000) return all;
      marker = page[page.length - 1]?.id;
    }
  }

  async listInstancesOnHost(host: string): Promise<CloudInstance[]> {
    return (await this.servers(`host=${encodeURIComponent(host)}`)).map(this.toInstance);
  }

  async listInstances(projectId?: string): Promise<CloudInstance[]> {
    return (await this.servers(projectId ? `project_id=${encodeURIComponent(projectId)}` : '')).map(this.toInstance);
  }

  private async server(id: string): Promise<Server | undefined> {
    const response = await this.nova<{ server: Server }>('GET', `/servers/${id}`, { accept: [404] });
    return response.status === 404 ? undefined : response.body.server;
  }

  async getInstance(id: string): Promise<CloudInstance | undefined> {
    const server = await this.server(id);
    return server ? this.toInstance(server) : undefined;
  }

  // ---------------------------------------------------------------- actions

  /**
   * MIGRATE = cold migrate (to `target` from 2.56), LIVE_MIGRATE = `os-migrateLive` with
   * `block_migration: auto` (to `target`, checked by the scheduler, or its choice), EVICTION = delete.
   * Nova answers 202 and works on; a 409 (the server is busy, or locked) is retried, then refused.
   */
  async startAction(
    instance: CloudInstance,
    action: CloudAction['action'],
    target?: string,
  ): Promise<Pick<CloudAction, 'target' | 'driver'>> {
    try {
      if (action === 'EVICTION') {
        await this.nova('DELETE', `/servers/${instance.id}`, { accept: [404], retryConflict: true });
        return {};
      }
      const to = action === 'MIGRATE' && !atLeast(await this.microversion(), [2, 56]) ? undefined : target;
      const body =
        action === 'MIGRATE'
          ? { migrate: to ? { host: to } : null }
          : { 'os-migrateLive': { host: to ?? null, block_migration: 'auto' } };
      await this.nova('POST', `/servers/${instance.id}/action`, { body, retryConflict: true });
      return to ? { target: to } : {};
    } catch (error) {
      if (error instanceof OpenStackError && error.status === 409)
        throw new ConflictError(`Nova refused ${action} of server ${instance.id}: ${error.message}`, 'cloud_conflict');
      throw error;
    }
  }

  /**
   * One look at a running action. MIGRATE: VERIFY_RESIZE → confirm → ACTIVE on another host.
   * LIVE_MIGRATE: ACTIVE with no task on another host. EVICTION: the server is gone. A server in
   * ERROR, or back at rest on the host it left, failed: the reason is Nova's own fault message.
   */
  async pollAction(action: CloudAction): Promise<ActionProgress> {
    const server = await this.server(action.instance_id);
    // Gone: an eviction done, or a project that deleted its own server meanwhile (the host empties all the same).
    if (!server || server.status === 'DELETED' || server.status === 'SOFT_DELETED') return { status: 'DONE' };
    if (server.status === 'ERROR')
      return {
        status: 'FAILED',
        reason: `server in ERROR: ${server.fault?.message ?? (await this.lastFault(server.id))}`,
      };
    if (action.action === 'EVICTION') return { status: 'RUNNING' };
    const host = server['OS-EXT-SRV-ATTR:host'] ?? '';
    if (server.status === 'VERIFY_RESIZE' && action.action === 'MIGRATE') {
      if (!action.driver?.confirmed) {
        await this.nova('POST', `/servers/${server.id}/action`, { body: { confirmResize: null }, retryConflict: true });
      }
      return { status: 'RUNNING', driver: { ...action.driver, confirmed: true } };
    }
    if (server['OS-EXT-STS:task_state'] || !['ACTIVE', 'SHUTOFF', 'PAUSED'].includes(server.status))
      return { status: 'RUNNING' };
    if (host && host !== action.from) return { status: 'DONE', host };
    return { status: 'FAILED', reason: `server still on ${host || action.from}: ${await this.lastFault(server.id)}` };
  }

  /** Why the server's latest action failed, as Nova recorded it (instance action events, from 2.84 with details). */
  private async lastFault(serverId: string): Promise<string> {
    try {
      const { body } = await this.nova<{
        instanceActions: { request_id: string; action: string; message: string | null }[];
      }>('GET', `/servers/${serverId}/os-instance-actions`);
      const latest = body.instanceActions[0];
      if (!latest) return 'Nova recorded no action';
      const detail = await this.nova<{
        instanceAction: { events?: { event: string; result: string | null; details?: string | null }[] };
      }>('GET', `/servers/${serverId}/os-instance-actions/${latest.request_id}`);
      const failed = (detail.body.instanceAction.events ?? []).filter((e) => e.result === 'Error');
      const details = failed.map((e) => `${e.event}: ${e.details ?? 'error'}`).join('; ');
      return `Nova ${latest.action} ${latest.message ?? 'ended'}${details ? ` (${details})` : ''}`;
    } catch (error) {
      return `Nova gave no reason (${error instanceof Error ? error.message : String(error)})`;
    }
  }
}
