import type { CloudHost } from './model.js';
import type { HostType } from './states.js';

/**
 * Where a migrated instance goes: an enabled host of the same type with room, one already
 * maintained first (as Fenix does, so an instance moves once), then the most free vCPUs, then by
 * name. Undefined when nothing fits.
 */
export const pickTarget = (
  hosts: readonly CloudHost[],
  vcpus: number,
  type: HostType,
  exclude?: string,
): CloudHost | undefined =>
  hosts
    .filter(
      (host) => host.type === type && !host.disabled && host.name !== exclude && host.vcpus - host.used_vcpus >= vcpus,
    )
    .sort(
      (a, b) =>
        Number(b.maintained) - Number(a.maintained) ||
        b.vcpus - b.used_vcpus - (a.vcpus - a.used_vcpus) ||
        a.name.localeCompare(b.name),
    )[0];
