import { LocalKeys } from '../local/jwt.js';
import { allowOnly, operands, type ParsedArgs, UsageError } from './args.js';
import type { Io } from './context.js';
import { dataDirOf } from './http.js';

/**
 * `fenix token --admin | --project <id> [--ttl <seconds>]`: a bearer token for the local runtime,
 * signed with the keys under FENIX_DATA_DIR (default .fenix-data, relative to the repository root
 * like `npm start`; made there if missing, as
 * `npm start` would). Needs no server.
 */
export const token = async (args: ParsedArgs, io: Io): Promise<number> => {
  allowOnly(args, 'token', ['admin', 'project', 'ttl']);
  operands(args, 1, [], 'token');
  const { admin, project, ttl } = args.values;
  if (Boolean(admin) === Boolean(project))
    throw new UsageError('token needs exactly one of --admin and --project <project_id>');
  const ttlSeconds = ttl === undefined ? undefined : Number(ttl);
  if (ttlSeconds !== undefined && (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0))
    throw new UsageError('--ttl must be a whole number of seconds');
  const keys = LocalKeys.load(dataDirOf(io.env));
  const minted = await keys.issue({ ...(admin ? { admin: true } : { project }), ttlSeconds });
  if (args.values.json) io.stdout(`${JSON.stringify({ token: minted })}\n`);
  else io.stdout(`${minted}\n`);
  return 0;
};
