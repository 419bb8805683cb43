import * as z from 'zod';
import { groupConstraintSchema, putGroupConstraint } from '../core/constraints.js';
import type { Deps } from '../core/deps.js';
import { groupId } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** PUT /v1/instance_group/{group_id} — create or replace an instance group's constraint (admin or the owner project). */
export const makeHandler = (deps: Deps) =>
  httpHandler(
    { access: 'any', params: z.object({ group_id: groupId }), body: groupConstraintSchema },
    async ({ params, body, identity }) => {
      await putGroupConstraint(params.group_id, body, identity, deps);
      return json(200, {});
    },
  );

export const handler = makeHandler(defaultDeps());
