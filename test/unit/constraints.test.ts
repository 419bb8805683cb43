import { describe, expect, it } from 'vitest';
import {
  groupConstraintSchema,
  instanceConstraintSchema,
  limitsPlacement,
  placementConflict,
} from '../../functions/core/constraints.js';
import { describeIssues } from '../../functions/core/schemas.js';

const ha = { group_id: 'g-ha', anti_affinity_group: true, max_instances_per_host: 1 };
const capped = { group_id: 'g-cap', anti_affinity_group: false, max_instances_per_host: 2 };
const free = { group_id: 'g-free', anti_affinity_group: false, max_instances_per_host: 0 };
const members = [
  { id: 'vm-1', host: 'c-1' },
  { id: 'vm-2', host: 'c-2' },
  { id: 'vm-3', host: 'c-2' },
];

describe('placementConflict', () => {
  it.each([
    ['no group', undefined, 'c-2', undefined],
    ['a group without rules', free, 'c-2', undefined],
    ['anti-affinity, an empty host', ha, 'c-3', undefined],
    [
      'anti-affinity, a host with a member',
      ha,
      'c-1',
      'instance group g-ha is anti-affine and host c-1 already has its member vm-1',
    ],
    ['a cap of 2, one member there', capped, 'c-1', undefined],
    [
      'a cap of 2, two members there',
      capped,
      'c-2',
      'instance group g-cap allows at most 2 members per host and host c-2 already has vm-2, vm-3',
    ],
  ] as const)('%s', (_, group, target, reason) => {
    expect(placementConflict({ instanceId: 'vm-9', group, members, target })).toBe(reason);
  });

  it('does not count the instance against itself, nor a member listed twice', () => {
    expect(placementConflict({ instanceId: 'vm-1', group: ha, members, target: 'c-1' })).toBeUndefined();
    const twice = [...members, { id: 'vm-2', host: 'c-2' }];
    expect(placementConflict({ instanceId: 'vm-1', group: capped, members: twice, target: 'c-2' })).toMatch(
      /already has vm-2, vm-3$/,
    );
    expect(placementConflict({ instanceId: 'vm-2', group: capped, members: twice, target: 'c-2' })).toBeUndefined();
  });

  it('takes a cap of 1 as anti-affinity', () => {
    const one = { ...free, max_instances_per_host: 1 };
    expect(placementConflict({ instanceId: 'vm-9', group: one, members, target: 'c-1' })).toMatch(
      /at most 1 member per host/,
    );
  });

  it('binds only the group of the same project, and only when it limits placement', () => {
    const group = {
      ...ha,
      project_id: 'p',
      group_name: '',
      max_impacted_members: 1,
      recovery_time: 0,
      resource_mitigation: false,
    };
    expect(limitsPlacement(group, 'p')).toBe(true);
    expect(limitsPlacement(group, 'q')).toBe(false);
    expect(limitsPlacement({ ...group, ...free }, 'p')).toBe(false);
    expect(limitsPlacement(undefined, 'p')).toBe(false);
  });
});

describe('constraint schemas', () => {
  it('fill the defaults', () => {
    expect(instanceConstraintSchema.parse({})).toEqual({
      group_id: null,
      max_interruption_time: null,
      migration_type: null,
      resource_mitigation: false,
      lead_time: null,
    });
    expect(groupConstraintSchema.parse({})).toEqual({
      group_name: '',
      anti_affinity_group: false,
      max_instances_per_host: 0,
      max_impacted_members: 1,
      recovery_time: 0,
      resource_mitigation: false,
    });
  });

  it.each([
    [{ lead_time: null, migration_type: null, group_id: null }, undefined],
    [{ migration_type: 'EVICTION' }, undefined],
    [{ instance_name: 'vm \u{1F4A9} 1' }, undefined],
    [{ instance_name: '\ud800' }, 'instance_name: instance_name must not hold control characters or broken Unicode'],
    [{ max_interruption_time: 1e9 }, 'max_interruption_time: max_interruption_time must be at most 86400 seconds'],
  ])('instance %j', (body, message) => {
    const result = instanceConstraintSchema.safeParse(body);
    expect(result.success ? undefined : describeIssues(result.error)).toBe(message);
  });
});
