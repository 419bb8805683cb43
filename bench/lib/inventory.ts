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
}

export interface Inventory {
  hosts: { name: string; type: 'compute'; vcpus: number }[];
  instances: { name: string; project_id: string; host: string; vcpus: number }[];
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

export const generateInventory = (size: Size, seed = 42): Inventory => {
  const random = prng(seed);
  const width = String(size.hosts).length;
  const hostName = (index: number) => `compute-${pad(index + 1, width)}`;
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
  return {
    hosts: Array.from({ length: size.hosts }, (_, index) => ({
      name: hostName(index),
      type: 'compute' as const,
      vcpus: capacity,
    })),
    instances,
  };
};
