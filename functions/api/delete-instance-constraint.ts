import * as z from 'zod';
import { deleteInstanceConstraint } from '../core/constraints.js';
import type { Deps } from '../core/deps.js';
import { instanceId } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** DELETE /v1/instance/{instance_id} — remove an instance's constraint (admin or the owner project). */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'any', params: z.object({ instance_id: instanceId }) }, async ({ params, identity }) => {
    await deleteInstanceConstraint(params.instance_id, identity, deps);
    return json(200, {});
  });

export const handler = makeHandler(defaultDeps());
