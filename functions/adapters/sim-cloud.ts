import { randomUUID } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { mapLimit } from '../core/concurrency.js';
import {
  type ConstraintStore,
  type GroupConstraint,
  groupMembersPlaced,
  limitsPlacement,
  placementConflict,
  placementGroupOf,
} from '../core/constraints.js';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import type { CloudAction, CloudHost, CloudInstance } from '../core/model.js';
import { pickTarget } from '../core/placement.js';
import type { ActionProgress, CloudDriver } from '../core/ports.js';
import type { HostType } from '../core/states.js';
import { DynamoConstraintStore } from './dynamo/constraints.js';
import { batchWrite, deleteRequests, isConditionFailure, putRequests, queryAll } from './dynamo/helpers.js';

/**
 * The simulated cloud (DESIGN §6): hosts with vCPU capacity and instances placed on them, kept in
 * the same DynamoDB table so every Lambda (and the local sim API) sees one durable cloud.
 *   SIM#HOST / <name>        a host; `used_vcpus` is a counter kept with every placement change
 *   SIM#INSTANCE / <id>      an instance (gsi1: by host, gsi2: by project)
 *   SIM#LOCK / GROUP#<id>    a short lease on an instance group's placement, held while a member is
 *                            placed (see `placing`)
 * Placement keeps the stored instance constraints (DESIGN §12): a move or a creation that would put
 * two members of an anti-affinity group on one host, or more than the group's
 * `max_instances_per_host`, is refused with 409 `placement_constraint`; without a host named, one
 * that keeps them is chosen (409 `no_capacity` when none does).
 */
const HOST_PK = 'SIM#HOST';
/** The partition of the instance items (the constraint routes read it: their IAM policy names it). */
export const INSTANCE_PK = 'SIM#INSTANCE';
const LOCK_PK = 'SIM#LOCK';
/** How long a placement lease lasts if its holder dies (a placement takes a few table calls). */
const LEASE_SECONDS = 10;
/** How long a placement waits for another one of the same group before giving up (409). */
const LEASE_WAIT_MS = 5000;
const byHost = (host: string) => `SIMHOST#${host}`;
const byProject = (project: string) => `SIMPROJECT#${project}`;

/** The inventory file (DESIGN §6, contract). */
export const inventorySchema = z.strictObject({
  hosts: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        type: z.enum(['compute', 'controller']),
        vcpus: z.number().int().min(0).optional(),
      }),
    )
    .min(1),
  instances: z
    .array(
      z.strictObject({
        id: z.string().min(1).optional(),
        name: z.string().min(1),
        project_id: z.string().min(1),
        host: z.string().min(1),
        vcpus: z.number().int().min(1).optional(),
      }),
    )
    .default([]),
});

export type Inventory = z.infer<typeof inventorySchema>;

const toHost = (item: Record<string, unknown>): CloudHost => ({
  name: item.name as string,
  type: item.type as HostType,
  vcpus: item.vcpus as number,
  used_vcpus: item.used_vcpus as number,
  disabled: item.disabled as boolean,
  ...(typeof item.disabled_reason === 'string' ? { disabled_reason: item.disabled_reason } : {}),
  maintained: item.maintained as boolean,
});

const toInstance = (item: Record<string, unknown>): CloudInstance => ({
  id: item.id as string,
  name: item.name as string,
  project_id: item.project_id as string,
  host: item.host as string,
  vcpus: item.vcpus as number,
});

/** Why putting the instance being placed on `host` would break its group's rules; undefined when it would not. */
type Fits = (host: string) => string | undefined;

export interface SimCloudOptions {
  /**
   * How long an instance action takes, in seconds: 0 (default) finishes at once; more makes the
   * workflow poll, as it does a real cloud. The move itself happens when the action starts.
   */
  actionSeconds?: number;
}

export class SimCloud implements CloudDriver {
  /** The instance constraints, on the same table: what placement must keep. */
  private readonly constraints: ConstraintStore;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: SimCloudOptions = {},
  ) {
    this.constraints = DynamoConstraintStore(db, tableName);
  }

  /** Replaces the whole simulated cloud with `input` (validated: a bad inventory changes nothing). */
  async load(input: unknown): Promise<Inventory> {
    const parsed = inventorySchema.safeParse(input);
    if (!parsed.success)
      throw new ValidationError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const inventory = parsed.data;
    const hostNames = new Set(inventory.hosts.map((host) => host.name));
    const used = new Map<string, number>();
    for (const instance of inventory.instances) {
      if (!hostNames.has(instance.host))
        throw new ValidationError(`instance ${instance.name} is on unknown host ${instance.host}`);
      used.set(instance.host, (used.get(instance.host) ?? 0) + (instance.vcpus ?? 1));
    }
    const old = [
      ...(await this.queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': HOST_PK } })),
      ...(await this.queryAll({
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': INSTANCE_PK },
      })),
    ];
    await batchWrite(this.db, this.tableName, deleteRequests(old));
    await batchWrite(
      this.db,
      this.tableName,
      putRequests(
        inventory.hosts.map((host) => ({
          pk: HOST_PK,
          sk: host.name,
          name: host.name,
          type: host.type,
          vcpus: host.vcpus ?? 0,
          used_vcpus: used.get(host.name) ?? 0,
          disabled: false,
          maintained: false,
        })),
      ),
    );
    await batchWrite(
      this.db,
      this.tableName,
      putRequests(
        inventory.instances.map((instance) =>
          this.instanceItem({ ...instance, id: instance.id ?? randomUUID(), vcpus: instance.vcpus ?? 1 }),
        ),
      ),
    );
    return inventory;
  }

  private instanceItem(instance: CloudInstance): Record<string, unknown> {
    return {
      pk: INSTANCE_PK,
      sk: instance.id,
      gsi1pk: byHost(instance.host),
      gsi1sk: instance.id,
      gsi2pk: byProject(instance.project_id),
      gsi2sk: instance.id,
      ...instance,
    };
  }

  async listHosts(): Promise<CloudHost[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': HOST_PK },
    });
    return items.map(toHost);
  }

  async getHosts(names: string[]): Promise<(CloudHost | undefined)[]> {
    return mapLimit(names, 16, (name) => this.getHost(name));
  }

  async getHost(name: string): Promise<CloudHost | undefined> {
    const result = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: HOST_PK, sk: name }, ConsistentRead: true }),
    );
    return result.Item ? toHost(result.Item) : undefined;
  }

  async listInstancesOnHost(host: string): Promise<CloudInstance[]> {
    const items = await this.queryAll({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': byHost(host) },
    });
    return items.map(toInstance);
  }

  async listInstances(projectId?: string): Promise<CloudInstance[]> {
    const items = projectId
      ? await this.queryAll({
          IndexName: 'gsi2',
          KeyConditionExpression: 'gsi2pk = :pk',
          ExpressionAttributeValues: { ':pk': byProject(projectId) },
        })
      : await this.queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': INSTANCE_PK } });
    return items.map(toInstance);
  }

  async getInstance(id: string): Promise<CloudInstance | undefined> {
    const result = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: INSTANCE_PK, sk: id }, ConsistentRead: true }),
    );
    return result.Item ? toInstance(result.Item) : undefined;
  }

  async disableHost(name: string, reason: string): Promise<boolean> {
    return this.updateHost(name, 'SET disabled = :yes, disabled_reason = :reason', 'disabled = :no', {
      ':yes': true,
      ':no': false,
      ':reason': reason,
    });
  }

  async enableHost(name: string, reason: string): Promise<boolean> {
    // Enabled again by a Fenix session = maintained (the placement preference of §6).
    return this.updateHost(
      name,
      'SET disabled = :no, maintained = :yes REMOVE disabled_reason',
      'disabled = :yes AND disabled_reason = :reason',
      { ':yes': true, ':no': false, ':reason': reason },
    );
  }

  /** An operator's own disable or enable, whatever the host's state (tests). */
  async setDisabled(name: string, disabled: boolean, reason = 'operator'): Promise<void> {
    await (disabled
      ? this.updateHost(name, 'SET disabled = :yes, disabled_reason = :reason', undefined, {
          ':yes': true,
          ':reason': reason,
        })
      : this.updateHost(name, 'SET disabled = :no REMOVE disabled_reason', undefined, { ':no': false }));
  }

  /** One conditional update of a host item; false when the condition failed (the host exists). */
  private async updateHost(
    name: string,
    update: string,
    condition: string | undefined,
    values: Record<string, unknown>,
  ): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: HOST_PK, sk: name },
          UpdateExpression: update,
          ConditionExpression: `attribute_exists(pk)${condition ? ` AND ${condition}` : ''}`,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      if (!(await this.getHost(name))) throw new NotFoundError(`no host ${name}`);
      return false;
    }
  }

  /** Moves or deletes at once; `actionSeconds` later a poll reports it DONE. */
  async startAction(
    instance: CloudInstance,
    action: CloudAction['action'],
    target?: string,
  ): Promise<Pick<CloudAction, 'target' | 'driver'>> {
    const doneAt = Date.now() + (this.options.actionSeconds ?? 0) * 1000;
    if (action === 'EVICTION') {
      await this.deleteInstance(instance.id);
      return { driver: { done_at: doneAt } };
    }
    const moved = await this.moveInstance(instance.id, target);
    return { ...(target ? { target } : {}), driver: { done_at: doneAt, host: moved.host } };
  }

  async pollAction(action: CloudAction): Promise<ActionProgress> {
    if (Date.now() < Number(action.driver?.done_at ?? 0)) return { status: 'RUNNING' };
    const host = action.driver?.host;
    return typeof host === 'string' ? { status: 'DONE', host } : { status: 'DONE' };
  }

  /**
   * Places a new instance: on `host` when given (it must be enabled and have room), else anywhere
   * that fits. With `group_id` (a stored group of the same project), the group's placement rules
   * apply as for a move; the new instance becomes a member once its own constraint names the group.
   */
  async createInstance(input: {
    name: string;
    project_id: string;
    vcpus: number;
    host?: string;
    group_id?: string;
  }): Promise<CloudInstance> {
    const id = randomUUID();
    let group: GroupConstraint | undefined;
    if (input.group_id !== undefined) {
      const stored = await this.constraints.getGroup(input.group_id);
      if (stored?.project_id !== input.project_id)
        throw new NotFoundError(`no instance group ${input.group_id} in project ${input.project_id}`);
      if (limitsPlacement(stored, input.project_id)) group = stored;
    }
    return this.placing(group, id, async (fits) => {
      const host =
        input.host ??
        (await this.pickHost(
          input.vcpus,
          'compute',
          undefined,
          fits,
          `no enabled compute host has ${input.vcpus} free vCPUs`,
        ));
      const refused = fits(host);
      if (refused) throw new ConflictError(`no new instance on ${host}: ${refused}`, 'placement_constraint');
      await this.reserve(host, input.vcpus);
      const instance: CloudInstance = { id, name: input.name, project_id: input.project_id, host, vcpus: input.vcpus };
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: this.instanceItem(instance) }));
      return instance;
    });
  }

  async deleteInstance(id: string): Promise<void> {
    const instance = await this.getInstance(id);
    if (!instance) throw new NotFoundError(`no instance ${id}`);
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: INSTANCE_PK, sk: id },
          ConditionExpression: 'host = :host',
          ExpressionAttributeValues: { ':host': instance.host },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return this.deleteInstance(id); // moved meanwhile: retry with its new host
      throw error;
    }
    await this.release(instance.host, instance.vcpus);
  }

  /**
   * Moves an instance to `target`, or to the best enabled host of the same type with room: one
   * already maintained first (as Fenix does, so an instance moves once), then the most free vCPUs.
   * Either way the instance's group placement rules hold (see the class comment).
   */
  async moveInstance(id: string, target?: string): Promise<CloudInstance> {
    const instance = await this.getInstance(id);
    if (!instance) throw new NotFoundError(`no instance ${id}`);
    const group = await placementGroupOf(instance, this.constraints);
    return this.placing(group, id, (fits) => this.moveUnder(instance, target, fits));
  }

  private async moveUnder(instance: CloudInstance, target: string | undefined, fits: Fits): Promise<CloudInstance> {
    const { id } = instance;
    const to =
      target ??
      (await this.pickHost(
        instance.vcpus,
        (await this.getHost(instance.host))?.type ?? 'compute',
        instance.host,
        fits,
        `no enabled host has ${instance.vcpus} free vCPUs for instance ${id}`,
      ));
    if (to === instance.host) throw new ConflictError(`instance ${id} is already on ${to}`, 'same_host');
    const refused = fits(to);
    if (refused) throw new ConflictError(`instance ${id} may not move to ${to}: ${refused}`, 'placement_constraint');
    await this.reserve(to, instance.vcpus);
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: INSTANCE_PK, sk: id },
          UpdateExpression: 'SET host = :to, gsi1pk = :index',
          ConditionExpression: 'host = :from',
          ExpressionAttributeValues: { ':to': to, ':from': instance.host, ':index': byHost(to) },
        }),
      );
    } catch (error) {
      await this.release(to, instance.vcpus);
      if (isConditionFailure(error))
        throw new ConflictError(`instance ${id} moved or vanished meanwhile`, 'instance_changed');
      throw error;
    }
    await this.release(instance.host, instance.vcpus);
    return { ...instance, host: to };
  }

  /**
   * The best host for `vcpus` (see pickTarget) among those where the group's rules let the instance
   * go; 409 `no_capacity` naming the rule when only the rules stand in the way, `full` otherwise.
   */
  private async pickHost(
    vcpus: number,
    type: HostType,
    exclude: string | undefined,
    fits: Fits,
    full: string,
  ): Promise<string> {
    const hosts = await this.listHosts();
    const allowed = pickTarget(
      hosts.filter((host) => fits(host.name) === undefined),
      vcpus,
      type,
      exclude,
    );
    if (allowed) return allowed.name;
    const roomy = pickTarget(hosts, vcpus, type, exclude);
    throw new ConflictError(
      roomy ? `no host with room keeps the placement rules: ${fits(roomy.name)}` : full,
      'no_capacity',
    );
  }

  /**
   * Runs the placement of instance `instanceId`, a member of `group`, holding the group's lease (a
   * conditional put of a lock item that expires), so that two placements into one group cannot both
   * pass the check and land together; `work` gets the check, over the members as they are once the
   * lease is held. Without a group (or one without placement rules) no lease is taken and anything fits.
   */
  private async placing<T>(
    group: GroupConstraint | undefined,
    instanceId: string,
    work: (fits: Fits) => Promise<T>,
  ): Promise<T> {
    if (!group) return work(() => undefined);
    const key = { pk: LOCK_PK, sk: `GROUP#${group.group_id}` };
    const holder = randomUUID();
    const waitUntil = Date.now() + LEASE_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      const now = Math.floor(Date.now() / 1000);
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...key, holder, expires_at: now + LEASE_SECONDS },
            ConditionExpression: 'attribute_not_exists(pk) OR expires_at < :now',
            ExpressionAttributeValues: { ':now': now },
          }),
        );
        break;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        if (Date.now() > waitUntil)
          throw new ConflictError(`instance group ${group.group_id} is busy placing another member`, 'placement_busy');
        await new Promise((resolve) => setTimeout(resolve, Math.min(20 * 2 ** attempt, 200)));
      }
    }
    try {
      const members = await groupMembersPlaced(group, this.constraints, async (ids) =>
        (await mapLimit(ids, 16, (id) => this.getInstance(id))).map((instance) => instance?.host),
      );
      return await work((target) => placementConflict({ instanceId, group, members, target }));
    } finally {
      await this.db
        .send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: key,
            ConditionExpression: 'holder = :holder',
            ExpressionAttributeValues: { ':holder': holder },
          }),
        )
        .catch((error: unknown) => {
          if (!isConditionFailure(error)) throw error; // the lease expired and another holds it now
        });
    }
  }

  /**
   * Adds `vcpus` to a host's usage only if it is enabled and has room: the capacity check is the
   * write's condition (DynamoDB conditions cannot add, so the limit is computed from the host's
   * fixed size).
   */
  private async reserve(host: string, vcpus: number): Promise<void> {
    const size = (await this.getHost(host))?.vcpus ?? 0;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: HOST_PK, sk: host },
          UpdateExpression: 'ADD used_vcpus :v',
          ConditionExpression: 'attribute_exists(pk) AND disabled = :false AND used_vcpus <= :limit',
          ExpressionAttributeValues: { ':v': vcpus, ':false': false, ':limit': size - vcpus },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(`host ${host} is unknown, disabled or has no ${vcpus} free vCPUs`, 'no_capacity');
      }
      throw error;
    }
  }

  private async release(host: string, vcpus: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: HOST_PK, sk: host },
        UpdateExpression: 'ADD used_vcpus :v',
        ExpressionAttributeValues: { ':v': -vcpus },
      }),
    );
  }

  private queryAll(input: Omit<QueryCommandInput, 'TableName'>) {
    return queryAll(this.db, this.tableName, input);
  }
}
