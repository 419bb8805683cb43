/**
 * Inventories for the benchmark: `hosts` computes, `instances` instances spread evenly over them,
 * owned by `projects` projects at random (seeded, so every run places the same way). Each host has
 * half again its initial load in free vCPUs, so the default workflow never needs SCALE_IN: it
 * empties the least loaded compute (PREPARE), then alternates START / PLANNED host by host.
 */

export interface Size {
  name: string;
  hosts: number;
  instances: number;
  projects: number;
  /** A parallel rollout (the `fleet` scenario) rather than the one-host-at-a-time sizes. */
  fleet?: Fleet;
}

/**
 * The fleet scenario (DESIGN §12): `empty` computes hold nothing, every other one
 * `instancesPerHost` instances of 2 vCPUs on 8 — at most half full, so with `maxParallel` up to half
 * the hosts emptied at once their instances fit on the others, and the rollout's only limit is its
 * width.
 * No project is subscribed (each gets the default action, LIVE_MIGRATE), every instance action
 * takes `simActionSeconds` (FENIX_SIM_ACTION_SECONDS), and the dummy plug-in `pluginSeconds` on
 * every compute.
 */
export interface Fleet {
  empty: number;
  instancesPerHost: number;
  maxParallel: number;
  pluginSeconds: number;
  simActionSeconds: number;
}

/** mulberry32: a tiny deterministic PRNG. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const pad = (value: number, width: number) => String(value).padStart(width, '0');

export const projectName = (index: number) => `project-${pad(index, 3)}`;

/** compute-1 … compute-N, zero-padded to N's width so that name order is number order. */
const computeName = (count: number) => (index: number) => `compute-${pad(index + 1, String(count).length)}`;

const computes = (count: number, vcpus: number): Inventory['hosts'] =>
  Array.from({ length: count }, (_, index) => ({ name: computeName(count)(index), type: 'compute' as const, vcpus }));

export const generateInventory = (size: Size, seed = 42): Inventory => {
  const random = prng(seed);
  const hostName = computeName(size.hosts);
  const instances: Inventory['instances'] = [];
  const load = new Array<number>(size.hosts).fill(0);
  for (let i = 0; i < size.instances; i++) {
    const host = i % size.hosts;
    // Every project owns at least one instance; the rest are drawn at random.
    const project = i < size.projects ? i : Math.floor(random() * size.projects);
    const vcpus = random() < 0.25 ? 2 : 1;
    load[host] = (load[host] ?? 0) + vcpus;
    instances.push({
      name: `vm-${pad(i + 1, String(size.instances).length)}`,
      project_id: projectName(project),
      host: hostName(host),
      vcpus,
    });
  }
  const capacity = Math.ceil(Math.max(...load) * 1.5) + 2;
  return { hosts: computes(size.hosts, capacity), instances };
};

const FLEET_HOST_VCPUS = 8;
const FLEET_INSTANCE_VCPUS = 2;

/** A fleet of `hosts` computes as {@link Fleet} says (the empty ones last). */
export const fleetSize = (hosts: number, fleet: Fleet, projects = 10): Size => ({
  name: 'fleet',
  hosts,
  instances: Math.max(0, hosts - fleet.empty) * fleet.instancesPerHost,
  projects: Math.max(1, Math.min(projects, Math.max(0, hosts - fleet.empty) * fleet.instancesPerHost)),
  fleet,
});

export const generateFleetInventory = (size: Size & { fleet: Fleet }): Inventory => {
  const hostName = computeName(size.hosts);
  const loaded = Math.max(0, size.hosts - size.fleet.empty);
  const instances: Inventory['instances'] = [];
  for (let host = 0; host < loaded; host++) {
    for (let k = 0; k < size.fleet.instancesPerHost; k++) {
      const i = instances.length;
      instances.push({
        name: `vm-${pad(i + 1, String(size.instances).length)}`,
        project_id: projectName(i % size.projects),
        host: hostName(host),
        vcpus: FLEET_INSTANCE_VCPUS,
      });
    }
  }
  if (size.fleet.instancesPerHost * FLEET_INSTANCE_VCPUS * 2 > FLEET_HOST_VCPUS)
    throw new Error(`fleet: ${size.fleet.instancesPerHost} instances per host would fill more than half a host`);
  return { hosts: computes(size.hosts, FLEET_HOST_VCPUS), instances };
};

export interface Inventory {
  hosts: { name: string; type: 'compute'; vcpus: number }[];
  instances: { name: string; project_id: string; host: string; vcpus: number }[];
}
