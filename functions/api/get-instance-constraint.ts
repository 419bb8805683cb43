import * as z from 'zod';
import { getInstanceConstraint } from '../core/constraints.js';
import type { Deps } from '../core/deps.js';
import { instanceId } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** GET /v1/instance/{instance_id} — the stored constraint (admin or the owner project). */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'any', params: z.object({ instance_id: instanceId }) }, async ({ params, identity }) =>
    json(200, await getInstanceConstraint(params.instance_id, identity, deps)),
  );

export const handler = makeHandler(defaultDeps());
