import * as z from 'zod';
import { getGroupConstraint } from '../core/constraints.js';
import type { Deps } from '../core/deps.js';
import { groupId } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** GET /v1/instance_group/{group_id} — the stored group constraint (admin or the owner project). */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'any', params: z.object({ group_id: groupId }) }, async ({ params, identity }) =>
    json(200, await getGroupConstraint(params.group_id, identity, deps)),
  );

export const handler = makeHandler(defaultDeps());
