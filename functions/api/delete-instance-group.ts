import * as z from 'zod';
import { deleteGroupConstraint } from '../core/constraints.js';
import type { Deps } from '../core/deps.js';
import { groupId } from '../core/schemas.js';
import { defaultDeps } from '../shared/deps.js';
import { httpHandler, json } from '../shared/http.js';

/** DELETE /v1/instance_group/{group_id} — remove a group's constraint; its members keep theirs (admin or the owner project). */
export const makeHandler = (deps: Deps) =>
  httpHandler({ access: 'any', params: z.object({ group_id: groupId }) }, async ({ params, identity }) => {
    await deleteGroupConstraint(params.group_id, identity, deps);
    return json(200, {});
  });

export const handler = makeHandler(defaultDeps());
