import * as z from 'zod';
import type { Deps } from './deps.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { groupId, instanceId, projectId } from './schemas.js';
import { INSTANCE_ACTIONS, type InstanceAction } from './states.js';

/**
 * Instance constraints (DESIGN §12; ETSI NFV FEAT03, fenix-inventory §2.5 and §6): what a VNFM tells
 * Fenix about its instances and their groups, stored apart from sessions and read by both workflows
 * (placement and budgets) and by the simulated cloud (placement).
 *
 * Defaults of the optional fields, filled in when stored (so GET answers the whole object):
 * - instance: `group_id` null (the instance is a group of its own), `instance_name` the cloud's
 *   name of the instance, `max_interruption_time` null (not stated; informational),
 *   `migration_type` null (the session policy's `default_action` applies), `resource_mitigation`
 *   false, `lead_time` null (the maintenance reply window applies).
 * - group: `group_name` "", `anti_affinity_group` false, `max_instances_per_host` 0 (no cap),
 *   `max_impacted_members` 1 (one member at a time: the safe choice, and Tacker's default),
 *   `recovery_time` 0 (the next member may be impacted as soon as the previous one's action is
 *   done), `resource_mitigation` false.
 * Times are whole seconds, 0 to MAX_CONSTRAINT_SECONDS.
 */

/** A day: no VNF needs more notice or recovery than that from one maintenance step. */
export const MAX_CONSTRAINT_SECONDS = 86_400;
/** Members per host or impacted at once: far above any group a VNF runs. */
const MAX_MEMBERS = 10_000;

export interface InstanceConstraint {
  instance_id: string;
  project_id: string;
  /** The group whose rules the instance keeps; null: a group of its own. */
  group_id: string | null;
  instance_name: string;
  /** Seconds of interruption the instance takes unnoticed; null when not stated. */
  max_interruption_time: number | null;
  /** What the engine does for it when its project does not answer; null: the session policy's `default_action`. */
  migration_type: InstanceAction | null;
  resource_mitigation: boolean;
  /** Seconds of notice between its event and its action; null: the maintenance reply window. */
  lead_time: number | null;
}

export interface GroupConstraint {
  group_id: string;
  project_id: string;
  group_name: string;
  /** Members must sit on different hosts. */
  anti_affinity_group: boolean;
  /** At most this many members on one host; 0 = no cap. */
  max_instances_per_host: number;
  /** At most this many members impacted at the same time (≥ 1). */
  max_impacted_members: number;
  /** Seconds a member stays impacted after its action is done. */
  recovery_time: number;
  resource_mitigation: boolean;
}

/**
 * Where constraints are kept (the table, beside sessions but in partitions of their own). Lists and
 * batches answer in the order asked, `undefined` where nothing is stored.
 */
export interface ConstraintStore {
  /** Creates or replaces. */
  putInstance(constraint: InstanceConstraint): Promise<void>;
  getInstance(instanceId: string): Promise<InstanceConstraint | undefined>;
  /** Removes it if it exists (idempotent). */
  deleteInstance(instanceId: string): Promise<void>;
  /** One batch read for many instances (ids may repeat); aligned with `instanceIds`. */
  getInstances(instanceIds: readonly string[]): Promise<(InstanceConstraint | undefined)[]>;
  putGroup(constraint: GroupConstraint): Promise<void>;
  getGroup(groupId: string): Promise<GroupConstraint | undefined>;
  deleteGroup(groupId: string): Promise<void>;
  getGroups(groupIds: readonly string[]): Promise<(GroupConstraint | undefined)[]>;
  /**
   * The instance constraints naming the group, of the group's own project only (another project's
   * instance naming the group is never its member); empty when no group constraint is stored.
   */
  listGroupInstances(groupId: string): Promise<InstanceConstraint[]>;
}

// ---------------------------------------------------------------- request bodies

const seconds = (field: string) =>
  z
    .number({ error: `${field} must be a whole number of seconds` })
    .int(`${field} must be a whole number of seconds`)
    .min(0, `${field} must not be negative`)
    .max(MAX_CONSTRAINT_SECONDS, `${field} must be at most ${MAX_CONSTRAINT_SECONDS} seconds`);

const count = (field: string, min: number) =>
  z
    .number({ error: `${field} must be a whole number` })
    .int(`${field} must be a whole number`)
    .min(min, `${field} must be at least ${min}`)
    .max(MAX_MEMBERS, `${field} must be at most ${MAX_MEMBERS}`);

const flag = (field: string) => z.boolean({ error: `${field} must be true or false` });

/** Free text shown to people: no control characters, no broken Unicode. */
const label = (field: string) =>
  z
    .string({ error: `${field} must be a string` })
    .max(255, `${field} must be at most 255 characters`)
    .refine((text) => !/[\p{Cc}\p{Cs}]/u.test(text), `${field} must not hold control characters or broken Unicode`);

/** `PUT /v1/instance/{instance_id}`: every field but the ids optional (defaults above). */
export const instanceConstraintSchema = z.strictObject({
  /** When given, the instance in the path. */
  instance_id: instanceId.optional(),
  /** When given, the caller's project; an admin must give it. */
  project_id: projectId.optional(),
  group_id: groupId.nullable().default(null),
  instance_name: label('instance_name').optional(),
  max_interruption_time: seconds('max_interruption_time').nullable().default(null),
  migration_type: z
    .enum(INSTANCE_ACTIONS, { error: `migration_type must be one of ${INSTANCE_ACTIONS.join(', ')}` })
    .nullable()
    .default(null),
  resource_mitigation: flag('resource_mitigation').default(false),
  lead_time: seconds('lead_time').nullable().default(null),
});
export type InstanceConstraintRequest = z.infer<typeof instanceConstraintSchema>;

/** `PUT /v1/instance_group/{group_id}`. */
export const groupConstraintSchema = z.strictObject({
  group_id: groupId.optional(),
  project_id: projectId.optional(),
  group_name: label('group_name').default(''),
  anti_affinity_group: flag('anti_affinity_group').default(false),
  max_instances_per_host: count('max_instances_per_host', 0).default(0),
  max_impacted_members: count('max_impacted_members', 1).default(1),
  recovery_time: seconds('recovery_time').default(0),
  resource_mitigation: flag('resource_mitigation').default(false),
});
export type GroupConstraintRequest = z.infer<typeof groupConstraintSchema>;

// ---------------------------------------------------------------- use cases

/** Who calls: an admin, or a token acting for one project (the HTTP edge's Identity fits). */
export interface Caller {
  admin: boolean;
  project?: string;
}

type ConstraintDeps = Pick<Deps, 'constraints' | 'cloud'>;

/** An admin sees every constraint; a project only its own (another project's is "not found": nothing leaks). */
const visibleTo = (caller: Caller, owner: { project_id: string } | undefined) =>
  owner !== undefined && (caller.admin || owner.project_id === caller.project);

/** The body's id, when given, must be the path's. */
const samePathId = (field: string, given: string | undefined, path: string) => {
  if (given !== undefined && given !== path)
    throw new ValidationError(`${field}: must be the id in the path (${path})`);
};

/**
 * The project a PUT stores the constraint for: a project token's own (the body may repeat it, not
 * name another); an admin must name it, since nothing else says whose it is.
 */
const ownerFor = (caller: Caller, given: string | undefined): string => {
  if (caller.admin) {
    if (given === undefined)
      throw new ValidationError('project_id: required with an admin token (whose constraint is it?)');
    return given;
  }
  if (!caller.project) throw new ValidationError('project_id: this token names no project');
  if (given !== undefined && given !== caller.project)
    throw new ValidationError(`project_id: must be the token's project (${caller.project})`);
  return caller.project;
};

/**
 * `PUT /v1/instance/{instance_id}`: creates or replaces the instance's constraint.
 * 1. The body's `instance_id` (if any) is the path's; the owner is the caller's project (or, for an
 *    admin, the body's `project_id`).
 * 2. A constraint stored for another project is not the caller's to see: 404.
 * 3. The cloud must know the instance as the owner's: 404 for a project token (no leak), a 400
 *    naming the real owner for an admin.
 * 4. Stored with the defaults filled; answered as stored.
 */
export const putInstanceConstraint = async (
  id: string,
  body: InstanceConstraintRequest,
  caller: Caller,
  deps: ConstraintDeps,
): Promise<InstanceConstraint> => {
  samePathId('instance_id', body.instance_id, id);
  const owner = ownerFor(caller, body.project_id);
  // One answer for "unknown", "another project's" and "stored for another project": nothing leaks.
  const notFound = new NotFoundError(`the cloud has no instance ${id} in project ${owner}`);
  const existing = await deps.constraints.getInstance(id);
  if (existing && !visibleTo(caller, existing)) throw notFound;
  const instance = await deps.cloud.getInstance(id);
  if (!instance || (instance.project_id !== owner && !caller.admin)) throw notFound;
  if (instance.project_id !== owner)
    throw new ValidationError(`project_id: instance ${id} belongs to project ${instance.project_id}, not ${owner}`);
  const constraint: InstanceConstraint = {
    instance_id: id,
    project_id: owner,
    group_id: body.group_id,
    instance_name: body.instance_name ?? instance.name,
    max_interruption_time: body.max_interruption_time,
    migration_type: body.migration_type,
    resource_mitigation: body.resource_mitigation,
    lead_time: body.lead_time,
  };
  await deps.constraints.putInstance(constraint);
  return constraint;
};

export const getInstanceConstraint = async (
  id: string,
  caller: Caller,
  deps: Pick<Deps, 'constraints'>,
): Promise<InstanceConstraint> => {
  const constraint = await deps.constraints.getInstance(id);
  if (!constraint || !visibleTo(caller, constraint)) throw new NotFoundError(`no constraint for instance ${id}`);
  return constraint;
};

/** Removes the instance's constraint (not the instance). */
export const deleteInstanceConstraint = async (id: string, caller: Caller, deps: Pick<Deps, 'constraints'>) => {
  await getInstanceConstraint(id, caller, deps);
  await deps.constraints.deleteInstance(id);
};

/**
 * `PUT /v1/instance_group/{group_id}`: creates or replaces the group's constraint. Another
 * project's group is 404 to a project token; an admin may not hand a group to another project
 * (its members are its project's instances): 409, delete it first.
 */
export const putGroupConstraint = async (
  id: string,
  body: GroupConstraintRequest,
  caller: Caller,
  deps: Pick<Deps, 'constraints'>,
): Promise<GroupConstraint> => {
  samePathId('group_id', body.group_id, id);
  const owner = ownerFor(caller, body.project_id);
  const existing = await deps.constraints.getGroup(id);
  if (existing && !visibleTo(caller, existing)) throw new NotFoundError(`no instance group ${id} in project ${owner}`);
  if (existing && existing.project_id !== owner)
    throw new ConflictError(
      `instance group ${id} belongs to project ${existing.project_id}; delete it before storing it for ${owner}`,
      'owner_mismatch',
    );
  const constraint: GroupConstraint = {
    group_id: id,
    project_id: owner,
    group_name: body.group_name,
    anti_affinity_group: body.anti_affinity_group,
    max_instances_per_host: body.max_instances_per_host,
    max_impacted_members: body.max_impacted_members,
    recovery_time: body.recovery_time,
    resource_mitigation: body.resource_mitigation,
  };
  await deps.constraints.putGroup(constraint);
  return constraint;
};

export const getGroupConstraint = async (
  id: string,
  caller: Caller,
  deps: Pick<Deps, 'constraints'>,
): Promise<GroupConstraint> => {
  const constraint = await deps.constraints.getGroup(id);
  if (!constraint || !visibleTo(caller, constraint)) throw new NotFoundError(`no instance group ${id}`);
  return constraint;
};

/** Removes the group's constraint; its members keep theirs (their `group_id` then names no rules). */
export const deleteGroupConstraint = async (id: string, caller: Caller, deps: Pick<Deps, 'constraints'>) => {
  await getGroupConstraint(id, caller, deps);
  await deps.constraints.deleteGroup(id);
};

// ---------------------------------------------------------------- placement

/** The placement rules of a group (a GroupConstraint fits). */
export type PlacementRules = Pick<GroupConstraint, 'group_id' | 'anti_affinity_group' | 'max_instances_per_host'>;

/** A member of a group and the host it is on (or is heading to: count an in-flight move at its target). */
export interface PlacedMember {
  id: string;
  host: string;
}

/**
 * Would putting `instanceId` on `target` break its group's placement rules? Answers why (one
 * sentence naming the group, the host and the members there) or undefined when the move keeps them.
 *
 * - `group`: the instance's group rules; undefined (no group, or no rules stored) allows anything.
 * - `members`: where the group's members are; the instance itself may be in the list (it is skipped,
 *   so a member already on `target` does not count against itself). Give a member with a move in
 *   flight at its target, so that two moves decided together do not land on one host.
 *
 * Rules: anti-affinity allows no other member on the target; `max_instances_per_host` N > 0 allows
 * at most N members there, the instance included. Pure: no I/O, the same answer for the same input.
 */
export const placementConflict = (input: {
  instanceId: string;
  group: PlacementRules | undefined;
  members: readonly PlacedMember[];
  target: string;
}): string | undefined => {
  const { instanceId: id, group, members, target } = input;
  if (!group) return undefined;
  const there = [...new Set(members.filter((m) => m.host === target && m.id !== id).map((m) => m.id))].sort();
  if (group.anti_affinity_group && there.length > 0)
    return `instance group ${group.group_id} is anti-affine and host ${target} already has its member ${there.join(', ')}`;
  const cap = group.max_instances_per_host;
  if (cap > 0 && there.length + 1 > cap)
    return `instance group ${group.group_id} allows at most ${cap} member${cap === 1 ? '' : 's'} per host and host ${target} already has ${there.join(', ')}`;
  return undefined;
};

/** Whether a stored group binds placement for `projectId`'s instances: its own, and with a rule that limits it. */
export const limitsPlacement = (group: GroupConstraint | undefined, projectId: string): group is GroupConstraint =>
  group !== undefined &&
  group.project_id === projectId &&
  (group.anti_affinity_group || group.max_instances_per_host > 0);

/**
 * The group whose placement rules bind `instance`: the group its constraint names, when both
 * records are the instance's project's (a stale or foreign record never binds anyone) and the group
 * limits placement. Undefined otherwise: the instance may go anywhere.
 */
export const placementGroupOf = async (
  instance: { id: string; project_id: string },
  constraints: ConstraintStore,
): Promise<GroupConstraint | undefined> => {
  const own = await constraints.getInstance(instance.id);
  if (!own?.group_id || own.project_id !== instance.project_id) return undefined;
  const group = await constraints.getGroup(own.group_id);
  return limitsPlacement(group, instance.project_id) ? group : undefined;
};

/**
 * Where the group's members are now, for `placementConflict`: `hostsOf` maps instance ids to their
 * hosts (undefined for an instance gone from the cloud, which is left out).
 */
export const groupMembersPlaced = async (
  group: GroupConstraint,
  constraints: ConstraintStore,
  hostsOf: (ids: string[]) => Promise<(string | undefined)[]>,
): Promise<PlacedMember[]> => {
  const ids = (await constraints.listGroupInstances(group.group_id)).map((member) => member.instance_id);
  const hosts = await hostsOf(ids);
  return ids.flatMap((id, i) => {
    const host = hosts[i];
    return host === undefined ? [] : [{ id, host }];
  });
};
