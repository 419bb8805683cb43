import * as z from 'zod';
import { instanceConstraintSchema, putInstanceConstraint } from '../core/constraints.js';
import type { Deps } from '../core/deps.js';
import { instanceId } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** PUT /v1/instance/{instance_id} — create or replace an instance's constraint (admin or the owner project). */
export const makeHandler = (deps: Deps) =>
  httpHandler(
    { access: 'any', params: z.object({ instance_id: instanceId }), body: instanceConstraintSchema },
    async ({ params, body, identity }) => {
      await putInstanceConstraint(params.instance_id, body, identity, deps);
      return json(200, {});
    },
  );

export const handler = makeHandler(defaultDeps());
